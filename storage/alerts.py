"""Alert rules evaluated over the database, and the `alert_events` bookkeeping.

Each rule kind is one `select()` (plus a little Python where JSON columns differ between
SQLite and PostgreSQL) returning `Found` things. An event is recorded once per (rule, key),
the table's unique constraint guarding against two checkers at once, with a `deliveries`
entry per channel (status pending|sent|failed|queued, attempts, time, error): a failed
delivery stays due and is retried by the next check.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipelines.alert_rules import (
    NewActorRule,
    NewLeadRule,
    SourceFailingRule,
    TemplateBurstRule,
)
from pipelines.timeutil import CHINA_TZ
from storage.models import (
    Actor,
    AlertEvent,
    CrawlRun,
    Document,
    Entity,
    Finding,
    Mention,
    Template,
    utcnow,
)

# How far back a failing streak is followed (runs per source); longer streaks keep the key
# of the oldest run in view.
STREAK_LOOKBACK = 500
# A delivery that failed this many times is given up (status "abandoned"), not retried.
MAX_ATTEMPTS = 20
# Events older than this are no longer sent or retried (checks read only the recent ones).
RETRY_DAYS = 7
# Lists inside payloads (words, contacts, accounts) are cut to this many entries.
LIST_CAP = 8


@dataclass(frozen=True)
class Found:
    """One thing a rule fired on: its dedup key and what the message needs."""

    rule: str
    key: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Due:
    """An event with a delivery still to make on one channel."""

    event_id: int
    rule: str
    key: str
    channel: str
    payload: dict[str, Any]
    attempts: int


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def local_day(now: datetime) -> str:
    """The calendar day in China (UTC+8) of `now`, as YYYY-MM-DD."""
    return now.astimezone(CHINA_TZ).date().isoformat()


def _terms(evidence: list[Any], categories: list[str]) -> list[str]:
    """Distinct matched words of a finding, terms of its categories first."""
    terms = [e for e in evidence if isinstance(e, dict) and e.get("kind") == "term"]
    terms.sort(key=lambda e: e.get("label") not in categories)
    words = [str(e.get("raw") or e.get("term") or "") for e in terms]
    return list(dict.fromkeys(w for w in words if w))[:LIST_CAP]


def find_new_leads(
    session: Session, rule: NewLeadRule, now: datetime, labels: dict[str, str] | None = None
) -> list[Found]:
    """Leads analysed within the rule's window, in its category, at or above its score;
    one per lead (pages of one thread share a lead key), not dismissed by a reviewer."""
    cutoff = now - timedelta(hours=rule.within_hours)
    stmt = (
        select(Finding, Document.url, Document.title, Document.source_id, Document.lead_key)
        .join(Document, Finding.document_id == Document.id)
        .where(
            Finding.kind == "promotion",
            Finding.score >= rule.min_score,
            Finding.analyzed_at >= cutoff,
            Finding.review_status != "dismissed",
        )
        .order_by(Finding.score.desc(), Finding.document_id)
    )
    out: dict[str, Found] = {}
    for finding, url, title, source_id, lead_key in session.execute(stmt):
        categories = [str(c) for c in finding.categories or []]
        if rule.category is not None and rule.category not in categories:
            continue
        key = f"lead:{lead_key or finding.document_id}"
        if key in out:  # best-scoring page of the lead first
            continue
        out[key] = Found(
            rule.id,
            key,
            {
                "kind": "new_lead",
                "rule": rule.id,
                "document_id": finding.document_id,
                "url": url,
                "title": title,
                "source_id": source_id,
                "categories": categories,
                "category_labels": [(labels or {}).get(c, c) for c in categories],
                "score": round(float(finding.score), 4),
                "min_score": rule.min_score,
                "reason": finding.reason,
                "words": _terms(list(finding.evidence or []), categories),
            },
        )
    return list(out.values())


def find_new_actors(session: Session, rule: NewActorRule, now: datetime) -> list[Found]:
    """Actors of at least `min_size` pages active (last seen) within the window; ids are
    stable across re-linking (storage.linking), so each actor is announced once."""
    cutoff = now - timedelta(hours=rule.within_hours)
    actors = list(
        session.scalars(
            select(Actor)
            .where(Actor.size >= rule.min_size, Actor.last_seen >= cutoff)
            .order_by(Actor.id)
        )
    )
    contacts: dict[int, list[str]] = defaultdict(list)
    urls: dict[int, str] = {}
    ids = [a.id for a in actors]
    if ids:
        rows = session.execute(
            select(Entity.actor_id, Entity.display, Entity.key)
            .where(Entity.actor_id.in_(ids), Entity.kind != "business")
            .order_by(Entity.id)
        )
        for actor_id, display, key in rows:
            contacts[actor_id].append(display or key)
        sample = session.execute(
            select(Entity.actor_id, func.min(Document.url))
            .join(Mention, Mention.entity_id == Entity.id)
            .join(Document, Document.id == Mention.document_id)
            .where(Entity.actor_id.in_(ids))
            .group_by(Entity.actor_id)
        )
        urls = {actor_id: url for actor_id, url in sample}
    return [
        Found(
            rule.id,
            f"actor:{a.id}",
            {
                "kind": "new_actor",
                "rule": rule.id,
                "actor_id": a.id,
                "label": a.label,
                "size": a.size,
                "contacts": contacts[a.id][:LIST_CAP],
                "first_seen": (_utc(a.first_seen) or now).isoformat(timespec="minutes"),
                "url": urls.get(a.id, ""),
            },
        )
        for a in actors
    ]


def find_template_bursts(session: Session, rule: TemplateBurstRule, now: datetime) -> list[Found]:
    """Templates posted by at least `accounts` distinct authors within the last `hours`
    (post time, else fetch time); keyed per template and day, so a burst is told once a day."""
    cutoff = now - timedelta(hours=rule.hours)
    stmt = (
        select(
            Finding.template_id,
            Document.author,
            Document.url,
            Document.published_at,
            Document.fetched_at,
        )
        .join(Document, Finding.document_id == Document.id)
        .where(
            Finding.template_id.is_not(None),
            or_(Document.published_at >= cutoff, Document.fetched_at >= cutoff),
        )
        .order_by(Document.id)
    )
    authors: dict[int, dict[str, str]] = defaultdict(dict)
    for template_id, author, url, published, fetched in session.execute(stmt):
        when = _utc(published) or _utc(fetched)
        name = (author or "").strip()
        if name and when is not None and cutoff <= when <= now + timedelta(minutes=5):
            authors[template_id].setdefault(name, url)
    hot = {t: a for t, a in authors.items() if len(a) >= rule.accounts}
    if not hot:
        return []
    rows = session.execute(select(Template.id, Template.excerpt).where(Template.id.in_(hot)))
    excerpts = {template_id: excerpt for template_id, excerpt in rows}
    day = local_day(now)
    return [
        Found(
            rule.id,
            f"template:{t}:{day}",
            {
                "kind": "template_burst",
                "rule": rule.id,
                "template_id": t,
                "accounts": len(names),
                "threshold": rule.accounts,
                "hours": rule.hours,
                "account_names": list(names)[:LIST_CAP],
                "excerpt": excerpts.get(t, ""),
                "url": next(iter(names.values())),
            },
        )
        for t, names in sorted(hot.items())
    ]


def find_failing_sources(session: Session, rule: SourceFailingRule, now: datetime) -> list[Found]:
    """Sources whose newest `runs` ended runs all failed; the key names the oldest failed run
    of the streak, so one streak is told once and a new streak (after a success) again."""
    rank = (
        func.row_number()
        .over(
            partition_by=CrawlRun.source_id,
            order_by=(CrawlRun.started_at.desc(), CrawlRun.id.desc()),
        )
        .label("rank")
    )
    inner = select(CrawlRun.id, CrawlRun.source_id, CrawlRun.status, CrawlRun.message, rank).where(
        CrawlRun.status != "running"
    )
    if rule.source is not None:
        inner = inner.where(CrawlRun.source_id == rule.source)
    sub = inner.subquery()
    rows = session.execute(
        select(sub.c.id, sub.c.source_id, sub.c.status, sub.c.message)
        .where(sub.c.rank <= STREAK_LOOKBACK)
        .order_by(sub.c.source_id, sub.c.rank)
    )
    streaks: dict[str, list[tuple[int, str]]] = {}
    broken: set[str] = set()
    for run_id, source_id, status, message in rows:
        if source_id in broken:
            continue
        if status != "failed":
            broken.add(source_id)
            continue
        streaks.setdefault(source_id, []).append((run_id, message or ""))
    out = []
    for source_id, runs in sorted(streaks.items()):
        if len(runs) < rule.runs:
            continue
        out.append(
            Found(
                rule.id,
                f"source:{source_id}:from-run:{runs[-1][0]}",
                {
                    "kind": "source_failing",
                    "rule": rule.id,
                    "source_id": source_id,
                    "runs": len(runs),
                    "run_ids": [r for r, _ in runs[:LIST_CAP]],
                    "last_message": runs[0][1],
                },
            )
        )
    return out


def evaluate(
    session: Session, rule: Any, now: datetime, labels: dict[str, str] | None = None
) -> list[Found]:
    """What one rule fires on now (recorded or not)."""
    if isinstance(rule, NewLeadRule):
        return find_new_leads(session, rule, now, labels)
    if isinstance(rule, NewActorRule):
        return find_new_actors(session, rule, now)
    if isinstance(rule, TemplateBurstRule):
        return find_template_bursts(session, rule, now)
    if isinstance(rule, SourceFailingRule):
        return find_failing_sources(session, rule, now)
    raise TypeError(f"unknown rule type {type(rule).__name__}")


def known_keys(session: Session, rule_id: str, keys: list[str]) -> set[str]:
    """Which of `keys` already have an event for this rule."""
    out: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        stmt = select(AlertEvent.key).where(AlertEvent.rule == rule_id, AlertEvent.key.in_(chunk))
        out.update(session.scalars(stmt))
    return out


def record_events(
    session: Session, found: list[Found], channels: list[str], digest: bool, now: datetime
) -> list[int]:
    """Insert an event for each thing not announced before; returns the new event ids.

    Each insert has its own savepoint: a key another checker recorded meanwhile is skipped.
    """
    if not found:
        return []
    known = known_keys(session, found[0].rule, [f.key for f in found])
    status = "queued" if digest else "pending"
    new_ids = []
    for item in found:
        if item.key in known:
            continue
        event = AlertEvent(
            rule=item.rule,
            key=item.key[:300],
            created_at=now,
            payload=item.payload,
            deliveries={ch: {"status": status, "attempts": 0} for ch in channels},
        )
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
        except IntegrityError:
            continue
        new_ids.append(event.id)
    return new_ids


def due_deliveries(
    session: Session,
    rule_id: str,
    channels: list[str],
    statuses: tuple[str, ...],
    since: datetime | None = None,
) -> list[Due]:
    """Events of a rule (made at or after `since`) with a delivery in one of `statuses` on one
    of `channels`, oldest first."""
    out = []
    stmt = (
        select(AlertEvent)
        .where(AlertEvent.rule == rule_id, ~AlertEvent.key.startswith("digest:"))
        .order_by(AlertEvent.created_at, AlertEvent.id)
    )
    if since is not None:
        stmt = stmt.where(AlertEvent.created_at >= since)
    for event in session.scalars(stmt):
        for channel in channels:
            entry = (event.deliveries or {}).get(channel) or {"status": "pending", "attempts": 0}
            if entry.get("status") in statuses:
                out.append(
                    Due(
                        event.id,
                        event.rule,
                        event.key,
                        channel,
                        dict(event.payload or {}),
                        int(entry.get("attempts", 0)),
                    )
                )
    return out


def mark_delivered(
    session: Session,
    event_id: int,
    channel: str,
    ok: bool,
    error: str = "",
    now: datetime | None = None,
    digest: str = "",
) -> None:
    """Record one channel's delivery attempt of an event (a new dict: JSON change tracked)."""
    event = session.get(AlertEvent, event_id)
    if event is None:
        return
    deliveries = dict(event.deliveries or {})
    entry = dict(deliveries.get(channel) or {})
    attempts = int(entry.get("attempts", 0)) + 1
    failed = "abandoned" if attempts >= MAX_ATTEMPTS else "failed"
    entry.update(
        status="sent" if ok else failed,
        attempts=attempts,
        at=(now or utcnow()).isoformat(timespec="seconds"),
        error="" if ok else error[:500],
    )
    if digest:
        entry["digest"] = digest
    deliveries[channel] = entry
    event.deliveries = deliveries
    session.flush()


