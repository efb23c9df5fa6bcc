"""What every route of the web workspace shares: the database session, the signed-in user,
role checks, page rendering, error pages and the audit log.

Routes depend on these (`Depends(get_session)`, `Depends(require_role("analyst"))`) and call
`render` for pages; nothing here knows about a particular page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from greywatch.console import terminal_safe
from greywatch.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_IDLE,
    SESSION_TOUCH,
    token_digest,
)
from pipelines import display
from pipelines.lexicon import DEFAULT_PATH as LEXICON_PATH
from pipelines.settings import settings
from storage import audit as audit_log
from storage import users
from storage.db import session_scope
from storage.exports import (
    KIND_LABELS,
    REVIEW_LABELS,
    VERDICT_LABELS,
    category_labels,
    contact_text,
)
from storage.models import utcnow

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

# Who may do what: each role may do everything the roles before it may.
ROLES = ("viewer", "analyst", "admin")
ROLE_LABELS = {"viewer": "查看者", "analyst": "分析员", "admin": "管理员"}

# The navigation bar: (path, label), in order.
NAV = (
    ("/", "首页"),
    ("/leads", "线索"),
    ("/review", "审核"),
    ("/businesses", "企业"),
    ("/actors", "关联人"),
    ("/templates", "模板"),
    ("/sources", "来源"),
    ("/packs", "举报材料"),
    ("/exports", "导出记录"),
)

# Schemes a scraped URL may have to become a live link; anything else is shown as text.
LINK_SCHEMES = ("http", "https")

_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class WebUser:
    """The signed-in user of a request, with the CSRF token their forms must carry."""

    id: int
    name: str
    role: str
    csrf_token: str

    def can(self, role: str) -> bool:
        """True when this user's role is `role` or above (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


class WebError(Exception):
    """An error page: HTTP status, a message for people (Chinese), optional hint line."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.hint = status, message, hint


class LoginRequired(Exception):
    """Not signed in: pages redirect to /login?next=…, other requests get 401."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


# --- database ------------------------------------------------------------------------------


def engine_of(request: Request) -> Engine:
    """The engine of the app serving `request` (set by create_app)."""
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    """A session for the request: committed when the route returns, rolled back on error.

    Routes that redirect after writing call `session.commit()` themselves, so the next
    request sees the change. GETs use a read session (SQLite: no write lock).
    """
    with session_scope(engine_of(request), write=request.method in _UNSAFE_METHODS) as session:
        yield session


# --- who is signed in ----------------------------------------------------------------------


def signed_in(request: Request) -> users.SignedIn | None:
    """The live session of the request's cookie, looked up once per request (None if none)."""
    cached = getattr(request.state, "gw_signed_in", False)
    if cached is not False:
        return cached
    token = request.cookies.get(SESSION_COOKIE, "")
    found = None
    if token:
        digest = token_digest(token)
        with session_scope(engine_of(request), write=False) as session:
            found = users.find_session(session, digest, idle=SESSION_IDLE)
        if found is not None and utcnow() - found.last_seen_at >= SESSION_TOUCH:
            with session_scope(engine_of(request)) as session:
                users.touch_session(session, digest)
    request.state.gw_signed_in = found
    return found


def _user_of(found: users.SignedIn) -> WebUser:
    return WebUser(found.user_id, found.name, found.role, found.csrf_token)


def optional_user(request: Request) -> WebUser | None:
    """The signed-in user, or None (pages that also work signed out, like /login)."""
    found = signed_in(request)
    return _user_of(found) if found else None


def current_user(request: Request) -> WebUser:
    """The signed-in user; LoginRequired (→ redirect or 401) when there is none."""
    found = signed_in(request)
    if found is None:
        raise LoginRequired(local_url(request))
    return _user_of(found)


def require_role(role: str) -> Callable[..., WebUser]:
    """A dependency: the signed-in user if their role is `role` or above, else 403."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: use one of {ROLES}")

    def dependency(user: Annotated[WebUser, Depends(current_user)]) -> WebUser:
        if not user.can(role):
            raise WebError(
                403,
                f"权限不足：此操作需要「{ROLE_LABELS[role]}」或更高角色，"
                f"你的角色是「{ROLE_LABELS.get(user.role, user.role)}」。",
            )
        return user

    return dependency


def cookie_secure(request: Request) -> bool:
    """Whether cookies get the Secure flag: as create_app was told, else when served over
    HTTPS."""
    forced = getattr(request.app.state, "secure_cookies", None)
    return forced if forced is not None else request.url.scheme == "https"


def client_address(request: Request) -> str:
    """The client's address as the server sees it ("" when unknown)."""
    return request.client.host if request.client else ""


