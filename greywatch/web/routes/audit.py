"""The audit log (/audit, admins): who signed in, reviewed, exported, built packs, ran crawls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from greywatch.web import deps
from storage.audit import list_audit

router = APIRouter()

# Rows shown, newest first: enough for a day's work of a team; filter by action or user.
SHOWN = 500


@router.get("/audit")
def audit_log(
    request: Request,
    session: Annotated[Session, Depends(deps.get_session)],
    user: Annotated[deps.WebUser, Depends(deps.require_role("admin"))],
    action: str = "",
    who: str = "",
) -> Response:
    """The newest audit rows, optionally of one action (review, export…) or one user."""
    entries = list_audit(
        session, action=action.strip() or None, user=who.strip() or None, limit=SHOWN
    )
    context = {"entries": entries, "action": action, "who": who, "shown": SHOWN}
    return deps.render(request, "audit.html", context)
