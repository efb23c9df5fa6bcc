"""What the web dashboard shows: recent leads by day and category, top sources, new actors,
template bursts and failing sources, each item with the lead filter that lists it.

Every query is a typed `select()`; the filters are plain dicts keyed by the CLI's flag names
(`since`, `until`, `category`, `source`, `actor`), so the web layer turns each into a
`/leads?…` URL that `storage.filters.build_filter` reads back to the same leads.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from pipelines import timeutil
from storage.linking import _account_keys, _DocInfo
from storage.models import Actor, CrawlRun, Document, Finding, Source, Template
from storage.repo import lead_key

CHINA_TZ = timeutil.CHINA_TZ
LEAD_KIND = "promotion"
# Days of the chart and of "new" on the dashboard: a fortnight shows a weekly rhythm twice.
DEFAULT_DAYS = 14
# A template burst: this many accounts posting one wording within this many hours. Three
# accounts in a day is more than coincidence for a forum ad; tuned by the caller if needed.
BURST_ACCOUNTS = 3
BURST_HOURS = 24
# Items listed per dashboard panel: the top of each list, the rest is one click away.
PANEL_ROWS = 10
# A source is failing when its latest runs failed; it is listed with how many in a row.
FAILED = "failed"
# Seconds a computed dashboard is shown again (to every user) before it is counted anew:
# its panels read a fortnight of leads (about 1.5 s at 100,000 leads, bench/web.py), and a
# minute-old count is as good for a trend. New pages, runs, actors or templates count anew
# at once (see `_fingerprint`); the page says how old its figures are.
CACHE_SECONDS = 60

Filter = dict[str, str]


@dataclass(frozen=True)
class DayCount:
    """Leads first fetched on one Beijing day in one category (a lead in two categories
    counts in both)."""

    day: date
    category: str
    leads: int
    filter: Filter


@dataclass(frozen=True)
class SourceCount:
    """A source and how many leads it yielded in the window."""

    source_id: str
    name: str
    leads: int
    filter: Filter


@dataclass(frozen=True)
class NewActor:
    """An actor (documents joined by a shared contact) first seen in the window."""

    actor_id: int
    label: str
    size: int
    first_seen: datetime | None
    last_seen: datetime | None
    filter: Filter


@dataclass(frozen=True)
class Burst:
    """A template posted by `accounts` different accounts within `hours` hours."""

    template_id: int
    excerpt: str
    accounts: int
    posts: int
    start: datetime
    end: datetime
    filter: Filter  # the burst's time window: lists the leads fetched then


@dataclass(frozen=True)
class FailingSource:
    """A source whose latest run failed, with how many of its latest runs failed in a row."""

    source_id: str
    name: str
    run_id: int
    failed_runs: int
    started_at: datetime
    message: str
    filter: Filter


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows, for the `days` up to `now`."""

    now: datetime
    days: int
    per_day: list[DayCount]
    top_sources: list[SourceCount]
    new_actors: list[NewActor]
    bursts: list[Burst]
    failing: list[FailingSource]


def window_start(now: datetime, days: int) -> datetime:
    """Beijing midnight `days - 1` days before `now`'s Beijing day: the chart's first day."""
    today = timeutil.as_china(now).date()
    return datetime.combine(today - timedelta(days=days - 1), time(), CHINA_TZ)


def day_filter(day: date, category: str) -> Filter:
    """The lead filter of one chart bar: that Beijing day, that category."""
    start = datetime.combine(day, time(), CHINA_TZ)
    return {
        "since": start.isoformat(timespec="minutes"),
        "until": (start + timedelta(days=1)).isoformat(timespec="minutes"),
        "category": category,
    }


