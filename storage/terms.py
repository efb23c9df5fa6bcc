"""The documents `greywatch terms suggest` compares: analysed pages fetched in a window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.terms import TermDoc
from storage.models import Document, Finding
from storage.repo import utc

BATCH = 500  # rows fetched per round trip; the texts are streamed, never all loaded at once


def term_documents(session: Session, since: datetime | None = None) -> Iterator[TermDoc]:
    """Every analysed document fetched at or after `since` (all when None), newest first,
    flagged as a promotion when its finding says so; pages never analysed are left out."""
    stmt = (
        select(Document.id, Document.url, Document.text, Finding.kind)
        .join(Finding, Finding.document_id == Document.id)
        .order_by(Document.fetched_at.desc(), Document.id.desc())
        .execution_options(yield_per=BATCH)
    )
    if since is not None:
        stmt = stmt.where(Document.fetched_at >= utc(since))
    for doc_id, url, text, kind in session.execute(stmt):
        yield TermDoc(doc_id, url, text or "", kind == "promotion")
