"""Leads newest first, one keyset page at a time, without grouping every finding.

`storage.repo.query_leads` groups all findings by lead key and ranks every business mention
before it can sort, which is right for a full listing but costs seconds per page at 100,000
leads. Here each lead is found through its representative page (its member with the lowest
finding id) while walking documents newest first, and its review rank, URLs and first/last
seen are computed for the few leads of the page only. What a lead is, which page represents
it and which filters hold for which pages are exactly `query_leads`'s (see its helpers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, false, func, inspect, literal, not_, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.util import ClauseAdapter

from storage.models import REVIEW_STATUSES, Document, Entity, Finding, Mention
from storage.repo import (
    _EMPTY_HASH,
    _FROM_BUSINESS,
    _IN_CHUNK,
    _NEW_RANK,
    BUSINESS_KINDS,
    INHERITED_ORDER,
    LeadFilter,
    _finding_conditions,
    _page_conditions,
    _Pages,
    _pages_of,
    _rank_of,
    _ranks_of,
    lead_key,
)

# (representative Finding, its Document, lead key, review rank): the rows of repo._lead_stmt.
LeadHit = tuple[Finding, Document, str, int]


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page starts: the fetch time and document id of a lead's first page."""

    fetched_at: datetime
    document_id: int


def cursor_of(session: Session, finding_id: int) -> Cursor | None:
    """The cursor of the lead represented by finding `finding_id` (None if unknown)."""
    found = session.execute(
        select(Document.fetched_at, Document.id)
        .join(Finding, Finding.document_id == Document.id)
        .where(Finding.id == finding_id)
    ).first()
    return Cursor(found[0], found[1]) if found else None


def _adapt(conds: Sequence[Any], *aliases: Any) -> list[Any]:
    """`conds` written against Finding/Document, rewritten for the given aliases."""
    out = list(conds)
    for alias in aliases:
        adapter = ClauseAdapter(inspect(alias).selectable)
        out = [adapter.traverse(c) for c in out]
    return out


def _keyed(doc: Any) -> Any:
    """SQL: the page carries a shared lead key (else it is a lead of its own)."""
    return doc.lead_key.not_in(["", _EMPTY_HASH])


def _business_rank(doc: Any) -> Any:
    """SQL: rank of the strongest review state of a business named on `doc` (NULL if none)."""
    return (
        select(func.min(_rank_of(Entity.review_status)))
        .select_from(Mention)
        .join(Entity, Mention.entity_id == Entity.id)
        .where(
            Mention.document_id == doc.id,
            Entity.kind.in_(BUSINESS_KINDS),
            Entity.review_status != "new",
        )
        .scalar_subquery()
    )


def _member_rank(finding: Any, doc: Any) -> Any:
    """SQL: one page's rank: its own review state, else one taken over from a business."""
    return case(
        (finding.review_status != "new", _rank_of(finding.review_status)),
        else_=func.coalesce(_business_rank(doc) + _FROM_BUSINESS, _NEW_RANK),
    )


def _lead_rank(f: LeadFilter) -> Any:
    """SQL: the rank of the lead Finding/Document represent: the strongest over its members."""
    fm, dm = aliased(Finding), aliased(Document)
    over_members = (
        select(func.min(_member_rank(fm, dm)))
        .select_from(fm)
        .join(dm, fm.document_id == dm.id)
        .where(dm.lead_key == Document.lead_key, *_adapt(_finding_conditions(f), fm))
        .scalar_subquery()
    )
    return case((_keyed(Document), over_members), else_=_member_rank(Finding, Document))


def _representative(f: LeadFilter) -> Any:
    """SQL: Finding is its lead's representative: no member of the lead has a lower id."""
    fo, do = aliased(Finding), aliased(Document)
    older = (
        select(literal(1))
        .select_from(fo)
        .join(do, fo.document_id == do.id)
        .where(do.lead_key == Document.lead_key, fo.id < Finding.id)
        .where(*_adapt(_finding_conditions(f), fo))
        .exists()
    )
    return or_(not_(_keyed(Document)), not_(older))


def _leads_hit(f: LeadFilter, pages: list[Any]) -> Any:
    """SQL: Document is of a lead one of whose member pages meets the page conditions. Two
    uncorrelated IN lists (shared lead keys, pages of their own) that the database hashes
    once, whatever it guesses of their size."""

    def members(column: Any, keyed: Any) -> Any:
        return (
            select(column)
            .select_from(Finding)
            .join(Document, Finding.document_id == Document.id)
            .where(*_finding_conditions(f), *pages, keyed)
            .correlate(None)
        )

    keyed = _keyed(Document)
    return or_(
        and_(keyed, Document.lead_key.in_(members(Document.lead_key, keyed))),
        and_(not_(keyed), Document.id.in_(members(Document.id, not_(keyed)))),
    )


