"""Templates: `/templates` (one wording pushed by many accounts) and `/templates/{id}` (the
variants side by side with the representative, differences marked).

The difference is computed here with difflib on characters (Chinese has no spaces to split
words on) and handed to the page as plain (text, tag) pieces: the page escapes every piece,
so a scraped variant can never inject markup through the diff.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from greywatch.web.deps import WebUser, current_user, get_session, not_found, render
from pipelines.errors import InputError
from storage.linking import list_templates, template_detail
from storage.models import Document, Finding

router = APIRouter()

LIST_ROWS = 300
# Variants compared on one page: enough to see how the wording is varied.
VARIANTS_SHOWN = 20
# Characters of each text compared: a template is an ad, not a book; longer texts are cut
# (and said to be) so one page never runs an unbounded diff.
DIFF_CHARS = 4000

Piece = tuple[str, str]  # (text, "same" | "del" | "ins")


@dataclass(frozen=True)
class Variant:
    """One variant beside the representative: both texts cut into marked pieces."""

    document_id: int
    lead_id: int | None
    title: str
    similarity: float | None
    left: list[Piece]  # the representative, with what this variant lacks marked "del"
    right: list[Piece]  # the variant, with what it adds marked "ins"
    cut: bool


def diff_pieces(old: str, new: str) -> tuple[list[Piece], list[Piece]]:
    """`old` and `new` as pieces: equal runs "same", runs only in old "del", only in new
    "ins" (a replaced run is both). Character-level, junk heuristics off so short texts
    diff exactly."""
    left: list[Piece] = []
    right: list[Piece] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            left.append((old[i1:i2], "same"))
            right.append((new[j1:j2], "same"))
            continue
        if i2 > i1:
            left.append((old[i1:i2], "del"))
        if j2 > j1:
            right.append((new[j1:j2], "ins"))
    return left, right


@router.get("/templates", response_class=HTMLResponse)
def templates_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
    min_size: Annotated[int, Query(ge=1)] = 2,
) -> HTMLResponse:
    """Templates of `min_size` or more pages, widest spread first."""
    rows = list_templates(session, min_size=min_size, limit=LIST_ROWS)
    context = {"rows": rows, "min_size": min_size, "limit": LIST_ROWS}
    return render(request, "templates.html", context)


@router.get("/templates/{template_id}", response_class=HTMLResponse)
def template_page(
    request: Request,
    template_id: int,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """One template: its variants beside the representative, differences marked."""
    try:
        detail = template_detail(session, template_id)
    except InputError:
        not_found(f"没有编号为 {template_id} 的模板。")
    ids = [d.document_id for d in detail.documents]
    texts = dict(
        session.execute(select(Document.id, Document.text).where(Document.id.in_(ids))).all()
    )
    lead_ids = dict(
        session.execute(
            select(Finding.document_id, Finding.id).where(Finding.document_id.in_(ids))
        ).all()
    )
    rep_id = detail.representative_id
    rep_text = (texts.get(rep_id) or "") if rep_id is not None else ""
    variants = []
    others = [d for d in detail.documents if d.document_id != rep_id]
    for doc in others[:VARIANTS_SHOWN]:
        text = texts.get(doc.document_id) or ""
        left, right = diff_pieces(rep_text[:DIFF_CHARS], text[:DIFF_CHARS])
        variants.append(
            Variant(
                doc.document_id,
                lead_ids.get(doc.document_id),
                doc.title or doc.url,
                doc.similarity,
                left,
                right,
                max(len(rep_text), len(text)) > DIFF_CHARS,
            )
        )
    rep = next((d for d in detail.documents if d.document_id == rep_id), None)
    context = {
        "detail": detail,
        "template": detail.template,
        "rep": rep,
        "rep_lead": lead_ids.get(rep_id) if rep_id is not None else None,
        "rep_text": rep_text,
        "variants": variants,
        "more": max(0, len(others) - VARIANTS_SHOWN),
        "lead_ids": lead_ids,
    }
    return render(request, "templates_detail.html", context)
