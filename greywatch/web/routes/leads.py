"""Leads: the filtered list (/leads), its exports, one lead's page with its evidence, the
stored page in a sandboxed frame, the screenshot, the review queue and review actions.

Filters are the CLI's (greywatch.web.leadquery), reviews go through storage.review and
exports through storage.exports, so the web and the CLI always agree.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from greywatch.tables import lead_date
from greywatch.web import deps, exporting, highlight, leadquery
from greywatch.web.security import RAW_CSP
from storage.filters import category_names
from storage.models import REVIEW_STATUSES, Document, Entity, Finding, Mention, Source
from storage.repo import BUSINESS_KINDS, LeadRow, body_of
from storage.review import review_leads

router = APIRouter()

Db = Annotated[Session, Depends(deps.get_session)]
Viewer = Annotated[deps.WebUser, Depends(deps.current_user)]
Analyst = Annotated[deps.WebUser, Depends(deps.require_role("analyst"))]

# Leads per page of the review queue: short, so the keyboard walk stays on one screen.
QUEUE_SIZE = 20

# What a stored encoding name may look like to be sent as a charset (gbk, utf-8, big5-hkscs).
_CHARSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}")

# Image types a stored screenshot may be served as (by file suffix).
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def _int_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit():
        deps.bad_request(f"{name}: {value!r} is not a lead id")
    return int(value)


def _list_context(request: Request, session: Session, size: int) -> dict[str, object]:
    """What the list and the queue show: the page of leads, its links and the filter form."""
    f = leadquery.parse_filter(session, request.query_params)
    after, before = _int_param(request, "after"), _int_param(request, "before")
    page = leadquery.lead_page(session, f, after=after, before=before, size=size)
    filters = leadquery.filter_query(request.query_params)
    query = urlencode(filters)
    path = request.url.path
    return {
        "rows": page.rows,
        "values": leadquery.filter_values(request.query_params),
        "categories": category_names(),
        "sources": list(session.scalars(select(Source.id).order_by(Source.id))),
        "first_url": f"{path}?{query}" if (after or before) else None,
        "next_url": deps.page_url(request, after=page.next_after, before=None)
        if page.next_after
        else None,
        "prev_url": deps.page_url(request, before=page.prev_before, after=None)
        if page.prev_before
        else None,
        "filter_query": query,
        "narrowed": f.narrows(),
        "lead_date": lead_date,
        "self_url": deps.local_url(request),
    }


@router.get("/leads")
def leads(request: Request, session: Db, user: Viewer) -> Response:
    """The leads matching the query string's filters, newest first, a page at a time."""
    context = _list_context(request, session, leadquery.PAGE_SIZE)
    return deps.render(request, "leads.html", context)


@router.get("/leads/export.{fmt}")
def export(request: Request, fmt: str, session: Db, user: Analyst) -> Response:
    """The filtered view as a CSV, XLSX or JSON download (logged in the export and audit logs;
    refused without a filter: exports hold personal data)."""
    f = leadquery.parse_filter(session, request.query_params)
    done = exporting.export_view(session, f, fmt, user.name)
    deps.audit(
        session,
        user,
        "export",
        f"leads.{fmt}",
        {"filter": done.filters, "rows": done.rows, "sha256": done.sha256, "file": done.name},
        deps.client_address(request),
    )
    session.commit()
    return Response(
        done.content,
        media_type=done.media_type,
        headers={"Content-Disposition": f'attachment; filename="{done.name}"'},
    )


def _lead_or_404(session: Session, lead_id: int) -> LeadRow:
    row = leadquery.lead_by_id(session, lead_id)
    if row is None:
        deps.not_found(f"没有编号为 {lead_id} 的线索。")
    return row


def _doc_of(session: Session, row: LeadRow) -> Document:
    doc = session.get(Document, row.document_id)
    if doc is None:  # deleted between the two reads
        deps.not_found(f"没有编号为 {row.finding_id} 的线索。")
    return doc


