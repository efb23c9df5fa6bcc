"""Review state of leads (findings) and businesses (entities): new, confirmed, dismissed, reported.

An analyst must be able to say which leads they checked and what they decided, so every change
records the status, a note and the time. Businesses are named by name, USCC or entity id; a
USCC or a registered name also reaches every business entity matched to that registration.
A lead is one ad (storage.repo.lead_key: copies of one text, the pages of one thread): a
decision on it reaches all its URLs. A lead without a state of its own shows its business's
(storage.repo.query_leads). Decisions made in an exported XLSX sheet are read back by
`import_reviews`; `list_businesses` lists the firms.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipelines.errors import InputError
from storage.models import (
    REVIEW_STATUSES,
    BusinessMatch,
    Document,
    Entity,
    Finding,
    Mention,
    Registration,
    utcnow,
)
from storage.repo import BUSINESS_KINDS, INHERITED_ORDER, lead_key, lead_states

# Errors listed in full by `import_reviews` before the rest are counted.
_ERRORS_SHOWN = 3


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
    # The same content at other URLs is the same lead: it gets the same decision.
    keys = select(lead_key()).where(Document.id.in_([d.id for _, d in found.values()]))
    for sibling in session.scalars(
        select(Finding).join(Document).where(lead_key().in_(keys), Finding.id.not_in(ids))
    ):
        sibling.review_status, sibling.review_note, sibling.reviewed_at = status, note, now
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
    firsts = (
        set(
            session.scalars(
                select(func.min(Finding.id))
                .join(Document)
                .where(Finding.kind == "promotion")
                .group_by(lead_key())
            ).all()
        )
        if leads
        else set()
    )
    lead_items = [_lead_item(f, d) for f, d in leads if f.id in firsts]  # one per lead
    return lead_items + [_entity_item(e) for e in entities]


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


# --- businesses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessRow:
    """One firm as `greywatch businesses` lists it: all the names and USCC it is known by."""

    id: int  # an entity id that names it (`greywatch review business ID`)
    name: str  # registered name, else as advertised ("" when only its USCC was seen)
    uscc: str
    checked: bool  # matched against the imported registry (`registry match --db-entities`)
    verdict: str  # scope verdict (pipelines/scope.py); "" when ambiguous or not checked
    review_status: str
    review_note: str
    leads: int  # distinct leads (promotions, one per content) naming it


def _strongest(entities: Sequence[Entity]) -> Entity:
    """The entity whose review state is the firm's: the strongest of INHERITED_ORDER."""
    order = (*INHERITED_ORDER, "new")
    return min(entities, key=lambda e: (order.index(e.review_status), e.id))


def list_businesses(session: Session, statuses: Sequence[str] = ()) -> list[BusinessRow]:
    """Every firm named on a stored page, most leads first: a firm matched to a registration
    (by name or by its USCC) is one row whatever names it was advertised under."""
    for s in statuses:
        check_status(s)
    entities = session.scalars(
        select(Entity).where(Entity.kind.in_(BUSINESS_KINDS)).order_by(Entity.id)
    ).all()
    matches = {
        m.entity_id: m
        for m in session.scalars(
            select(BusinessMatch).where(BusinessMatch.entity_id.in_([e.id for e in entities]))
        )
    }
    regs = {r.id: r for r in session.scalars(select(Registration))}
    reg_by_uscc = {r.uscc: r.id for r in regs.values()}
    firms: dict[tuple[str, int], list[Entity]] = {}
    for e in entities:
        m = matches.get(e.id)
        reg_id = m.registration_id if m is not None else None
        if reg_id is None and e.kind == "uscc":
            reg_id = reg_by_uscc.get(e.key)
        firms.setdefault(("reg", reg_id) if reg_id else ("entity", e.id), []).append(e)
    leads: dict[int, set[str]] = {}
    for entity_id, key in session.execute(
        select(Mention.entity_id, lead_key())
        .join(Document, Document.id == Mention.document_id)
        .join(Finding, Finding.document_id == Document.id)
        .where(Finding.kind == "promotion", Mention.entity_id.in_([e.id for e in entities]))
    ).all():
        leads.setdefault(entity_id, set()).add(key)
    rows = []
    for (what, ref), members in firms.items():
        reg = regs.get(ref) if what == "reg" else None
        names = [e for e in members if e.kind == "business"]
        found = [matches[e.id] for e in members if e.id in matches]
        best = max(found, key=lambda m: (m.confidence, -m.id)) if found else None
        state = _strongest(members)
        rows.append(
            BusinessRow(
                id=(names or members)[0].id,
                name=reg.name if reg else (names[0].display or names[0].key) if names else "",
                uscc=reg.uscc if reg else next((e.key for e in members if e.kind == "uscc"), ""),
                checked=best is not None,
                verdict=best.verdict if best is not None else "",
                review_status=state.review_status,
                review_note=state.review_note,
                leads=len(set().union(*(leads.get(e.id, set()) for e in members))),
            )
        )
    if statuses:
        rows = [r for r in rows if r.review_status in statuses]
    return sorted(rows, key=lambda r: (-r.leads, r.name or r.uscc, r.id))