# --- URLs ----------------------------------------------------------------------------------


def local_url(request: Request) -> str:
    """The request's path and query, for `next=` links back to it."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: str | None, default: str = "/leads") -> str:
    """`value` if it is a path on this site (not //host or a scheme), else `default`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def page_url(request: Request, **changes: Any) -> str:
    """This page's URL with query parameters replaced (None removes one; a list repeats it)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    for key, value in changes.items():
        if value is None or value == "":
            continue
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(key, str(v)) for v in values]
    query = urlencode(pairs)
    return request.url.path + (f"?{query}" if query else "")


def link_href(url: str | None) -> str:
    """A scraped URL fit for an href: http(s) only, else "" (javascript:, data: stay text)."""
    if not url:
        return ""
    text = terminal_safe(str(url)).strip()
    scheme = urlsplit(text).scheme.lower() if ":" in text else ""
    return text if scheme in LINK_SCHEMES else ""


# --- pages ---------------------------------------------------------------------------------


def clean(value: Any) -> str:
    """A scraped value as text without control characters (autoescape does the rest)."""
    return "" if value is None else terminal_safe(str(value))


# Category key -> Chinese name, per lexicon file: pages show dozens of labels per request.
_LABELS: dict[str, dict[str, str]] = {}


def category_label(key: str) -> str:
    """The Chinese name of a category key (the key itself if the lexicon has none), from a
    label map read once per lexicon file (a broken lexicon is not cached: it is read again)."""
    path = str(settings().lexicon or LEXICON_PATH)
    labels = _LABELS.get(path)
    if labels is None:
        labels = category_labels()
        if labels:
            _LABELS[path] = labels
    return labels.get(key, key)


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment: autoescape on for every template, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters |= {
        "clean": clean,
        "beijing": display.beijing,
        "beijing_bare": display.beijing_bare,
        "published": display.published,
        "contact": contact_text,
        "category": category_label,
        "review_label": lambda s: REVIEW_LABELS.get(s, s),
        "kind_label": lambda s: KIND_LABELS.get(s, s),
        "verdict_label": lambda s: VERDICT_LABELS.get(s, s),
        "role_label": lambda s: ROLE_LABELS.get(s, s),
        "href": link_href,
        "json_text": lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, default=str),
    }
    env.globals |= {"ROLE_LABELS": ROLE_LABELS, "REVIEW_LABELS": REVIEW_LABELS}
    return env


def render(
    request: Request, template_name: str, context: Mapping[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a page with the layout's context (request, user, csrf_token, nav) added."""
    user = optional_user(request)
    base = {
        "request": request,
        "user": user,
        "csrf_token": user.csrf_token if user else request.cookies.get(LOGIN_CSRF_COOKIE, ""),
        "nav": NAV,
        "current_path": request.url.path,
        "page_url": lambda **changes: page_url(request, **changes),
    }
    html = environment().get_template(template_name).render({**base, **context})
    return HTMLResponse(html, status_code=status_code)


def bad_request(message: str, hint: str | None = None) -> NoReturn:
    """Stop the route with a 400 page showing `message` (the CLI's words for a bad filter)."""
    raise WebError(400, message, hint)


def not_found(message: str = "找不到这个页面。") -> NoReturn:
    """Stop the route with a 404 page."""
    raise WebError(404, message)


# --- audit ---------------------------------------------------------------------------------


def audit(
    session: Session,
    user: WebUser,
    action: str,
    target: str,
    detail: dict[str, Any],
    address: str,
) -> None:
    """Record what `user` did in the audit log, in the caller's transaction."""
    audit_log.record(session, user.name, action, target, detail, address)


def login_url(next_url: str) -> str:
    """/login?next=… for a page that needs a signed-in user."""
    return "/login?" + urlencode({"next": safe_next(next_url, "/")})
