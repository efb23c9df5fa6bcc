"""Response headers and CSRF for the web workspace.

Every response gets a strict Content-Security-Policy (scripts only from our own static
files, no plugins, no framing, no <base>, forms only to us) plus nosniff, no referrer and
no caching of pages (they show personal data). A route may set its own, stricter policy
(the sandboxed raw page does); the middleware then leaves it alone.

Every POST/PUT/PATCH/DELETE must carry the CSRF token of the signed-in session (form field
`csrf_token` or header `X-CSRF-Token`); before sign-in, the login form's token is a random
value also set as a cookie (double submit). Anything else is refused with 403.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from greywatch.web import deps
from greywatch.web.auth import LOGIN_CSRF_COOKIE

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)

# The stored page shown in a sandboxed frame: nothing loads (no scripts, fonts, frames,
# network), inline styles and data: images only so it still looks like itself; only our own
# lead page may frame it; `sandbox` also applies when it is opened on its own.
RAW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox"
)

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

_BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


class SecurityHeaders:
    """ASGI middleware adding the security headers to every HTTP response (errors and static
    files included), without overriding a policy a route set for itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}
                extra: list[tuple[bytes, bytes]] = [h for h in _BASE_HEADERS if h[0] not in have]
                if b"content-security-policy" not in have:
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                if b"x-frame-options" not in have:
                    extra.append((b"x-frame-options", b"DENY"))
                if not static and b"cache-control" not in have:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _submitted_token(request: Request) -> str:
    """The CSRF token a request carries: header first, else the form field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value: Any = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: refuse (403) a state-changing request without the right token.

    Signed in, the token is the session's; signed out (the login form), it is the value of
    the login CSRF cookie, which a cross-site page can neither read nor set.
    """
    if request.method not in UNSAFE_METHODS:
        return
    signed = await run_in_threadpool(deps.signed_in, request)
    expected = signed.csrf_token if signed else request.cookies.get(LOGIN_CSRF_COOKIE, "")
    given = await _submitted_token(request)
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise deps.WebError(403, "请求缺少有效的 CSRF 令牌，请刷新页面后重试。")
