"""The lead filters, defined once for `greywatch leads` and `greywatch leads export`.

What an analyst typed (`FilterInput`) is checked value by value and turned into a
`storage.repo.LeadFilter`: a filter never fails silently. An unknown category, kind or review
state is an InputError naming the valid ones; an unknown source or actor is an InputError
naming the known ones; contacts are matched however they were written (by their normalized
value, the one stored for each contact).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.contacts import extract_contacts
from pipelines.errors import InputError
from pipelines.timeutil import parse_since
from storage.models import REVIEW_STATUSES, Actor, Source
from storage.repo import LeadFilter

KINDS = ("promotion", "warning", "other")

# At most this many known values are listed in an error (sources can be many).
_LISTED = 20


@dataclass(frozen=True)
class FilterInput:
    """The lead filters as typed on the command line; None or empty means "any"."""

    since: str | None = None
    until: str | None = None
    categories: Sequence[str] = ()
    kinds: Sequence[str] = ()
    min_score: float | None = None
    sources: Sequence[str] = ()
    review: Sequence[str] = ()
    actor: int | None = None
    contact: str | None = None
    keyword: str | None = None
    firm: str | None = None
    limit: int | None = None


def category_names() -> dict[str, str]:
    """Category key -> Chinese name, from the lexicon in use (a broken lexicon is an error:
    categories could not be checked)."""
    from pipelines.lexicon import Lexicon

    return dict(Lexicon.load().labels)


def _listing(values: Iterable[str]) -> str:
    values = list(values)
    more = f" … ({len(values) - _LISTED} more)" if len(values) > _LISTED else ""
    return ", ".join(values[:_LISTED]) + more


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def check_categories(values: Iterable[str], flag: str = "--category") -> tuple[str, ...]:
    """Category keys from keys or Chinese names (征信修复 -> credit_repair), or InputError."""
    names = category_names()
    by_name = {name: key for key, name in names.items()}
    out = []
    for value in values:
        v = value.strip()
        key = v if v in names else by_name.get(v) or (v.lower() if v.lower() in names else None)
        if key is None:
            choices = _listing(f"{k} ({n})" for k, n in names.items())
            raise InputError(f"{flag}: unknown category {value!r}", hint=f"use one of: {choices}")
        out.append(key)
    return _unique(out)


def check_choices(values: Iterable[str], allowed: Sequence[str], flag: str) -> tuple[str, ...]:
    """`values` if each is one of `allowed` (case and spaces forgiven), else InputError."""
    out = []
    for value in values:
        v = value.strip().lower()
        if v not in allowed:
            raise InputError(
                f"{flag}: unknown value {value!r}", hint=f"use one of: {', '.join(allowed)}"
            )
        out.append(v)
    return _unique(out)


def check_sources(session: Session, values: Iterable[str]) -> tuple[str, ...]:
    """`values` if each is a known source id, else InputError naming the known ones."""
    wanted = _unique(v.strip() for v in values)
    if not wanted:
        return ()
    known = list(session.scalars(select(Source.id).order_by(Source.id)))
    for value in wanted:
        if value not in known:
            hint = f"known sources: {_listing(known)}" if known else "no source has been crawled"
            raise InputError(f"--source: unknown source {value!r}", hint=hint)
    return wanted


def check_actor(session: Session, actor: int | None) -> int | None:
    """`actor` if an actor with that id exists, else InputError."""
    if actor is None or session.get(Actor, actor) is not None:
        return actor
    count = len(session.scalars(select(Actor.id)).all())
    hint = (
        f"`greywatch actors` lists the {count} actors"
        if count
        else "there are no actors yet: run `greywatch link` first"
    )
    raise InputError(f"--actor: no actor with id {actor}", hint=hint)


def contact_keys(value: str) -> tuple[str, ...]:
    """The normalized values a typed contact stands for, however it was written:
    138-0013-8000 and +86 138 0013 8000 -> +8613800138000; an id as typed otherwise."""
    text = value.strip()
    if not text:
        raise InputError("--contact: empty value", hint="e.g. --contact 13800138000")
    found = _unique(c.value for c in extract_contacts(text))
    return found or (text.lower(),)


def check_score(value: float | None) -> float:
    """A --min-score between 0 and 1, else InputError."""
    if value is None:
        return 0.0
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InputError(f"--min-score: {value} is not between 0 and 1", hint="e.g. 0.5")
    return value


def check_window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """(--since, --until) as times; InputError if one cannot be read or they are reversed."""
    start = parse_since(since, "--since") if since else None
    end = parse_since(until, "--until") if until else None
    if start and end and start >= end:
        raise InputError(
            f"--since {since} is not before --until {until}: no lead can match",
            hint="--since is the earliest fetch time, --until the first one excluded",
        )
    return start, end


def _text(value: str | None, flag: str) -> str:
    if value is None:
        return ""
    if not value.strip():
        raise InputError(f"{flag}: empty value")
    return value.strip()


def parse_filter(given: FilterInput) -> LeadFilter:
    """The filter with every value checked that needs no database (InputError on the first
    bad one); sources and actor are checked by `check_known` once the database is open."""
    since, until = check_window(given.since, given.until)
    if given.limit is not None and given.limit < 0:
        raise InputError(f"--limit: {given.limit} is negative", hint="0 lists every lead")
    return LeadFilter(
        since=since,
        until=until,
        categories=check_categories(given.categories),
        kinds=check_choices(given.kinds, KINDS, "--kind") or ("promotion",),
        min_score=check_score(given.min_score),
        sources=_unique(v.strip() for v in given.sources),
        review=check_choices(given.review, REVIEW_STATUSES, "--review"),
        actor_id=given.actor,
        contacts=contact_keys(given.contact) if given.contact is not None else (),
        keyword=_text(given.keyword, "--keyword"),
        firm=_text(given.firm, "--firm"),
        limit=given.limit or None,
    )


def check_known(session: Session, f: LeadFilter) -> LeadFilter:
    """`f` if its sources and actor exist in the database, else InputError naming them."""
    check_sources(session, f.sources)
    check_actor(session, f.actor_id)
    return f


def build_filter(session: Session, given: FilterInput) -> LeadFilter:
    """`parse_filter` then `check_known`: every value checked."""
    return check_known(session, parse_filter(given))


def describe(f: LeadFilter) -> str:
    """The filter in a few words, for "no leads match …" (empty when it narrows nothing)."""
    parts = []
    for label, value in (
        ("contact", "/".join(f.contacts)),
        ("keyword", f.keyword),
        ("firm", f.firm),
        ("source", ", ".join(f.sources)),
        ("category", ", ".join(f.categories)),
        ("review", ", ".join(f.review)),
        ("actor", "" if f.actor_id is None else str(f.actor_id)),
    ):
        if value:
            parts.append(f"{label} {value}")
    return "; ".join(parts)