def _reviewed_pages() -> list[Any]:
    """Page conditions of a member whose rank is a review state (`_member_rank` < new): its
    own, else one of a business named on it."""
    by_business = (
        select(Mention.document_id)
        .join(Entity, Mention.entity_id == Entity.id)
        .where(Entity.kind.in_(BUSINESS_KINDS), Entity.review_status.in_(INHERITED_ORDER))
    )
    return [
        or_(
            Finding.review_status.in_(INHERITED_ORDER),
            and_(Finding.review_status == "new", Document.id.in_(by_business)),
        )
    ]


def _review_condition(f: LeadFilter) -> Any:
    """SQL: the lead's review state is one of `f.review`. A lead is "new" exactly when none
    of its members has a state, which two hashed IN lists answer; the lead's rank is
    computed only for the few leads that have one."""
    reviewed = _leads_hit(f, _reviewed_pages())
    states = [r for r in _ranks_of(f.review) if r != _NEW_RANK]
    cond = and_(reviewed, _lead_rank(f).in_(states)) if states else false()
    return or_(not_(reviewed), cond) if "new" in f.review else cond


def _check_review(f: LeadFilter) -> None:
    bad = sorted(set(f.review) - set(REVIEW_STATUSES))
    if bad:
        raise ValueError(f"review status must be one of {REVIEW_STATUSES}, not {bad}")


def newest_leads_stmt(
    f: LeadFilter,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 51,
    finding_ids: Sequence[int] = (),
) -> Any:
    """The SELECT of `newest_leads` (for EXPLAIN in benchmarks)."""
    _check_review(f)
    rank = _lead_rank(f).label("rank")
    key = lead_key().label("lead_key")
    stmt = (
        select(Finding, Document, key, rank)
        .join(Document, Finding.document_id == Document.id)
        .where(*_finding_conditions(f), _representative(f))
    )
    pages = _page_conditions(f)
    if finding_ids:
        pages.append(Finding.id.in_(sorted(set(finding_ids))))
    if pages:
        stmt = stmt.where(_leads_hit(f, pages))
    if f.review:
        stmt = stmt.where(_review_condition(f))
    at, doc_id = Document.fetched_at, Document.id
    if before is not None:
        stmt = stmt.where(
            or_(at > before.fetched_at, and_(at == before.fetched_at, doc_id > before.document_id))
        ).order_by(at.asc(), doc_id.asc())
    else:
        if after is not None:
            stmt = stmt.where(
                or_(at < after.fetched_at, and_(at == after.fetched_at, doc_id < after.document_id))
            )
        stmt = stmt.order_by(at.desc(), doc_id.desc())
    return stmt.limit(limit)


def newest_leads(
    session: Session,
    f: LeadFilter,
    *,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = 51,
    finding_ids: Sequence[int] = (),
) -> list[LeadHit]:
    """Up to `limit` leads meeting `f`, newest first (by their first page's fetch time, then
    document id), after or before a cursor; with `before`, the rows nearest it come first.

    `finding_ids` keeps only the leads one of those findings belongs to (any page of them).
    """
    stmt = newest_leads_stmt(f, after=after, before=before, limit=limit, finding_ids=finding_ids)
    return [(finding, doc, k, int(r)) for finding, doc, k, r in session.execute(stmt).all()]


def lead_pages(session: Session, keys: Sequence[str], f: LeadFilter) -> dict[str, _Pages]:
    """lead key -> its pages (members: analysis meets the filter's finding conditions), as
    `storage.repo._lead_pages` gives them, read through the lead key and id indexes."""
    shared = sorted({k for k in keys if not k.startswith("doc:")})
    own = sorted({int(k[4:]) for k in keys if k.startswith("doc:") and k[4:].isdigit()})
    members = _finding_conditions(f)
    docs: list[tuple[str, int, str, datetime]] = []
    for column, values in ((Document.lead_key, shared), (Document.id, own)):
        for lo in range(0, len(values), _IN_CHUNK):
            docs += session.execute(
                select(lead_key(), Document.id, Document.url, Document.fetched_at)
                .join(Finding, Finding.document_id == Document.id)
                .where(column.in_(values[lo : lo + _IN_CHUNK]), *members)
            ).all()
    return _pages_of(session, docs)
