"""Resolve stored business entities to imported registrations and keep the BusinessMatch rows.

The decisions (blocking, scoring, picking, reasons) are `pipelines.matching`; this module
reads registrations and the documents around each entity, and stores what was decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines import matching_index
from pipelines import uscc as uscc_check
from pipelines.matching import MatchResult, RegionHints, match_business, region_hints_from_text
from pipelines.scope import scope_verdict
from storage.models import (
    BusinessMatch,
    Document,
    Entity,
    Finding,
    Mention,
    Registration,
    utcnow,
)


class RegistryIndex(matching_index.RegistryIndex):
    """The pipelines' registry index, loadable from the registrations table."""

    @classmethod
    def from_session(cls, session: Session, batch: int = 50_000) -> RegistryIndex:
        """Build from the registrations table: only the seven columns matching needs, in id
        order (so candidates list the same way on every database), streamed in batches."""
        stmt = (
            select(
                Registration.id,
                Registration.uscc,
                Registration.name,
                Registration.name_norm,
                Registration.brand_core,
                Registration.region,
                Registration.status,
            )
            .order_by(Registration.id)
            .execution_options(yield_per=batch)
        )
        index = cls()
        for part in session.connection().execute(stmt).partitions():
            index.add_many(part)
        return index


@dataclass(frozen=True, slots=True)
class MatchStats:
    """How many business entities were resolved, by method."""

    entities: int
    by_method: dict[str, int]


def _entity_context(session: Session, entity_id: int) -> tuple[RegionHints, list[str], str | None]:
    """Region hints and categories from the documents mentioning an entity, and a USCC when a
    document names exactly one business and one USCC (then the code is that business's)."""
    doc_ids = select(Mention.document_id).where(Mention.entity_id == entity_id).distinct()
    docs = session.execute(  # no DISTINCT here: PostgreSQL cannot compare JSON categories
        select(Document.id, Document.text, Finding.categories)
        .outerjoin(Finding, Finding.document_id == Document.id)
        .where(Document.id.in_(doc_ids))
        .order_by(Document.id)
    ).all()
    cities: list[str] = []
    codes: list[str] = []
    categories: list[str] = []
    uscc: str | None = None
    for doc_id, text, cats in docs:
        hints = region_hints_from_text(text or "")
        cities += [c for c in hints.cities if c not in cities]
        codes += [c for c in hints.area_codes if c not in codes]
        categories += [c for c in (cats or []) if c not in categories]
        kinds = session.execute(
            select(Entity.kind, Entity.key)
            .join(Mention, Mention.entity_id == Entity.id)
            .where(Mention.document_id == doc_id, Entity.kind.in_(("business", "uscc")))
            .distinct()
        ).all()
        businesses = {k for kind, k in kinds if kind == "business"}
        codes_here = {k for kind, k in kinds if kind == "uscc"}
        if len(businesses) == 1 and len(codes_here) == 1:
            uscc = next(iter(codes_here))
    return RegionHints(tuple(cities), tuple(codes)), categories, uscc


def match_entities(
    session: Session,
    index: matching_index.RegistryIndex | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MatchStats:
    """Resolve every stored business entity and upsert its BusinessMatch (idempotent); one
    named by a valid USCC (the page printed a code, no name) is matched by that code."""
    index = index if index is not None else RegistryIndex.from_session(session)
    entities = session.execute(
        select(Entity.id, Entity.key, Entity.display).where(Entity.kind == "business")
    ).all()
    existing = {m.entity_id: m for m in session.scalars(select(BusinessMatch))}
    counts: Counter[str] = Counter()
    for n, (entity_id, key, display) in enumerate(entities, 1):
        hints, categories, uscc = _entity_context(session, entity_id)
        if uscc_check.is_valid(key):  # a firm the page named by its code alone
            uscc = key
        result = match_business(index, display or key, uscc=uscc, region_hints=hints)
        verdict, reason = verdict_for(session, result, categories)
        row = existing.get(entity_id) or BusinessMatch(entity_id=entity_id)
        row.registration_id = result.registration.id if result.registration else None
        row.method = result.method
        row.confidence = result.confidence
        row.reason = result.reason
        row.candidates = result.candidates
        row.verdict = verdict
        row.verdict_reason = reason
        row.matched_at = utcnow()
        if entity_id not in existing:
            session.add(row)
        counts[result.method] += 1
        if progress:
            progress(n, len(entities))
    session.flush()
    return MatchStats(len(entities), dict(counts))


def verdict_for(
    session: Session, result: MatchResult, categories: Iterable[str]
) -> tuple[str, str]:
    """The scope verdict for a match: unresolved matches get none (the reason says why)."""
    if result.method == "unresolved":
        return "", f"无法确定对应的登记：{result.reason}"
    reg = session.get(Registration, result.registration.id) if result.registration else None
    v = scope_verdict(reg, tuple(categories))
    return v.verdict, v.reason