def still_due(
    session: Session, event_id: int, channel: str, statuses: tuple[str, ...], lock: bool
) -> bool:
    """Whether the event's delivery on `channel` is still due. With `lock` (PostgreSQL) the
    row stays locked until this transaction ends, and a row another checker holds is not due:
    two checkers at once never send one message twice."""
    stmt = select(AlertEvent.deliveries).where(AlertEvent.id == event_id)
    if lock:
        stmt = stmt.with_for_update(skip_locked=True)
    deliveries = session.scalar(stmt)
    if deliveries is None:
        return False
    entry = deliveries.get(channel) or {"status": "pending"}
    return entry.get("status") in statuses


def claim_digest(session: Session, rule_id: str, channel: str, day: str) -> bool:
    """PostgreSQL: take the rule's `digest:<day>` row (made if missing) for this transaction;
    False when another checker holds it or the day's digest went out on `channel`."""
    key = f"digest:{day}"
    try:
        with session.begin_nested():
            session.add(AlertEvent(rule=rule_id, key=key, payload={"kind": "digest", "day": day}))
            session.flush()
    except IntegrityError:
        pass
    stmt = select(AlertEvent).where(AlertEvent.rule == rule_id, AlertEvent.key == key)
    event = session.scalar(stmt.with_for_update(skip_locked=True))
    if event is None:
        return False
    entry = (event.deliveries or {}).get(channel)
    return not (entry and entry.get("status") == "sent")