def _china_day(session: Session) -> Any:
    """SQL: the Beijing date of Document.fetched_at (stored as UTC), per dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Shanghai", Document.fetched_at))
    return func.date(Document.fetched_at, "+8 hours")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _window(since: datetime, until: datetime) -> list[Any]:
    """Conditions: lead pages fetched in [since, until)."""
    return [
        Finding.kind == LEAD_KIND,
        Document.fetched_at >= timeutil.as_utc(since),
        Document.fetched_at < timeutil.as_utc(until),
    ]


def leads_per_day(session: Session, since: datetime, until: datetime) -> list[DayCount]:
    """Leads per Beijing day and category among pages fetched in [since, until), oldest day
    first; a lead counts once per day whatever number of its pages were fetched then, as the
    leads list counts it. Counted in the database over two indexes (migration 0006), so the
    wide finding and document rows are never read. (Pages of one lead fetched the same day
    with different category lists would count it once per list: a rare, harmless excess.)"""
    day = _china_day(session).label("day")
    cats = cast(Finding.categories, Text).label("cats")
    stmt = (
        select(day, cats, func.count(func.distinct(lead_key())))
        .select_from(Finding)
        .join(Document, Finding.document_id == Document.id)
        .where(*_window(since, until))
        .group_by(day, cats)
    )
    counts: dict[tuple[date, str], int] = defaultdict(int)
    for raw_day, raw_cats, n in session.execute(stmt):
        for category in json.loads(raw_cats or "[]") or ():
            counts[(_as_date(raw_day), str(category))] += n
    return [DayCount(d, c, n, day_filter(d, c)) for (d, c), n in sorted(counts.items())]


def top_sources(
    session: Session, since: datetime, until: datetime, limit: int = PANEL_ROWS
) -> list[SourceCount]:
    """Sources with the most leads among pages fetched in [since, until), most first."""
    n = func.count(func.distinct(lead_key())).label("n")
    stmt = (
        select(Document.source_id, n)
        .select_from(Finding)
        .join(Document, Finding.document_id == Document.id)
        .where(*_window(since, until), Document.source_id.is_not(None))
        .group_by(Document.source_id)
        .order_by(n.desc(), Document.source_id)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    names = dict(
        session.execute(
            select(Source.id, Source.name).where(Source.id.in_([sid for sid, _ in rows]))
        ).all()
    )
    start = since.isoformat(timespec="minutes")
    return [
        SourceCount(sid, names.get(sid) or sid, count, {"source": sid, "since": start})
        for sid, count in rows
    ]


def new_actors(session: Session, since: datetime, limit: int = PANEL_ROWS) -> list[NewActor]:
    """Actors of two or more documents first seen since `since`, newest first."""
    stmt = (
        select(Actor)
        .where(Actor.size >= 2, Actor.first_seen >= timeutil.as_utc(since))
        .order_by(Actor.first_seen.desc(), Actor.id.desc())
        .limit(limit)
    )
    return [
        NewActor(
            a.id,
            a.label,
            a.size,
            timeutil.as_utc_opt(a.first_seen),
            timeutil.as_utc_opt(a.last_seen),
            {"actor": str(a.id)},
        )
        for a in session.scalars(stmt)
    ]


def densest_window(
    posts: Sequence[tuple[datetime, str]], hours: float
) -> tuple[int, int, datetime, datetime] | None:
    """The span of at most `hours` holding the most distinct accounts among `posts`
    ((time, account) pairs): (accounts, posts, first, last), or None without posts."""
    ordered = sorted(posts)
    width = timedelta(hours=hours)
    best: tuple[int, int, datetime, datetime] | None = None
    lo = 0
    seen: dict[str, int] = defaultdict(int)
    for hi, (when, account) in enumerate(ordered):
        seen[account] += 1
        while when - ordered[lo][0] > width:
            gone = ordered[lo][1]
            seen[gone] -= 1
            if not seen[gone]:
                del seen[gone]
            lo += 1
        found = (len(seen), hi - lo + 1, ordered[lo][0], when)
        if best is None or found[:2] > best[:2]:
            best = found
    return best


def _template_posts(
    session: Session, template_ids: Iterable[int], since: datetime
) -> dict[int, list[tuple[datetime, str]]]:
    """template id -> (post time, account) of its lead documents posted since `since`; the
    account as linking counts it for Template.accounts (the author, else the contacts)."""
    posted = func.coalesce(Document.published_at, Document.fetched_at)
    rows = session.execute(
        select(
            Finding.template_id,
            Document.id,
            Document.source_id,
            Document.author,
            Document.published_at,
            Document.fetched_at,
        )
        .join(Document, Finding.document_id == Document.id)
        .where(
            Finding.template_id.in_(sorted(set(template_ids))),
            Finding.kind == LEAD_KIND,
            posted >= timeutil.as_utc(since),
            # implied (a page is fetched after it is posted), and what an index can find
            Document.fetched_at >= timeutil.as_utc(since),
        )
    ).all()
    infos = {
        doc_id: _DocInfo(
            src,
            (author or "").strip(),
            timeutil.as_utc_opt(pub) or timeutil.as_utc(fetched),
            "",
            "",
        )
        for _, doc_id, src, author, pub, fetched in rows
    }
    accounts = _account_keys(session, infos)
    out: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    for template_id, doc_id, *_ in rows:
        if doc_id in accounts:
            out[template_id].append((infos[doc_id].when, accounts[doc_id]))
    return out


def template_bursts(
    session: Session,
    since: datetime,
    accounts: int = BURST_ACCOUNTS,
    hours: float = BURST_HOURS,
    limit: int = PANEL_ROWS,
) -> list[Burst]:
    """Templates that `accounts` or more accounts posted within `hours` hours, among those
    seen since `since`; most accounts first."""
    candidates = session.execute(
        select(Template.id, Template.excerpt).where(
            Template.accounts >= accounts, Template.last_seen >= timeutil.as_utc(since)
        )
    ).all()
    excerpts = dict(candidates)
    out = []
    for template_id, posts in _template_posts(session, excerpts, since).items():
        found = densest_window(posts, hours)
        if found is None or found[0] < accounts:
            continue
        n_accounts, n_posts, start, end = found
        window = {
            "since": timeutil.as_china(start).isoformat(timespec="minutes"),
            "until": timeutil.as_china(end + timedelta(minutes=1)).isoformat(timespec="minutes"),
        }
        out.append(
            Burst(template_id, excerpts[template_id], n_accounts, n_posts, start, end, window)
        )
    out.sort(key=lambda b: (-b.accounts, -b.posts, b.template_id))
    return out[:limit]


def failing_sources(session: Session, lookback: int = 5) -> list[FailingSource]:
    """Sources whose latest finished run failed, with the count of failures in a row among
    their last `lookback` runs, most failures first. Running runs are not judged."""
    ranked = (
        select(
            CrawlRun.id,
            CrawlRun.source_id,
            CrawlRun.status,
            CrawlRun.started_at,
            CrawlRun.message,
            func.row_number()
            .over(
                partition_by=CrawlRun.source_id,
                order_by=(CrawlRun.started_at.desc(), CrawlRun.id.desc()),
            )
            .label("n"),
        )
        .where(CrawlRun.status != "running")
        .subquery()
    )
    rows = session.execute(
        select(ranked, Source.name)
        .join(Source, Source.id == ranked.c.source_id)
        .where(ranked.c.n <= lookback)
        .order_by(ranked.c.source_id, ranked.c.n)
    ).all()
    runs: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        runs[row.source_id].append(row)
    out = []
    for source_id, latest in runs.items():
        streak = 0
        for row in latest:
            if row.status != FAILED:
                break
            streak += 1
        if streak:
            top = latest[0]
            out.append(
                FailingSource(
                    source_id,
                    top.name or source_id,
                    top.id,
                    streak,
                    timeutil.as_utc(top.started_at),
                    top.message or "",
                    {"source": source_id},
                )
            )
    out.sort(key=lambda f: (-f.failed_runs, f.source_id))
    return out


def dashboard(session: Session, now: datetime, days: int = DEFAULT_DAYS) -> Dashboard:
    """All the dashboard's panels for the `days` Beijing days up to `now`."""
    since = window_start(now, days)
    return Dashboard(
        now=now,
        days=days,
        per_day=leads_per_day(session, since, now),
        top_sources=top_sources(session, since, now),
        new_actors=new_actors(session, since),
        bursts=template_bursts(session, since),
        failing=failing_sources(session),
    )


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """What changes when the dashboard's figures may: the newest page, finding, run, actor
    and template (read from indexes: a millisecond)."""
    return tuple(
        session.execute(
            select(
                select(func.max(Document.id)).scalar_subquery(),
                select(func.max(Finding.id)).scalar_subquery(),
                select(func.max(CrawlRun.id)).scalar_subquery(),
                select(func.max(CrawlRun.finished_at)).scalar_subquery(),
                select(func.max(Actor.first_seen)).scalar_subquery(),
                select(func.max(Template.last_seen)).scalar_subquery(),
            )
        ).one()
    )


_cache: dict[tuple[Any, ...], tuple[float, Dashboard]] = {}
_cache_lock = threading.Lock()


def cached_dashboard(
    session: Session, now: datetime, days: int = DEFAULT_DAYS, max_age: float = CACHE_SECONDS
) -> Dashboard:
    """`dashboard(...)`, reused for `max_age` seconds while the data stays the same; its
    `now` is when it was counted (show it: "截至 HH:MM")."""
    bind = session.get_bind()
    key = (
        bind.url.render_as_string(hide_password=True),
        days,
        window_start(now, days),
        _fingerprint(session),
    )
    with _cache_lock:
        found = _cache.get(key)
    if found is not None and monotonic() - found[0] < max_age and found[1].now <= now:
        return found[1]
    board = dashboard(session, now, days)
    with _cache_lock:
        for old in [k for k, (at, _) in _cache.items() if monotonic() - at >= max_age]:
            del _cache[old]
        _cache[key] = (monotonic(), board)
    return board


def clear_cache() -> None:
    """Forget every cached dashboard (tests, and after bulk changes)."""
    with _cache_lock:
        _cache.clear()
