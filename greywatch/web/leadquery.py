"""Leads for the web pages: the CLI's filters read from a query string, and keyset pages.

The filter is the CLI's one definition (`storage.filters.build_filter`): the query-string
names are the CLI flags without dashes (category, kind, source, since, until, min_score,
review, actor, contact, keyword, firm; `q` is a short name for keyword), so a bad value gets
the CLI's message. Pages are cut by keyset on (fetch time of the lead's first page, its
document id), newest first: `after=ID` continues after lead ID, `before=ID` goes back; never OFFSET.

The leads are found by `storage.leadlist` (the same leads as `storage.repo.query_leads`,
without grouping every finding first) and built with `query_leads`'s row builders, so the
list shows what `greywatch leads` and the exports show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.errors import InputError
from storage.filters import FilterInput, build_filter
from storage.leadlist import Cursor, LeadHit, cursor_of, lead_pages, newest_leads
from storage.models import BusinessMatch, Entity, Mention, Registration
from storage.repo import (
    BUSINESS_KINDS,
    LeadFilter,
    LeadRow,
    lead_rows,
)

# Leads per page of the list (and of the review queue): a screen or two of rows.
PAGE_SIZE = 50

# The query-string names of the filter (the CLI flags without their dashes).
FILTER_PARAMS = (
    "category",
    "kind",
    "source",
    "review",
    "since",
    "until",
    "min_score",
    "actor",
    "contact",
    "keyword",
    "firm",
    "q",
)


@dataclass(frozen=True)
class LeadPage:
    """One page of leads and the cursors around it (None where there is no such page)."""

    rows: list[LeadRow]
    next_after: int | None
    prev_before: int | None


def _values(params: Any, name: str) -> list[str]:
    """The non-empty values of a query parameter (an empty form field means "any")."""
    getlist = getattr(params, "getlist", None)
    raw = getlist(name) if getlist else _as_list(params.get(name))
    return [v.strip() for v in raw if isinstance(v, str) and v.strip()]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _one(params: Any, name: str, flag: str) -> str | None:
    values = _values(params, name)
    if len(values) > 1:
        raise InputError(f"{flag}: given {len(values)} times", hint="give it once")
    return values[0] if values else None


def _number(text: str | None, flag: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{flag}: {text!r} is not a number", hint="e.g. 0.5") from None
    if math.isnan(value):
        raise InputError(f"{flag}: {text!r} is not a number", hint="e.g. 0.5")
    return value


def _integer(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise InputError(f"{flag}: {text!r} is not a whole number", hint="e.g. --actor 3")
    return int(text)


def filter_input(params: Mapping[str, Any]) -> FilterInput:
    """What the query string asks for, as the CLI's FilterInput (numbers checked here, the
    rest by `build_filter`)."""
    keyword = _one(params, "keyword", "--keyword")
    q = _one(params, "q", "--keyword")
    if keyword and q and keyword != q:
        raise InputError("--keyword: given twice (keyword and q)", hint="give one of them")
    return FilterInput(
        since=_one(params, "since", "--since"),
        until=_one(params, "until", "--until"),
        categories=tuple(_values(params, "category")),
        kinds=tuple(_values(params, "kind")),
        min_score=_number(_one(params, "min_score", "--min-score"), "--min-score"),
        sources=tuple(_values(params, "source")),
        review=tuple(_values(params, "review")),
        actor=_integer(_one(params, "actor", "--actor"), "--actor"),
        contact=_one(params, "contact", "--contact"),
        keyword=keyword or q,
        firm=_one(params, "firm", "--firm"),
    )


def parse_filter(session: Session, params: Mapping[str, Any]) -> LeadFilter:
    """The LeadFilter the query string describes, every value checked (InputError with the
    CLI's message on the first bad one)."""
    return build_filter(session, filter_input(params))


def filter_values(params: Any) -> dict[str, list[str]]:
    """The filter's query parameters as given (for refilling the filter form)."""
    return {name: _values(params, name) for name in FILTER_PARAMS if _values(params, name)}


def filter_query(params: Any) -> list[tuple[str, str]]:
    """Only the filter's (name, value) pairs of a query string: for export and queue links."""
    return [(name, v) for name in FILTER_PARAMS for v in _values(params, name)]


def _cursor(session: Session, lead_id: int, flag: str) -> Cursor:
    """Where the lead a cursor names stands in the list, or InputError."""
    found = cursor_of(session, lead_id)
    if found is None:
        raise InputError(f"{flag}: no lead with id {lead_id}", hint="start from the first page")
    return found


def lead_page(
    session: Session,
    f: LeadFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = PAGE_SIZE,
) -> LeadPage:
    """Leads matching `f`, newest first, `size` of them after (or before) the given lead."""
    if before is not None:
        found = newest_leads(session, f, before=_cursor(session, before, "before"), limit=size + 1)
    else:
        start = _cursor(session, after, "after") if after is not None else None
        found = newest_leads(session, f, after=start, limit=size + 1)
    more = len(found) > size
    found = found[:size]
    if before is not None:
        found.reverse()
    rows = leads_of(session, found, f)
    if before is not None:
        next_after = rows[-1].finding_id if rows else None
        prev_before = rows[0].finding_id if rows and more else None
    else:
        next_after = rows[-1].finding_id if rows and more else None
        prev_before = rows[0].finding_id if rows and after is not None else None
    return LeadPage(rows, next_after, prev_before)


def leads_of(session: Session, found: Sequence[LeadHit], f: LeadFilter) -> list[LeadRow]:
    """LeadRows for (Finding, Document, lead key, rank) rows, built as `query_leads` builds
    them: contacts, businesses, registry checks, every URL."""
    return lead_rows(session, found, lead_pages(session, [key for _, _, key, _ in found], f))


def lead_by_id(session: Session, finding_id: int) -> LeadRow | None:
    """The lead a finding id belongs to (any kind), as its representative row; None if the
    id is unknown. The row's `finding_id` may differ: a lead is shown by its first page."""
    f = LeadFilter(kinds=())
    found = newest_leads(session, f, finding_ids=[finding_id], limit=1)
    rows = leads_of(session, found, f)
    return rows[0] if rows else None


@dataclass(frozen=True)
class FirmCheck:
    """A firm named on a page and what the registry said of it (empty when not matched)."""

    entity_id: int
    name: str
    kind: str  # business | uscc
    checked: bool
    verdict: str = ""
    verdict_reason: str = ""  # why in or out of scope (quotes the registered 经营范围)
    match_reason: str = ""  # why this registration was picked
    registered_name: str = ""
    uscc: str = ""
    status: str = ""
    registry_row: str = ""  # file:row the registration was imported from


def firm_checks(session: Session, document_id: int) -> list[FirmCheck]:
    """The firms (names and USCC codes) named on one page, with their registry verdicts."""
    found = session.execute(
        select(Entity, BusinessMatch, Registration)
        .join(Mention, Mention.entity_id == Entity.id)
        .outerjoin(BusinessMatch, BusinessMatch.entity_id == Entity.id)
        .outerjoin(Registration, Registration.id == BusinessMatch.registration_id)
        .where(Mention.document_id == document_id, Entity.kind.in_(BUSINESS_KINDS))
        .order_by(Mention.start, Entity.id)
    ).all()
    out: dict[int, FirmCheck] = {}
    for entity, match, reg in found:
        if entity.id in out:
            continue
        name = entity.display or entity.key
        if match is None:
            out[entity.id] = FirmCheck(entity.id, name, entity.kind, False)
            continue
        out[entity.id] = FirmCheck(
            entity.id,
            name,
            entity.kind,
            True,
            verdict=match.verdict,
            verdict_reason=match.verdict_reason,
            match_reason=match.reason,
            registered_name=reg.name if reg else "",
            uscc=reg.uscc if reg else "",
            status=reg.status if reg else "",
            registry_row=f"{PurePath(reg.source_file).name}:{reg.source_row}"
            if reg and reg.source_file
            else "",
        )
    checks = list(out.values())
    shown = {c.uscc for c in checks if c.checked and c.uscc}
    return [c for c in checks if not (c.kind == "uscc" and not c.checked and c.name in shown)]
