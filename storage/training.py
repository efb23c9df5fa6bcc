"""Analysts' review decisions read back as training labels for `greywatch learn`.

A lead the team confirmed (or reported) is a promotion of the categories it was filed under; a
lead it dismissed is not a promotion. Pages nobody reviewed teach nothing and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Document, Finding

PROMOTION_STATUSES = ("confirmed", "reported")
NOT_PROMOTION_STATUSES = ("dismissed",)


@dataclass(frozen=True)
class ReviewedPage:
    """One stored page with the label its review gives it."""

    document_id: int
    url: str
    text: str
    kind: str  # "promotion" or "other"
    categories: tuple[str, ...]
    status: str


def reviewed_pages(session: Session) -> list[ReviewedPage]:
    """Every reviewed page, oldest document first, labelled from its review status."""
    wanted = (*PROMOTION_STATUSES, *NOT_PROMOTION_STATUSES)
    rows = session.execute(
        select(Document.id, Document.url, Document.text, Finding.categories, Finding.review_status)
        .join(Finding, Finding.document_id == Document.id)
        .where(Finding.review_status.in_(wanted))
        .order_by(Document.id)
    )
    out: list[ReviewedPage] = []
    for doc_id, url, text, categories, status in rows:
        promoted = status in PROMOTION_STATUSES
        out.append(
            ReviewedPage(
                doc_id,
                url,
                text or "",
                "promotion" if promoted else "other",
                tuple(categories or ()) if promoted else (),
                status,
            )
        )
    return out
