"""Accounts of the web workspace: users, their signed-in sessions and sign-in attempts.

Pure storage: the caller hashes passwords and tokens (greywatch.web.auth) and passes the
hashes in; nothing here sees a password or a cookie value. Names are unique and compared as
typed (after trimming); a disabled user keeps their row, so the audit log still names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pipelines.errors import InputError
from storage.models import USER_ROLES, LoginAttempt, User, WebSession, utcnow
from storage.repo import utc

# Longest user name (the column holds 100; names show in the audit log and the nav bar).
NAME_MAX = 100


@dataclass(frozen=True)
class UserInfo:
    """A user as listings show them (never the password hash)."""

    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class SignedIn:
    """A live web session: who it belongs to and the CSRF token bound to it."""

    user_id: int
    name: str
    role: str
    csrf_token: str
    expires_at: datetime
    last_seen_at: datetime


def check_role(role: str) -> str:
    """`role` if it is viewer, analyst or admin (case forgiven), else InputError."""
    value = role.strip().lower()
    if value not in USER_ROLES:
        raise InputError(
            f"--role: unknown role {role!r}", hint=f"use one of: {', '.join(USER_ROLES)}"
        )
    return value


def check_name(name: str) -> str:
    """A user name trimmed, or InputError when empty, too long or holding control characters."""
    value = name.strip()
    if not value:
        raise InputError("user name: empty", hint="e.g. greywatch users add wang --role analyst")
    if len(value) > NAME_MAX:
        raise InputError(f"user name: longer than {NAME_MAX} characters")
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise InputError("user name: contains control characters")
    return value


def _info(user: User) -> UserInfo:
    return UserInfo(
        user.id,
        user.name,
        user.role,
        user.disabled,
        utc(user.created_at),
        None if user.last_login_at is None else utc(user.last_login_at),
    )


def find_user(session: Session, name: str) -> User | None:
    """The user called `name` (trimmed), or None."""
    return session.scalars(select(User).where(User.name == name.strip())).first()


def _existing(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise InputError(
            f"no user named {name.strip()!r}", hint="`greywatch users list` lists them"
        )
    return user


def add_user(session: Session, name: str, role: str, password_hash: str) -> UserInfo:
    """Create a user, or InputError if the name is taken or the role unknown."""
    name, role = check_name(name), check_role(role)
    if find_user(session, name) is not None:
        raise InputError(
            f"a user named {name!r} exists already",
            hint="`greywatch users passwd NAME` sets a new password",
        )
    user = User(name=name, role=role, password_hash=password_hash)
    session.add(user)
    session.flush()
    return _info(user)


def list_users(session: Session) -> list[UserInfo]:
    """Every user, by name."""
    return [_info(u) for u in session.scalars(select(User).order_by(User.name))]


def count_users(session: Session, *, enabled_only: bool = True) -> int:
    """How many users can sign in (or exist, with `enabled_only=False`)."""
    stmt = select(func.count()).select_from(User)
    if enabled_only:
        stmt = stmt.where(User.disabled.is_(False))
    return session.scalar(stmt) or 0


def set_disabled(session: Session, name: str, disabled: bool = True) -> UserInfo:
    """Disable (or enable) a user; disabling also ends every session of theirs."""
    user = _existing(session, name)
    user.disabled = disabled
    if disabled:
        end_user_sessions(session, user.id)
    session.flush()
    return _info(user)


def set_password_hash(session: Session, name: str, password_hash: str) -> UserInfo:
    """Replace a user's password hash and end their sessions (a new password signs out)."""
    user = _existing(session, name)
    user.password_hash = password_hash
    end_user_sessions(session, user.id)
    session.flush()
    return _info(user)


def note_login(session: Session, user_id: int) -> None:
    """Record a successful sign-in time on the user."""
    user = session.get(User, user_id)
    if user is not None:
        user.last_login_at = utcnow()


# --- sessions ------------------------------------------------------------------------------


def open_session(
    session: Session, user_id: int, token_hash: str, csrf_token: str, lifetime: timedelta
) -> datetime:
    """Store a new web session under the SHA-256 of its cookie token; return its expiry."""
    now = utcnow()
    expires = now + lifetime
    session.add(
        WebSession(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return expires


def find_session(
    session: Session, token_hash: str, idle: timedelta | None = None
) -> SignedIn | None:
    """The live session stored under `token_hash`: None when unknown, expired, unused for
    longer than `idle`, or its user is disabled (a dead row is deleted on the way)."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    web, user = row
    now = utcnow()
    if utc(web.expires_at) <= now or (idle is not None and utc(web.last_seen_at) + idle <= now):
        session.delete(web)
        session.flush()
        return None
    if user.disabled:
        return None
    return SignedIn(
        user.id, user.name, user.role, web.csrf_token, utc(web.expires_at), utc(web.last_seen_at)
    )


def touch_session(session: Session, token_hash: str) -> None:
    """Record that the session was used now (it stays alive while it is used)."""
    web = session.get(WebSession, token_hash)
    if web is not None:
        web.last_seen_at = utcnow()


def end_session(session: Session, token_hash: str) -> bool:
    """Delete one session (logout); True if it existed."""
    result = session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))
    return bool(result.rowcount)


def end_user_sessions(session: Session, user_id: int) -> int:
    """Delete every session of a user; return how many there were."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(result.rowcount or 0)


def purge_expired_sessions(session: Session) -> int:
    """Delete sessions past their expiry; return how many."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= utcnow()))
    return int(result.rowcount or 0)


# --- sign-in attempts ----------------------------------------------------------------------


def record_attempt(session: Session, name: str, address: str, ok: bool) -> None:
    """Remember one sign-in attempt (name as typed, cut to the column; client address)."""
    session.add(LoginAttempt(name=name.strip()[:NAME_MAX], address=address[:100], ok=ok))
    session.flush()


def recent_failures(session: Session, name: str, address: str, window: timedelta) -> int:
    """Failed sign-ins within `window` for this name or from this address, whichever is more."""
    since = utcnow() - window
    counts = []
    for cond in (LoginAttempt.name == name.strip()[:NAME_MAX], LoginAttempt.address == address):
        counts.append(
            session.scalar(
                select(func.count())
                .select_from(LoginAttempt)
                .where(cond, LoginAttempt.ok.is_(False), LoginAttempt.at >= since)
            )
            or 0
        )
    return max(counts)


def purge_attempts(session: Session, older_than: timedelta) -> int:
    """Delete sign-in attempts older than `older_than` (they only matter for rate limits)."""
    cutoff = utcnow() - older_than
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff))
    return int(result.rowcount or 0)
