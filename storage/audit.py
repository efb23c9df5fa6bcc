"""The audit log: who did what, when, from where — reviews, exports, packs, runs, sign-ins.

Written by every interface (web and CLI) through `record`, read by `list_audit`. Details are
stored as JSON exactly as given, so a filter or a review note is kept verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditLog
from storage.repo import utc

# Column widths from storage/models.py: longer values are cut rather than rejected.
_USER_LEN, _ACTION_LEN, _TARGET_LEN, _ADDRESS_LEN = 100, 50, 300, 100


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as listings show it (time in UTC, aware)."""

    id: int
    at: datetime
    user: str
    action: str
    target: str
    detail: dict[str, Any]
    address: str


def record(
    session: Session,
    user: str,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
    address: str = "",
) -> None:
    """Add one audit row (committed with the caller's transaction, so it exists only if the
    action it describes does)."""
    if not action.strip():
        raise ValueError("an audit row needs an action")
    session.add(
        AuditLog(
            user=user[:_USER_LEN],
            action=action[:_ACTION_LEN],
            target=target[:_TARGET_LEN],
            detail=dict(detail or {}),
            address=address[:_ADDRESS_LEN],
        )
    )
    session.flush()


def list_audit(
    session: Session, *, action: str | None = None, user: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Audit rows, newest first, optionally of one action or one user."""
    stmt = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if user:
        stmt = stmt.where(AuditLog.user == user)
    if limit:
        stmt = stmt.limit(limit)
    return [
        AuditEntry(a.id, utc(a.at), a.user, a.action, a.target, dict(a.detail or {}), a.address)
        for a in session.scalars(stmt)
    ]
