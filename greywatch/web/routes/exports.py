"""The export log (/exports): every export of leads, from the CLI or the web."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from greywatch.web import deps
from storage.exports import filter_text, list_exports

router = APIRouter()

# Rows shown: the most recent exports (the CLI's `greywatch exports` lists them all).
SHOWN = 500


@router.get("/exports")
def exports(
    request: Request,
    session: Annotated[Session, Depends(deps.get_session)],
    user: Annotated[deps.WebUser, Depends(deps.current_user)],
) -> Response:
    """The most recent exports, newest first: who, when, which filter, rows, SHA-256."""
    context = {"exports": list_exports(session, SHOWN), "filter_text": filter_text}
    return deps.render(request, "exports.html", context)