@router.get("/leads/{lead_id:int}")
def lead(request: Request, lead_id: int, session: Db, user: Viewer) -> Response:
    """One lead: its text with the evidence marked, contacts, firms and their registry
    verdicts, actors, template, screenshot and the stored page (sandboxed)."""
    row = _lead_or_404(session, lead_id)
    if row.finding_id != lead_id:  # another page of the same lead: show the lead's own
        return RedirectResponse(f"/leads/{row.finding_id}", status_code=303)
    doc = _doc_of(session, row)
    finding = session.scalars(select(Finding).where(Finding.id == row.finding_id)).one()
    spans = highlight.evidence_spans(finding.evidence or [])
    for mention, kind in session.execute(
        select(Mention, Entity.kind)
        .join(Entity, Entity.id == Mention.entity_id)
        .where(Mention.document_id == doc.id)
    ):
        what = "business" if kind in BUSINESS_KINDS else "contact"
        spans.append(highlight.Span(mention.start, mention.end, what, mention.raw))
    context = {
        "row": row,
        "doc": doc,
        "segments": highlight.segments(doc.text, spans),
        "firms": leadquery.firm_checks(session, doc.id),
        "has_screenshot": _screenshot_path(doc) is not None,
        "lead_date": lead_date,
        "statuses": REVIEW_STATUSES,
        "self_url": deps.local_url(request),
    }
    return deps.render(request, "lead.html", context)


@router.get("/leads/{lead_id:int}/raw")
def raw(lead_id: int, session: Db, user: Viewer) -> Response:
    """The stored page byte for byte, for the sandboxed frame: no scripts, no network (its
    own CSP), never a download."""
    doc = _doc_of(session, _lead_or_404(session, lead_id))
    charset = doc.encoding if _CHARSET.fullmatch(doc.encoding or "") else "utf-8"
    return Response(
        body_of(doc),
        media_type=f"text/html; charset={charset}",
        headers={
            "Content-Security-Policy": RAW_CSP,
            "Content-Disposition": "inline",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


def _screenshot_path(doc: Document) -> Path | None:
    if not doc.screenshot_path:
        return None
    path = Path(doc.screenshot_path)
    return path if path.suffix.lower() in _IMAGE_TYPES and path.is_file() else None


@router.get("/leads/{lead_id:int}/screenshot")
def screenshot(lead_id: int, session: Db, user: Viewer) -> Response:
    """The screenshot taken when the page was rendered (404 when none was stored)."""
    doc = _doc_of(session, _lead_or_404(session, lead_id))
    path = _screenshot_path(doc)
    if path is None:
        deps.not_found("这条线索没有截图。")
    return FileResponse(path, media_type=_IMAGE_TYPES[path.suffix.lower()])


@router.post("/leads/{lead_id:int}/review")
def review(
    request: Request,
    lead_id: int,
    session: Db,
    user: Analyst,
    status: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Set a lead's review state (and note) through storage.review, as `greywatch review
    lead` does; audit-logged; back to `next`."""
    row = _lead_or_404(session, lead_id)
    note = deps.clean(note).strip()
    items = review_leads(session, [row.finding_id], status, note)
    deps.audit(
        session,
        user,
        "review",
        f"lead:{row.finding_id}",
        {"status": status, "note": note, "previous": items[0].previous if items else ""},
        deps.client_address(request),
    )
    session.commit()
    return RedirectResponse(deps.safe_next(next, f"/leads/{row.finding_id}"), status_code=303)


@router.get("/review")
def review_queue(request: Request, session: Db, user: Viewer) -> Response:
    """The review queue: the same filters as the list (new leads unless a review state is
    asked for), one row selected, keyboard shortcuts from /static/review.js."""
    if not request.query_params.get("review"):
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "review"]
        return RedirectResponse(
            "/review?" + urlencode([*pairs, ("review", "new")]), status_code=303
        )
    context = _list_context(request, session, QUEUE_SIZE)
    return deps.render(request, "review.html", context)
