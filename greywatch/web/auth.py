"""Passwords, session tokens and sign-in for the web workspace.

Passwords are hashed with argon2id (argon2-cffi's defaults). A signed-in browser holds a
random token in an HttpOnly cookie; the database keeps only the token's SHA-256, so a leaked
database row cannot be replayed as a cookie and logging out (deleting the row) ends it.
Failed sign-ins are rate-limited per name and per address from the `login_attempts` table.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from pipelines.errors import InputError
from storage import users

# Cookie names: the signed-in session, and the anonymous CSRF token of the login form.
SESSION_COOKIE = "gw_session"
LOGIN_CSRF_COOKIE = "gw_login_csrf"

# A working day and then some: analysts sign in each morning; a stolen cookie dies by night.
SESSION_LIFETIME = timedelta(hours=12)

# A session unused this long ends (a browser left open at lunch on a shared desk), and the
# time of use is written at most this often, so reading pages seldom writes.
SESSION_IDLE = timedelta(hours=2)
SESSION_TOUCH = timedelta(minutes=5)

# Five wrong passwords per name or per address in 15 minutes, then 429 until the window
# has passed: slow enough to stop guessing, short enough not to lock a typo-prone user out.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)

# Attempts are kept this long (a day of history for whoever looks at them), then purged.
ATTEMPT_RETENTION = timedelta(days=1)

# The shortest password `greywatch users add` accepts.
PASSWORD_MIN = 10

RATE_LIMITED_MESSAGE = "登录失败次数过多，请 15 分钟后再试。"
BAD_LOGIN_MESSAGE = "用户名或密码错误。"

_hasher = PasswordHasher()


class RateLimited(Exception):
    """Too many failed sign-ins for this name or address: answer 429."""


@dataclass(frozen=True)
class NewSession:
    """A session just opened: the cookie value (shown to the browser once) and its user."""

    token: str
    signed_in: users.SignedIn


def hash_password(password: str) -> str:
    """An argon2id hash of `password` (salted; parameters are stored in the hash)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches the stored hash (False for a malformed hash)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash to verify against for unknown names, so they take as long as known ones."""
    return _hasher.hash(secrets.token_urlsafe(16))


def check_password(password: str) -> str:
    """`password` if it is long enough to set, else InputError."""
    if len(password) < PASSWORD_MIN:
        raise InputError(
            f"password: shorter than {PASSWORD_MIN} characters",
            hint="choose a longer one (a few words make a good password)",
        )
    return password


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe) for a cookie or a CSRF field."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign_in(session: Session, name: str, password: str, address: str) -> NewSession | None:
    """Check a name and password and open a session; None when they are wrong.

    Raises RateLimited (recording nothing) while the name or address has too many recent
    failures, even if the password is right. Every attempt is recorded.
    """
    if users.recent_failures(session, name, address, FAILURE_WINDOW) >= MAX_FAILURES:
        raise RateLimited(name)
    user = users.find_user(session, name)
    ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    ok = ok and user is not None and not user.disabled
    users.record_attempt(session, name, address, ok)
    if not ok or user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    users.note_login(session, user.id)
    users.purge_expired_sessions(session)
    users.purge_attempts(session, ATTEMPT_RETENTION)
    token, csrf = new_token(), new_token()
    expires = users.open_session(session, user.id, token_digest(token), csrf, SESSION_LIFETIME)
    signed = users.SignedIn(user.id, user.name, user.role, csrf, expires, expires)
    return NewSession(token, signed)


def sign_out(session: Session, token: str) -> bool:
    """End the session this cookie token stands for; True if it was live."""
    return users.end_session(session, token_digest(token))
