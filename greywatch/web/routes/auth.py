"""Sign in and out: /login (form, rate-limited) and /logout (POST, ends the session row)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from greywatch.web import auth, deps

router = APIRouter()


def _login_page(
    request: Request, next_url: str, message: str = "", status: int = 200, name: str = ""
) -> Response:
    """The sign-in form; gives the browser a login CSRF token cookie if it has none."""
    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or auth.new_token()
    context = {"next": next_url, "message": message, "name": name, "csrf_token": token}
    response = deps.render(request, "login.html", context, status_code=status)
    if request.cookies.get(auth.LOGIN_CSRF_COOKIE) != token:
        response.set_cookie(
            auth.LOGIN_CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=deps.cookie_secure(request),
            path="/login",
        )
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in form (straight on to `next` when already signed in)."""
    target = deps.safe_next(next, "/")
    if deps.signed_in(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _login_page(request, target)


@router.post("/login")
def login(
    request: Request,
    session: Annotated[Session, Depends(deps.get_session)],
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the name and password: 303 to `next` with a session cookie, else the form again
    (401), or 429 after too many failures."""
    target = deps.safe_next(next, "/")
    address = deps.client_address(request)
    try:
        opened = auth.sign_in(session, name, password, address)
    except auth.RateLimited:
        return _login_page(request, target, auth.RATE_LIMITED_MESSAGE, 429, name)
    if opened is None:
        session.commit()  # the failed attempt counts towards the limit
        return _login_page(request, target, auth.BAD_LOGIN_MESSAGE, 401, name)
    user = deps.WebUser(opened.signed_in.user_id, opened.signed_in.name, opened.signed_in.role, "")
    deps.audit(session, user, "login", "", {}, address)
    session.commit()
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE,
        opened.token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=deps.cookie_secure(request),
        path="/",
    )
    response.delete_cookie(
        auth.LOGIN_CSRF_COOKIE,
        path="/login",
        secure=deps.cookie_secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: Annotated[Session, Depends(deps.get_session)],
    user: Annotated[deps.WebUser, Depends(deps.current_user)],
) -> Response:
    """End this browser's session (its row is deleted: the cookie is dead everywhere)."""
    auth.sign_out(session, request.cookies.get(auth.SESSION_COOKIE, ""))
    deps.audit(session, user, "logout", "", {}, deps.client_address(request))
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        auth.SESSION_COOKIE,
        path="/",
        secure=deps.cookie_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response
