"""The web workspace as a FastAPI app: routers found in `greywatch.web.routes`, static files,
security headers on every response, CSRF on every state-changing request, error pages.

`create_app(db_url)` is all a server (uvicorn, `greywatch web`) or a test needs.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from greywatch.errors import mask_userinfo
from greywatch.web import deps, routes
from greywatch.web.security import SecurityHeaders, csrf_protect
from pipelines.errors import GreywatchError, StorageError
from storage.db import check_schema, get_engine

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Status → what the error page says when the route gave no message of its own.
_DEFAULT_MESSAGES = {
    400: "请求有误。",
    401: "请先登录。",
    403: "没有权限执行此操作。",
    404: "找不到这个页面。",
    405: "不支持这种请求方式。",
    422: "请求参数有误。",
    429: "请求过于频繁，请稍后再试。",
    503: "数据库暂时不可用，请稍后再试。",
}


def _wants_html(request: Request) -> bool:
    """Whether the client reads pages (a browser) rather than data (a script)."""
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return True
    if "application/json" in accept:
        return False
    return request.method in ("GET", "HEAD")


def error_response(
    request: Request, status: int, message: str | None = None, hint: str | None = None
) -> Response:
    """The error page (or a JSON body for scripts) for `status`."""
    text = message or _DEFAULT_MESSAGES.get(status, "出错了。")
    if not _wants_html(request):
        body = {"error": text} | ({"hint": hint} if hint else {})
        return JSONResponse(body, status_code=status)
    context = {"status": status, "message": text, "hint": hint or ""}
    return deps.render(request, "error.html", context, status_code=status)


def _install_error_pages(app: FastAPI) -> None:
    async def web_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, deps.WebError)
        return error_response(request, exc.status, exc.message, exc.hint)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, deps.LoginRequired)
        if _wants_html(request) and request.method in ("GET", "HEAD"):
            return RedirectResponse(deps.login_url(exc.next_url), status_code=303)
        return error_response(request, 401)

    async def greywatch_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GreywatchError)
        status = 503 if isinstance(exc, StorageError) else 400
        return error_response(request, status, mask_userinfo(str(exc)), exc.hint)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
        response = error_response(request, exc.status_code, detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = [".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()]
        named = "、".join(f for f in fields if f)
        return error_response(request, 400, f"请求参数有误：{named}" if named else None)

    app.add_exception_handler(deps.WebError, web_error)
    app.add_exception_handler(deps.LoginRequired, login_required)
    app.add_exception_handler(GreywatchError, greywatch_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _include_routes(app: FastAPI) -> None:
    """Include every `greywatch.web.routes` module that has a `router`, by module name."""
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)


def create_app(db_url: str, *, secure_cookies: bool | None = None) -> FastAPI:
    """The web workspace over the database `db_url` (its schema checked, made if empty).

    `secure_cookies`: True always marks cookies Secure, False never, None when the request
    came over HTTPS (behind a proxy, run uvicorn with --proxy-headers).
    """
    engine = get_engine(db_url, create=False)
    check_schema(engine)
    app = FastAPI(
        title="greywatch",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.engine = engine
    app.state.secure_cookies = secure_cookies
    app.add_middleware(SecurityHeaders)
    _install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _include_routes(app)
    return app
