"""Review state of leads (findings) and businesses (entities): new, confirmed, dismissed, reported.

An analyst must be able to say which leads they checked and what they decided, so every change
records the status, a note and the time. Businesses are named by name, USCC or entity id; a
USCC or a registered name also reaches every business entity matched to that registration.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.errors import InputError
from storage.models import (
    REVIEW_STATUSES,
    BusinessMatch,
    Document,
    Entity,
    Finding,
    Registration,
    utcnow,
)

# Entity kinds that stand for a business: its name as written, or its USCC.
BUSINESS_KINDS = ("business", "uscc")


@dataclass(frozen=True)
class ReviewItem:
    """One reviewable thing and its current state (a lead or a business entity)."""

    what: str  # "lead" | "business"
    id: int  # finding id for leads, entity id for businesses
    label: str  # lead title / URL, or business name
    status: str
    note: str
    reviewed_at: datetime | None
    previous: str = ""  # status before this change, when the item was just changed


@dataclass(frozen=True)
class BusinessTarget:
    """A business as the analyst named it: its entities and, if matched, its registration."""

    ref: str
    entities: tuple[Entity, ...]  # business-name entities first, then USCC entities
    registration: Registration | None
    match: BusinessMatch | None

    @property
    def name(self) -> str:
        """The registered name when known, else the name as advertised."""
        if self.registration is not None:
            return self.registration.name
        names = [e.display or e.key for e in self.entities if e.kind == "business"]
        return names[0] if names else self.ref

    @property
    def uscc(self) -> str:
        """The registered USCC, else one advertised on the pages, else ""."""
        if self.registration is not None:
            return self.registration.uscc
        codes = [e.key for e in self.entities if e.kind == "uscc"]
        return codes[0] if codes else ""


def check_status(status: str) -> str:
    """Return `status` if it is a review status, else raise naming the allowed ones."""
    if status not in REVIEW_STATUSES:
        raise InputError(
            f"unknown review status {status!r}", hint=f"use one of: {', '.join(REVIEW_STATUSES)}"
        )
    return status


def review_leads(
    session: Session, finding_ids: Sequence[int], status: str, note: str = ""
) -> list[ReviewItem]:
    """Set the review status (and note) of leads by finding id; all-or-nothing on unknown ids."""
    check_status(status)
    ids = list(dict.fromkeys(finding_ids))
    rows = session.execute(
        select(Finding, Document).join(Document).where(Finding.id.in_(ids))
    ).all()
    found = {f.id: (f, d) for f, d in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InputError(
            f"no lead with id {', '.join(map(str, missing))}",
            hint="lead ids are the first column of `greywatch leads` and 线索ID in exports",
        )
    now = utcnow()
    items = []
    for i in ids:
        finding, doc = found[i]
        previous = finding.review_status
        finding.review_status, finding.review_note, finding.reviewed_at = status, note, now
        items.append(_lead_item(finding, doc, previous))
    session.flush()
    return items


def resolve_business(session: Session, ref: str) -> BusinessTarget:
    """Find a business by entity id, USCC or name (advertised or registered), or raise."""
    ref = unicodedata.normalize("NFKC", ref.strip())  # names are stored with half-width brackets
    registration = _find_registration(session, ref)
    entities: list[Entity] = []
    if ref.isdigit() and len(ref) < 18:
        entity = session.get(Entity, int(ref))
        if entity is not None and entity.kind in BUSINESS_KINDS:
            entities.append(entity)
    entities += session.scalars(
        select(Entity).where(Entity.kind.in_(BUSINESS_KINDS), Entity.key == ref.upper())
    ).all()
    entities += session.scalars(
        select(Entity).where(Entity.kind == "business", Entity.key == ref)
    ).all()
    if registration is None:
        registration = _registration_of(session, entities)
    if registration is not None:
        entities += _entities_of_registration(session, registration)
    unique = list({e.id: e for e in entities}.values())
    if not unique:
        raise InputError(
            f"no business named {ref!r} (not an entity id, USCC or business name in the database)",
            hint="see `greywatch review list --status new` for business names and ids",
        )
    unique.sort(key=lambda e: (BUSINESS_KINDS.index(e.kind), e.id))
    match = session.scalars(
        select(BusinessMatch)
        .where(BusinessMatch.entity_id.in_([e.id for e in unique]))
        .order_by(BusinessMatch.confidence.desc(), BusinessMatch.id)
    ).first()
    return BusinessTarget(ref, tuple(unique), registration, match)


def review_business(session: Session, ref: str, status: str, note: str = "") -> list[ReviewItem]:
    """Set the review status of a business (all its name/USCC entities) named by `ref`."""
    check_status(status)
    target = resolve_business(session, ref)
    now = utcnow()
    items = []
    for entity in target.entities:
        previous = entity.review_status
        entity.review_status, entity.review_note, entity.reviewed_at = status, note, now
        items.append(_entity_item(entity, previous))
    session.flush()
    return items


def list_reviews(session: Session, statuses: Sequence[str] = ()) -> list[ReviewItem]:
    """Leads and businesses in the given statuses (default: everything already reviewed)."""
    for s in statuses:
        check_status(s)
    wanted = tuple(statuses) or tuple(s for s in REVIEW_STATUSES if s != "new")
    leads = session.execute(
        select(Finding, Document)
        .join(Document)
        .where(Finding.review_status.in_(wanted), Finding.kind == "promotion")
        .order_by(Finding.id)
    ).all()
    entities = session.scalars(
        select(Entity)
        .where(Entity.kind.in_(BUSINESS_KINDS), Entity.review_status.in_(wanted))
        .order_by(Entity.id)
    ).all()
    return [_lead_item(f, d) for f, d in leads] + [_entity_item(e) for e in entities]


def _lead_item(finding: Finding, doc: Document, previous: str = "") -> ReviewItem:
    return ReviewItem(
        "lead",
        finding.id,
        doc.title or doc.url,
        finding.review_status,
        finding.review_note,
        finding.reviewed_at,
        previous,
    )


def _entity_item(entity: Entity, previous: str = "") -> ReviewItem:
    label = entity.display or entity.key
    if entity.kind == "uscc":
        label = f"USCC {entity.key}"
    return ReviewItem(
        "business",
        entity.id,
        label,
        entity.review_status,
        entity.review_note,
        entity.reviewed_at,
        previous,
    )


def _find_registration(session: Session, ref: str) -> Registration | None:
    """A registration whose USCC or registered name is `ref`."""
    return session.scalars(
        select(Registration)
        .where((Registration.uscc == ref.upper()) | (Registration.name == ref))
        .order_by(Registration.id)
    ).first()


def _registration_of(session: Session, entities: Sequence[Entity]) -> Registration | None:
    """The registration these entities were matched to (by name) or carry (by USCC)."""
    ids = [e.id for e in entities]
    if ids:
        reg_id = session.scalars(
            select(BusinessMatch.registration_id)
            .where(BusinessMatch.entity_id.in_(ids), BusinessMatch.registration_id.is_not(None))
            .order_by(BusinessMatch.confidence.desc())
        ).first()
        if reg_id is not None:
            return session.get(Registration, reg_id)
    codes = [e.key for e in entities if e.kind == "uscc"]
    if codes:
        return session.scalars(select(Registration).where(Registration.uscc.in_(codes))).first()
    return None


def _entities_of_registration(session: Session, registration: Registration) -> list[Entity]:
    """Business entities matched to this registration, and the entity of its USCC."""
    matched = session.scalars(
        select(Entity)
        .join(BusinessMatch, BusinessMatch.entity_id == Entity.id)
        .where(BusinessMatch.registration_id == registration.id)
    ).all()
    by_code = session.scalars(
        select(Entity).where(Entity.kind == "uscc", Entity.key == registration.uscc)
    ).all()
    return [*matched, *by_code]
