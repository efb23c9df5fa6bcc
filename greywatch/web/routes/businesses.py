"""Firms: `/businesses` (USCC, registry verdict, review state, lead count; filters) and
`/businesses/{id}` (registry row, scope verdict and its reason, the leads, review buttons).

Reads and writes go through `storage.review` (the code of `greywatch businesses` and
`greywatch review business`), so the web and the CLI never disagree about a firm.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from greywatch.web.deps import (
    WebUser,
    audit,
    bad_request,
    client_address,
    current_user,
    get_session,
    not_found,
    render,
    require_role,
)
from pipelines.errors import InputError
from storage.exports import VERDICT_LABELS, category_labels
from storage.filters import check_choices
from storage.models import REVIEW_STATUSES
from storage.repo import LeadFilter, query_leads
from storage.review import BusinessRow, list_businesses, resolve_business, review_business

router = APIRouter()

# Rows shown on one page of the list (firms are thousands at most; the filters narrow).
PAGE_ROWS = 200
# Leads shown on a firm's page; the full list is one link away.
FIRM_LEADS = 50


def _matches(row: BusinessRow, q: str) -> bool:
    needle = q.strip().upper()
    return needle in (row.name or "").upper() or needle in row.uscc.upper()


@router.get("/businesses", response_class=HTMLResponse)
def businesses_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
    review: Annotated[list[str] | None, Query()] = None,
    verdict: Annotated[list[str] | None, Query()] = None,
    q: str = "",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """The firms, most leads first, narrowed by review state, verdict and name/USCC."""
    states = tuple(r.strip() for r in review or () if r.strip())
    try:
        verdicts = check_choices(
            [v for v in verdict or () if v], [k for k in VERDICT_LABELS if k], "--verdict"
        )
        rows = list_businesses(session, states)  # an unknown state: the CLI's message
    except InputError as exc:
        bad_request(str(exc), exc.hint)
    if verdicts:
        rows = [r for r in rows if r.checked and r.verdict in verdicts]
    if q.strip():
        rows = [r for r in rows if _matches(r, q)]
    shown = rows[offset : offset + PAGE_ROWS]
    context = {
        "rows": shown,
        "total": len(rows),
        "offset": offset,
        "next_offset": offset + PAGE_ROWS if offset + PAGE_ROWS < len(rows) else None,
        "review": states,
        "verdict": verdicts,
        "q": q,
        "verdicts": {k: v for k, v in VERDICT_LABELS.items() if k},
    }
    return render(request, "businesses.html", context)


def _target(session: Session, business_id: int):  # type: ignore[no-untyped-def]
    """The firm behind entity `business_id`, or the 404 page."""
    try:
        return resolve_business(session, str(business_id))
    except InputError:
        not_found(f"没有编号为 {business_id} 的企业。")


@router.get("/businesses/{business_id}", response_class=HTMLResponse)
def business_page(
    request: Request,
    business_id: int,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """One firm: its registration, the scope verdict and why, its leads, review buttons."""
    target = _target(session, business_id)
    firm = target.uscc or target.name
    leads = query_leads(session, LeadFilter(firm=firm, limit=FIRM_LEADS)) if firm else []
    review_entity = min(target.entities, key=lambda e: e.id)
    context = {
        "business_id": business_id,
        "target": target,
        "reg": target.registration,
        "match": target.match,
        "entities": target.entities,
        "state": review_entity,
        "leads": leads,
        "firm_filter": firm,
        "limit": FIRM_LEADS,
        "statuses": REVIEW_STATUSES,
        "labels": category_labels(),  # once: the lexicon is read on every look-up
    }
    return render(request, "businesses_detail.html", context)


@router.post("/businesses/{business_id}/review")
def business_review(
    request: Request,
    business_id: int,
    user: Annotated[WebUser, Depends(require_role("analyst"))],
    session: Annotated[Session, Depends(get_session)],
    status: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Set the firm's review state (all its names and USCC), audit-logged."""
    target = _target(session, business_id)
    try:
        items = review_business(session, str(business_id), status.strip(), note.strip())
    except InputError as exc:
        bad_request(str(exc), exc.hint)
    audit(
        session,
        user,
        "review",
        f"business:{business_id}",
        {
            "status": status.strip(),
            "note": note.strip(),
            "name": target.name,
            "uscc": target.uscc,
            "entities": [i.id for i in items],
            "previous": sorted({i.previous for i in items}),
        },
        client_address(request),
    )
    session.commit()
    return RedirectResponse(f"/businesses/{business_id}", status_code=303)