# --- decisions made in an exported sheet ---------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What `import_reviews` did: the leads it changed, and how many rows it left as they were."""

    changed: list[ReviewItem]
    unchanged: int


@dataclass(frozen=True)
class _Decision:
    row: int
    lead: int
    status: str
    note: str


def _sheet_rows(path: Path) -> tuple[dict[str, int], list[tuple[int, tuple[Any, ...]]]]:
    """(header -> column index, [(row number, values)]) of the lead sheet of an XLSX file."""
    from openpyxl import load_workbook

    if not path.is_file():
        raise InputError(f"{path}: no such file", hint="give the XLSX `leads export` wrote")
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, ValueError… on a bad file
        raise InputError(
            f"{path}: cannot read it as an XLSX workbook ({type(exc).__name__})",
            hint="give the XLSX `leads export --format xlsx` wrote, edited in Excel or WPS",
        ) from None
    try:
        sheet = book["线索"] if "线索" in book.sheetnames else book.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        book.close()
    if not rows:
        raise InputError(f"{path}: the sheet is empty")
    header = {str(v).strip(): i for i, v in enumerate(rows[0]) if v is not None}
    return header, [(n, tuple(r)) for n, r in enumerate(rows[1:], start=2)]


def _cell(values: tuple[Any, ...], index: int | None) -> Any:
    if index is None or index >= len(values):
        return None
    v = values[index]
    return v.strip() if isinstance(v, str) else v


def _sheet_columns() -> dict[str, str]:
    """finding_id, review_status, review_note -> their headers in an exported sheet."""
    from storage.exports import COLUMNS

    return {c.key: c.header for c in COLUMNS}


def _read_decisions(path: Path) -> tuple[list[_Decision], list[tuple[int, str]]]:
    """The sheet's rows as decisions, and (row, error) per bad row naming the column."""
    from storage.exports import REVIEW_LABELS

    columns = _sheet_columns()
    header, rows = _sheet_rows(path)
    missing = [h for h in (columns["finding_id"], columns["review_status"]) if h not in header]
    if missing:
        raise InputError(
            f"{path}: no column {', '.join(missing)} in the first row",
            hint="import the sheet `leads export --format xlsx` wrote (keep its header row)",
        )
    by_label = {label: key for key, label in REVIEW_LABELS.items()}
    id_col, status_col = header[columns["finding_id"]], header[columns["review_status"]]
    note_col = header.get(columns["review_note"])
    decisions, errors = [], []
    for n, values in rows:
        lead, status = _cell(values, id_col), _cell(values, status_col)
        note = _cell(values, note_col)
        if all(v in (None, "") for v in values):
            continue
        if isinstance(lead, float) and lead.is_integer():
            lead = int(lead)
        if isinstance(lead, str) and lead.isdigit():
            lead = int(lead)
        if not isinstance(lead, int) or isinstance(lead, bool):
            errors.append((n, f"row {n}, {columns['finding_id']}: {lead!r} is not a lead id"))
            continue
        text = "" if status is None else str(status)
        key = by_label.get(text) or (text.lower() if text.lower() in REVIEW_STATUSES else None)
        if key is None:
            errors.append(
                (
                    n,
                    f"row {n}, {columns['review_status']}: unknown review state {text!r} "
                    f"(use {'、'.join(REVIEW_LABELS.values())} or {', '.join(REVIEW_STATUSES)})",
                )
            )
            continue
        decisions.append(_Decision(n, lead, key, "" if note is None else str(note)))
    return decisions, errors


def import_reviews(session: Session, path: Path) -> ImportResult:
    """Read back the review decisions an analyst made in an exported XLSX sheet.

    Every row is checked first (lead id, review state, one lead on two rows with different
    decisions); any error stops the import with the rows named, and nothing changes. Rows
    that say what the lead already shows are left alone; the others set the lead's own state
    and note (and so that of the same content at its other URLs).
    """
    path = Path(path)
    decisions, errors = _read_decisions(path)
    id_header = _sheet_columns()["finding_id"]
    known = lead_states(session, [d.lead for d in decisions])
    first: dict[int, _Decision] = {}
    for d in decisions:
        if d.lead not in known:
            errors.append((d.row, f"row {d.row}, {id_header}: no lead with id {d.lead}"))
        elif d.lead in first and (first[d.lead].status, first[d.lead].note) != (d.status, d.note):
            errors.append((d.row, f"row {d.row}: lead {d.lead} is also on row {first[d.lead].row}"))
        first.setdefault(d.lead, d)
    if errors:
        errors.sort()
        more = len(errors) - _ERRORS_SHOWN
        tail = f"; and {more} more rows with errors" if more > 0 else ""
        raise InputError(
            f"{path}: {'; '.join(e for _, e in errors[:_ERRORS_SHOWN])}{tail}",
            hint="nothing was imported: correct these rows and import the sheet again",
        )
    todo: dict[tuple[str, str], list[int]] = {}
    for lead, d in first.items():
        if known[lead] != (d.status, d.note):
            todo.setdefault((d.status, d.note), []).append(lead)
    changed = []
    for (status, note), leads in todo.items():
        changed += review_leads(session, leads, status, note)
    changed.sort(key=lambda item: item.id)
    return ImportResult(changed, len(first) - len(changed))