def digest_sent(session: Session, rule_id: str, channel: str, day: str) -> bool:
    """Whether the rule's digest for `day` went out on `channel` already."""
    event = session.scalar(
        select(AlertEvent).where(AlertEvent.rule == rule_id, AlertEvent.key == f"digest:{day}")
    )
    entry = (event.deliveries or {}).get(channel) if event is not None else None
    return bool(entry and entry.get("status") == "sent")


def record_digest(
    session: Session, rule_id: str, channel: str, day: str, ok: bool, error: str, count: int
) -> None:
    """Keep the day's digest attempt on the `digest:<day>` row of the rule (one a day)."""
    key = f"digest:{day}"
    event = session.scalar(
        select(AlertEvent).where(AlertEvent.rule == rule_id, AlertEvent.key == key)
    )
    if event is None:
        event = AlertEvent(rule=rule_id, key=key, payload={"kind": "digest", "day": day})
        session.add(event)
        session.flush()
    payload = dict(event.payload or {})
    payload["count"] = count
    event.payload = payload
    mark_delivered(session, event.id, channel, ok, error)


@dataclass(frozen=True)
class EventRow:
    """One recorded event for `greywatch alerts list`."""

    id: int
    rule: str
    key: str
    created_at: datetime
    deliveries: dict[str, Any]
    summary: str


def list_events(session: Session, rule: str | None = None, limit: int = 50) -> list[EventRow]:
    """The newest events first, optionally of one rule."""
    stmt = select(AlertEvent).order_by(AlertEvent.created_at.desc(), AlertEvent.id.desc())
    if rule:
        stmt = stmt.where(AlertEvent.rule == rule)
    out = []
    for e in session.scalars(stmt.limit(limit)):
        p = e.payload or {}
        summary = str(
            p.get("title") or p.get("label") or p.get("source_id") or p.get("excerpt") or ""
        )
        out.append(
            EventRow(
                e.id, e.rule, e.key, _utc(e.created_at) or e.created_at, e.deliveries or {}, summary
            )
        )
    return out
