"""Storage operations: save a fetched page with its analysis, record crawl runs, query leads.

Every function takes an open Session and leaves committing to the caller
(`storage.db.session_scope`). Datetimes are stored as UTC and returned timezone-aware.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    String,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from pipelines import timeutil
from pipelines.errors import StorageError
from pipelines.model import Analysis
from pipelines.neardup import (
    IDENTIFYING_KINDS,
    Fingerprint,
    Poster,
    fingerprint,
    near_duplicate,
    posters_agree,
)
from pipelines.normalize import normalize
from storage.models import (
    REVIEW_STATUSES,
    BusinessMatch,
    CrawlRun,
    Document,
    Entity,
    Finding,
    Mention,
    Registration,
    Source,
    SourcePage,
    utcnow,
)

RUN_STATUSES = ("running", "finished", "failed")

# zlib level 6 (the default) gets HTML to ~20-25 % of its size; higher levels barely help.
ZLIB_LEVEL = 6

# Characters of context on each side of the first evidence span in a lead's excerpt: enough
# for a reviewer to see the claim in its sentence, short enough for a table cell.
EXCERPT_CONTEXT = 60

# Documents re-analyzed per batch: bounds memory (the session forgets each batch).
REANALYZE_BATCH = 200

# Column widths from storage/models.py: longer values are cut rather than rejected.
_KEY_LEN, _RAW_LEN, _NOTE_LEN = 300, 500, 100


@dataclass(frozen=True)
class PageRecord:
    """A fetched page as the crawler hands it to storage (body = raw response bytes)."""

    url: str
    body: bytes
    fetched_at: datetime
    source_id: str | None = None
    run_id: int | None = None
    canonical_url: str = ""
    encoding: str = ""
    http_status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    title: str = ""
    text: str = ""
    author: str = ""
    published_at: datetime | None = None
    screenshot_path: str = ""
    rendered: bool = False
    etag: str = ""
    last_modified: str = ""


@dataclass(frozen=True)
class SaveResult:
    """What `save_page` did: `changed` is True when the raw bytes differ from the stored ones."""

    document_id: int
    created: bool
    changed: bool
    # First time this page's source records it (another source may have stored it before):
    # for that source's run the page is new, whatever the document's history.
    new_to_source: bool = False


@dataclass(frozen=True)
class KnownPage:
    """What the crawler needs to skip or revalidate a page it already has."""

    raw_sha256: str
    etag: str
    last_modified: str
    fetched_at: datetime


@dataclass
class LeadFilter:
    """Which leads `query_leads` returns; empty tuples mean "any".

    `storage.filters.build_filter` makes one from what an analyst typed, checking every value.
    Finding-level conditions (kind, score, category) hold for every page of a lead; page-level
    ones (time, source, actor, contact, keyword, firm) for at least one of its pages; the
    review state is the lead's (see `query_leads`).
    """

    since: datetime | None = None
    until: datetime | None = None
    categories: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ("promotion",)
    min_score: float = 0.0
    sources: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    actor_id: int | None = None
    limit: int | None = None
    contacts: tuple[str, ...] = ()  # normalized contact values (Entity.key): +8613800138000
    keyword: str = ""  # in the page title or text
    firm: str = ""  # part of a business name (advertised or registered), or a USCC

    def narrows(self) -> bool:
        """True when the filter selects fewer than all leads (a limit does not count)."""
        return any(
            (
                self.since,
                self.until,
                self.categories,
                tuple(self.kinds) not in ((), ("promotion",)),
                self.min_score,
                self.sources,
                self.review,
                self.actor_id is not None,
                self.contacts,
                self.keyword,
                self.firm,
            )
        )


@dataclass(frozen=True)
class LeadRow:
    """One lead with everything a reviewer needs to defend it."""

    finding_id: int
    document_id: int
    url: str
    source_id: str | None
    title: str
    fetched_at: datetime
    published_at: datetime | None
    kind: str
    categories: list[str]
    score: float
    reason: str
    contacts: list[dict[str, str]]
    businesses: list[str]
    evidence: list[dict[str, Any]]
    review_status: str
    review_note: str
    raw_sha256: str
    template_id: int | None
    actor_ids: list[int]
    excerpt: str
    # How each business named on the page checked out against the imported registry (empty
    # before `greywatch registry match --db-entities`): see `_registry_checks`.
    registry: list[dict[str, str]] = field(default_factory=list)
    # Every URL the lead was found at (the lead's own `url` among them: copies of its text,
    # its thread's other pages), and when it was first and last seen at any of them.
    urls: list[str] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    # The business(es) whose review state the lead shows when it has none of its own.
    review_from: list[str] = field(default_factory=list)


# --- helpers -------------------------------------------------------------------------------


utc = timeutil.as_utc  # the one definition, kept under its old name for callers


def _utc_opt(dt: datetime | None) -> datetime | None:
    return None if dt is None else utc(dt)


def _json_safe(value: Any) -> Any:
    """Scrapy stats hold datetimes and other objects: make them JSON (dates as ISO text)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):  # raw header values
        return value.decode("latin-1")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def body_of(doc: Document) -> bytes:
    """The raw response body of a stored document (decompressed)."""
    return zlib.decompress(doc.raw)


def html_of(doc: Document) -> str:
    """The stored body as text, decoded with the recorded encoding (UTF-8 if unknown)."""
    try:
        return body_of(doc).decode(doc.encoding or "utf-8", errors="replace")
    except LookupError:
        return body_of(doc).decode("utf-8", errors="replace")


def text_hash(text: str) -> str:
    """SHA-256 of the normalized text: equal for pages that differ only in obfuscation."""
    return hashlib.sha256(normalize(text).text.encode("utf-8")).hexdigest()


def _insert_for(session: Session) -> Callable[..., Any] | None:
    """The dialect's INSERT … ON CONFLICT construct (None on other backends)."""
    name = session.get_bind().dialect.name
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(name)


# --- sources and runs ----------------------------------------------------------------------


def upsert_source(session: Session, source_id: str, name: str, config: dict[str, Any]) -> None:
    """Create or update the source row (mirrors the sources YAML so runs can refer to it)."""
    src = session.get(Source, source_id)
    if src is None:
        session.add(Source(id=source_id, name=name, config=_json_safe(config), updated_at=utcnow()))
    else:
        src.name, src.config, src.updated_at = name, _json_safe(config), utcnow()
    session.flush()


def start_run(session: Session, source_id: str, trigger: str = "manual") -> int:
    """Record that a crawl of `source_id` starts now; returns the run id.

    A source never seen before gets a minimal row (name = id) so the run can refer to it.
    """
    if session.get(Source, source_id) is None:
        upsert_source(session, source_id, source_id, {})
    run = CrawlRun(source_id=source_id, trigger=trigger, started_at=utcnow(), status="running")
    session.add(run)
    session.flush()
    return run.id


def mark_interrupted(session: Session, run_id: int, found_by: int | None) -> bool:
    """Mark a run still "running" as failed/interrupted; only for a run whose process is known
    to be gone (its crawl lease was stale, see storage/lease.py). Returns whether it changed."""
    run = session.get(CrawlRun, run_id)
    if run is None or run.status != "running":
        return False
    by = f" (found by run {found_by})" if found_by is not None else ""
    run.status = "failed"
    run.finished_at = run.finished_at or utcnow()
    run.message = f"interrupted: the crawl process ended without finishing{by}"
    session.flush()
    return True


def finish_run(
    session: Session,
    run_id: int,
    status: str,
    stats: dict[str, Any],
    pages: int,
    items: int,
    errors: int,
    message: str = "",
) -> None:
    """Close a run: final status (finished|failed), counts and the crawler's stats."""
    if status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {RUN_STATUSES}, not {status!r}")
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise StorageError(f"crawl run {run_id} does not exist")
    run.status, run.finished_at = status, utcnow()
    run.stats, run.pages, run.items, run.errors = _json_safe(stats), pages, items, errors
    run.message = message
    session.flush()


def get_run(session: Session, run_id: int) -> CrawlRun | None:
    """One crawl run by id."""
    return session.get(CrawlRun, run_id)


def list_runs(session: Session, source_id: str | None = None, limit: int = 20) -> list[CrawlRun]:
    """The newest crawl runs first, optionally of one source."""
    stmt = select(CrawlRun).order_by(CrawlRun.started_at.desc(), CrawlRun.id.desc()).limit(limit)
    if source_id:
        stmt = stmt.where(CrawlRun.source_id == source_id)
    return list(session.scalars(stmt))


# --- pages, findings, entities -------------------------------------------------------------


def _upsert_entities(
    session: Session, items: Iterable[tuple[str, str, str, datetime]]
) -> dict[tuple[str, str], int]:
    """Insert or touch entities (kind, key, display, seen), widening first_seen/last_seen to
    every time they were seen; their ids by (kind, key).

    One atomic multi-row ON CONFLICT upsert per call (concurrent crawls find the same phone
    numbers), rows in sorted order so concurrent crawls lock them in the same order and cannot
    deadlock each other on PostgreSQL.
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, key, display, seen in items:
        row = rows.setdefault(
            (kind, key[:_KEY_LEN]),
            {
                "kind": kind,
                "key": key[:_KEY_LEN],
                "display": display[:_KEY_LEN],
                "first_seen": seen,
                "last_seen": seen,
            },
        )
        row["first_seen"], row["last_seen"] = (
            min(row["first_seen"], seen),
            max(row["last_seen"], seen),
        )
    if not rows:
        return {}
    insert_ = _insert_for(session)
    if insert_ is None:  # another backend: read-then-write (not concurrency-safe)
        return {
            k: _touch_entity(
                session, r["kind"], r["key"], r["display"], r["first_seen"], r["last_seen"]
            )
            for k, r in sorted(rows.items())
        }
    params = [row for _, row in sorted(rows.items())]
    # One constant statement executed with many parameter sets ("insertmanyvalues"): compiled
    # once per process instead of once per call, which dominated the cost of saving a page.
    result = session.connection().execute(_entity_upsert(insert_), params)
    return {(kind, key): id_ for id_, kind, key in result}


@functools.lru_cache(maxsize=4)
def _entity_upsert(insert_: Any) -> Any:
    """INSERT … ON CONFLICT (kind, key) DO UPDATE widening first/last seen, RETURNING ids."""
    table = Entity.__table__
    stmt = insert_(table).values(review_status="new", review_note="")
    new = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[table.c.kind, table.c.key],
        set_={
            "first_seen": case(
                (new.first_seen < table.c.first_seen, new.first_seen), else_=table.c.first_seen
            ),
            "last_seen": case(
                (new.last_seen > table.c.last_seen, new.last_seen), else_=table.c.last_seen
            ),
        },
    ).returning(table.c.id, table.c.kind, table.c.key, sort_by_parameter_order=True)


def _touch_entity(
    session: Session, kind: str, key: str, display: str, first: datetime, last: datetime
) -> int:
    """Read-then-write upsert of one entity, for backends without ON CONFLICT."""
    ent = session.scalar(select(Entity).where(Entity.kind == kind, Entity.key == key))
    if ent is None:
        ent = Entity(kind=kind, key=key, display=display, first_seen=first, last_seen=last)
        session.add(ent)
    else:
        ent.first_seen = min(utc(ent.first_seen), first)
        ent.last_seen = max(utc(ent.last_seen), last)
    session.flush()
    return ent.id


def _mentions(analysis: Analysis) -> Iterable[tuple[str, str, str, str, int, int, str]]:
    """(kind, key, display, raw, start, end, note) for every entity the analysis found."""
    for c in analysis.contacts:
        yield c.kind, c.value, c.value, c.raw, c.start, c.end, c.note
    for b in analysis.businesses:
        note = f"{b.form} {b.region}".strip()
        yield "business", b.name, b.name, b.raw, b.start, b.end, note
    for u in analysis.uscc:
        if u.valid:
            yield "uscc", u.code, u.code, u.raw, u.start, u.end, ""


@dataclass(frozen=True)
class _Analyzed:
    """A stored document and the analysis to record for it."""

    document_id: int
    fetched_at: datetime  # UTC: when its entities were seen
    analysis: Analysis


def _apply_analyses(session: Session, done: list[_Analyzed], lexicon_version: str) -> None:
    """Replace the documents' finding content and mentions with these analyses, in a fixed
    handful of statements however many documents there are (one document appears once).

    Finding rows are kept (updated in place) so their review status and note survive.
    """
    if not done:
        return
    doc_ids = [d.document_id for d in done]
    now = utcnow()
    values = []
    for d in done:
        det, payload = d.analysis.detection, d.analysis.to_json()
        values.append(
            {
                "document_id": d.document_id,
                "kind": det.kind,
                "categories": list(det.categories),
                "score": float(det.score),
                "reason": det.reason,
                "evidence": payload["evidence"],
                "analysis": payload,
                "lexicon_version": lexicon_version,
                "analyzed_at": now,
            }
        )
    conn = session.connection()
    findings = Finding.__table__
    existing = dict(
        conn.execute(
            select(findings.c.document_id, findings.c.id).where(findings.c.document_id.in_(doc_ids))
        ).all()
    )
    updates = [
        v | {"finding_id": existing[v["document_id"]]}
        for v in values
        if v["document_id"] in existing
    ]
    inserts = [
        v | {"review_status": "new", "review_note": ""}
        for v in values
        if v["document_id"] not in existing
    ]
    if updates:
        conn.execute(_finding_update(), updates)
    if inserts:
        conn.execute(insert(findings), inserts)

    conn.execute(delete(Mention.__table__).where(Mention.__table__.c.document_id.in_(doc_ids)))
    found = [(d, m) for d in done for m in _mentions(d.analysis)]
    ids = _upsert_entities(session, ((m[0], m[1], m[2], d.fetched_at) for d, m in found))
    rows: dict[tuple[int, int, int], dict[str, Any]] = {}
    for d, (kind, key, _display, raw, start, end, note) in found:
        entity_id = ids[(kind, key[:_KEY_LEN])]
        rows.setdefault(
            (d.document_id, entity_id, start),
            {
                "document_id": d.document_id,
                "entity_id": entity_id,
                "raw": raw[:_RAW_LEN],
                "start": start,
                "end": end,
                "note": note[:_NOTE_LEN],
            },
        )
    if rows:  # one executemany: no ORM objects per mention
        conn.execute(insert(Mention.__table__), list(rows.values()))
    _expire_loaded(session, Finding, {existing[i] for i in doc_ids if i in existing})


@functools.lru_cache(maxsize=1)
def _finding_update() -> Any:
    """UPDATE findings SET <analysis columns> WHERE id = :finding_id (one statement, many rows)."""
    table = Finding.__table__
    return update(table).where(table.c.id == bindparam("finding_id"))


@functools.lru_cache(maxsize=1)
def _document_update() -> Any:
    """UPDATE documents SET <page columns> WHERE id = :doc_id (one statement, many rows)."""
    table = Document.__table__
    return update(table).where(table.c.id == bindparam("doc_id"))


def _expire_loaded(session: Session, model: type[Any], ids: set[int]) -> None:
    """Rows changed behind the ORM's back (Core statements): forget what the session holds of
    them so the next read sees the new values."""
    if not ids:
        return
    for obj in list(session.identity_map.values()):
        if isinstance(obj, model) and obj.id in ids:
            session.expire(obj)


def _document_values(page: PageRecord, analysis: Analysis) -> dict[str, Any]:
    """The documents row for a page (everything but the id)."""
    text = analysis.text or page.text  # the text the analysis spans index into
    return {
        "url": page.url,
        "canonical_url": page.canonical_url,
        "source_id": page.source_id,
        "run_id": page.run_id,
        "fetched_at": utc(page.fetched_at),
        "published_at": _utc_opt(page.published_at),
        "title": page.title or analysis.title,
        "author": page.author[:200],
        "text": text,
        "raw": zlib.compress(page.body, ZLIB_LEVEL),
        "raw_sha256": hashlib.sha256(page.body).hexdigest(),
        "text_hash": text_hash(text),
        "encoding": page.encoding,
        "http_status": page.http_status,
        "headers": _json_safe(page.headers),
        "etag": page.etag,
        "last_modified": page.last_modified,
        "screenshot_path": page.screenshot_path,
        "rendered": page.rendered,
    }


# Query parameters that number the pages of a thread: left out of a URL's skeleton.
PAGE_PARAMS = frozenset({"page", "p", "pn"})

# A run of digits, with the numbers that follow it in the same path segment ("101-2-1",
# "555_2"): one placeholder in a URL's skeleton.
_PATH_NUMBERS = re.compile(r"\d+(?:[-_]\d+)*")
_DIGITS = re.compile(r"\d+")
_SLOT = "{n}"


def _query_parts(query: str) -> list[str]:
    """The query's `name=value` parts, sorted, without the page parameters (undecoded)."""
    parts = (part for part in query.split("&") if part)
    return sorted(p for p in parts if p.partition("=")[0].lower() not in PAGE_PARAMS)


def url_skeleton(url: str) -> str:
    """The URL with every run of digits replaced by one placeholder (in the path, a run and
    the numbers joined to it by "-" or "_": `thread-101-2-1.html` and `555_2.html` read like
    `thread-101-1-1.html` and `555.html`), query parameters sorted, `page`/`p`/`pn` dropped,
    the fragment dropped."""
    parts = urlsplit(url)
    host = _DIGITS.sub(_SLOT, parts.netloc.lower())
    path = _PATH_NUMBERS.sub(_SLOT, parts.path)
    query = "&".join(_DIGITS.sub(_SLOT, q) for q in _query_parts(parts.query))
    return f"{parts.scheme.lower()}://{host}{path}" + (f"?{query}" if query else "")


def thread_id(url: str) -> str:
    """The thread a URL shows: every run of digits of the path's folders plus the first run of
    its last segment (`101` of `thread-101-2-1.html`, `2024,05,17,8812` of
    `/2024-05-17/8812.html`, so two articles of one day stay apart), or for a path without
    digits every run of digits of its query but the page parameters (`101` of
    `viewthread.php?tid=101&page=2`); "" if none."""
    parts = urlsplit(url)
    folders, _, last = parts.path.rpartition("/")
    first = _DIGITS.search(last)
    runs = _DIGITS.findall(folders) + ([first.group()] if first else [])
    if runs:
        return ",".join(runs)
    return ",".join(_DIGITS.findall("&".join(_query_parts(parts.query))))


@functools.lru_cache(maxsize=8192)
def _title_key(title: str) -> str:
    """A title as compared between pages: normalized, spacing collapsed."""
    return " ".join(normalize(title).text.split())


def _thread_page(source_id: str | None, title: str, url: str) -> tuple[str, ...] | None:
    """What pages of one thread share (source, normalized title, URL skeleton, thread id);
    None for a page without a source or a title, which never joins another."""
    title_key = _title_key(title)
    if not source_id or not title_key:
        return None
    return source_id, title_key, url_skeleton(url), thread_id(url)


def _own_key(key: str) -> bool:
    """True for a lead key that can be shared (pages without text are never one lead)."""
    return key not in ("", _EMPTY_HASH)


@dataclass(frozen=True)
class _Titled:
    """A stored page with the source and title of a page being saved."""

    id: int
    source_id: str
    title: str
    url: str
    lead_key: str
    author: str


def _same_titles(session: Session, values: list[dict[str, Any]]) -> list[_Titled]:
    """Stored pages with the source and the title (as written or normalized) of a page in
    `values`, oldest first, pages without text left out: what the thread rule and the
    near-duplicate check of pages without contacts look up (one scan of those sources)."""
    wanted = [_thread_page(v["source_id"], v["title"], v["url"]) for v in values]
    sources = {w[0] for w in wanted if w}
    titles = {t for v, w in zip(values, wanted, strict=True) if w for t in (v["title"], w[1])}
    if not sources:
        return []
    table = Document.__table__
    rows = session.connection().execute(
        select(
            table.c.id,
            table.c.source_id,
            table.c.title,
            table.c.url,
            table.c.lead_key,
            table.c.author,
        )
        .where(
            table.c.source_id.in_(sorted(sources)),
            table.c.title.in_(sorted(titles)),
            table.c.lead_key.not_in(["", _EMPTY_HASH]),
        )
        .order_by(table.c.id)
    )
    return [_Titled(i, s, t, u, k, a or "") for i, s, t, u, k, a in rows]


def lead_keys_of(
    session: Session, values: list[dict[str, Any]], titled: list[_Titled] | None = None
) -> list[str]:
    """The lead key of each page about to be saved (`_document_values` rows, in order).

    A page of a forum thread joins the lead of the thread's other pages: a page already
    stored (or earlier in `values`) with the same source, the same non-empty normalized title
    and the same URL skeleton and thread id (`url_skeleton`, `thread_id`) gives its lead key,
    the oldest such page's. Both conditions on the URL are needed: generic titles ("帖子详情")
    are shared by unrelated threads, and different thread ids have the same skeleton. Any
    other page joins the lead of a stored (or earlier) exact copy of its text (same text
    hash; the oldest copy's key, whatever near-duplicate joining made it), else its key is its
    own text hash. Stored pages are looked up by their title as written or normalized
    (`titled`: that look-up, when the caller made it already).
    (`join_near_duplicates` may then join the page to the lead of the same ad elsewhere.)
    """
    wanted = [_thread_page(v["source_id"], v["title"], v["url"]) for v in values]
    known: dict[tuple[str, ...], str] = {}
    table = Document.__table__
    for page in _same_titles(session, values) if titled is None else titled:
        found = _thread_page(page.source_id, page.title, page.url)
        if found:
            known.setdefault(found, page.lead_key)
    copies: dict[str, str] = {}
    hashes = sorted({v["text_hash"] for v in values} - {"", _EMPTY_HASH})
    for lo in range(0, len(hashes), _IN_CHUNK):
        rows = session.connection().execute(
            select(table.c.text_hash, table.c.lead_key)
            .where(
                table.c.text_hash.in_(hashes[lo : lo + _IN_CHUNK]),
                table.c.lead_key.not_in(["", _EMPTY_HASH]),
            )
            .order_by(table.c.id)
        )
        for text_hash_, key in rows:
            copies.setdefault(text_hash_, key)
    keys = []
    for v, w in zip(values, wanted, strict=True):
        own = v["text_hash"]
        key = known.get(w) if w else None
        if key is None:
            key = copies.get(own, own)
        if w and _own_key(key):
            known.setdefault(w, key)
        if _own_key(own) and _own_key(key):
            copies.setdefault(own, key)
        keys.append(key)
    return keys


# --- near-duplicate ads: one ad posted at several URLs is one lead -------------------------

# Pages a saved page is compared with, per contact it shows: the newest ones. A contact on
# more pages is a platform's hotline or a promoter with hundreds of posts; comparing them all
# would make each save slower without bound, and the newest pages are the likeliest reposts.
NEAR_DUP_CANDIDATES = 200
# Fingerprints kept per process (about 1.5 KB each with their key, 30 MB at most): a
# promoter's stored pages are fingerprinted once, not on every save showing their contacts.
FINGERPRINT_CACHE = 20_000


@dataclass(frozen=True)
class _AdDoc:
    """A stored page as the near-duplicate check reads it (no text: fingerprints are cached)."""

    id: int
    lead_key: str
    text_hash: str
    title: str
    source_id: str
    author: str


class _FingerprintCache:
    """Fingerprints by (text hash, title key), least recently used dropped first. Both are
    what `neardup.fingerprint` reads (the normalized text and title), so an entry never goes
    stale; a re-analysed text has another hash."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], Fingerprint] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Fingerprint | None:
        found = self.items.get(key)
        if found is not None:
            self.items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str], value: Fingerprint) -> None:
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)


_FINGERPRINTS = _FingerprintCache(FINGERPRINT_CACHE)


def _ad_docs(session: Session, ids: Iterable[int]) -> dict[int, _AdDoc]:
    """id -> the page, for pages whose lead key can be shared (`_own_key`)."""
    table, out = Document.__table__, {}
    wanted = sorted(set(ids))
    cols = (table.c.id, table.c.lead_key, table.c.text_hash, table.c.title)
    for lo in range(0, len(wanted), _IN_CHUNK):
        rows = session.connection().execute(
            select(*cols, table.c.source_id, table.c.author).where(
                table.c.id.in_(wanted[lo : lo + _IN_CHUNK])
            )
        )
        for id_, key, hash_, title, source_id, author in rows:
            if _own_key(key):
                out[id_] = _AdDoc(id_, key, hash_, title or "", source_id or "", author or "")
    return out


def _identifying_contacts(session: Session, ids: list[int]) -> dict[int, set[tuple[str, str]]]:
    """document id -> the phones, WeChat/QQ ids and e-mails it mentions (kind, key)."""
    out: dict[int, set[tuple[str, str]]] = {}
    for lo in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(
            select(Mention.document_id, Entity.kind, Entity.key)
            .join(Entity, Mention.entity_id == Entity.id)
            .where(
                Mention.document_id.in_(ids[lo : lo + _IN_CHUNK]),
                Entity.kind.in_(sorted(IDENTIFYING_KINDS)),
            )
        )
        for doc_id, kind, key in rows:
            out.setdefault(doc_id, set()).add((kind, key))
    return out


def _contact_candidates(session: Session, contacts: set[tuple[str, str]]) -> set[int]:
    """Documents mentioning any of `contacts`: the newest NEAR_DUP_CANDIDATES per contact."""
    if not contacts:
        return set()
    pairs = (
        select(Mention.entity_id, Mention.document_id)
        .join(Entity, Mention.entity_id == Entity.id)
        .where(
            Entity.kind.in_(sorted({k for k, _ in contacts})),
            Entity.key.in_(sorted({v for _, v in contacts})),
        )
        .distinct()
        .subquery()
    )
    newest = func.row_number().over(
        partition_by=pairs.c.entity_id, order_by=pairs.c.document_id.desc()
    )
    ranked = select(pairs.c.document_id, newest.label("n")).subquery()
    rows = session.execute(
        select(ranked.c.document_id).where(ranked.c.n <= NEAR_DUP_CANDIDATES).distinct()
    )
    return set(rows.scalars())


def _account_candidates(session: Session, pages: list[_AdDoc]) -> set[int]:
    """Pages of the same source, title and account as each of `pages` (which show no
    contact: `neardup.posters_agree` joins those only within one account of one source)."""
    if not pages:
        return set()
    titles = {t for p in pages for t in (p.title, _title_key(p.title)) if t}
    table = Document.__table__
    rows = session.connection().execute(
        select(table.c.id)
        .where(
            table.c.source_id.in_(sorted({p.source_id for p in pages})),
            table.c.author.in_(sorted({p.author for p in pages})),
            table.c.title.in_(sorted(titles)),
        )
        .order_by(table.c.id.desc())
        .limit(NEAR_DUP_CANDIDATES * len(pages))
    )
    return set(rows.scalars())


def _fingerprints(session: Session, docs: Iterable[_AdDoc]) -> dict[int, Fingerprint]:
    """document id -> fingerprint of its text, from the cache or computed (texts loaded once
    for the pages missing from the cache)."""
    out: dict[int, Fingerprint] = {}
    missing: dict[int, tuple[str, str]] = {}
    for doc in docs:
        key = (doc.text_hash, _title_key(doc.title))
        found = _FINGERPRINTS.get(key)
        if found is None:
            missing[doc.id] = key
        else:
            out[doc.id] = found
    ids = sorted(missing)
    for lo in range(0, len(ids), _IN_CHUNK):
        table = Document.__table__
        rows = session.connection().execute(
            select(table.c.id, table.c.text, table.c.title).where(
                table.c.id.in_(ids[lo : lo + _IN_CHUNK])
            )
        )
        for id_, text, title in rows:
            out[id_] = fingerprint(text or "", title or "")
            _FINGERPRINTS.put(missing[id_], out[id_])
    return out


def join_near_duplicates(session: Session, doc_ids: Sequence[int]) -> int:
    """Make each of `doc_ids` (pages just saved, with their mentions) one lead with the
    stored pages that are the same ad (`pipelines.neardup.compare`); returns the number of
    leads merged away.

    Candidates are the pages sharing a phone, WeChat/QQ id or e-mail with a page (the
    contacts index), and for a page with no contact, the pages of its source, title and
    account; fingerprints are computed for those only. Pages joined are whole leads: every
    lead a page matches (a thread, an exact copy, an earlier near-duplicate) becomes one,
    keyed by the key of its oldest page, so the leads are the same whatever order the pages
    came in, and a page that bridges two leads merges them.
    """
    docs = _ad_docs(session, doc_ids)
    batch = [docs[i] for i in dict.fromkeys(doc_ids) if i in docs]
    return _join_pages(session, batch, _identifying_contacts(session, [d.id for d in batch]))


def _saved_ads(
    results: list[SaveResult], values: list[dict[str, Any]], analyses: list[Analysis]
) -> tuple[list[_AdDoc], dict[int, set[tuple[str, str]]]]:
    """The pages just saved as `_join_pages` takes them, without reading them back."""
    batch, shown = [], {}
    for r, v, analysis in zip(results, values, analyses, strict=True):
        if _own_key(v["lead_key"]):
            source, author = v["source_id"] or "", v["author"]
            batch.append(
                _AdDoc(r.document_id, v["lead_key"], v["text_hash"], v["title"], source, author)
            )
        found = analysis.contacts
        shown[r.document_id] = {
            (c.kind, c.value[:_KEY_LEN]) for c in found if c.kind in IDENTIFYING_KINDS
        }
    return batch, shown


def _join_pages(
    session: Session,
    batch: list[_AdDoc],
    shown: dict[int, set[tuple[str, str]]],
    titled: list[_Titled] | None = None,
) -> int:
    """`join_near_duplicates` for pages whose rows and contacts (`shown`) are at hand, and
    maybe the stored pages of their sources and titles (`titled`, from `_same_titles`)."""
    contacts = {d.id: shown[d.id] for d in batch if shown.get(d.id)}
    lonely = [d for d in batch if d.id not in contacts and d.source_id and d.author]
    if not contacts and not lonely:
        return 0
    docs = {d.id: d for d in batch}
    found = _contact_candidates(session, {c for held in contacts.values() for c in held})
    if titled is None:
        found |= _account_candidates(session, lonely)
    elif lonely:
        accounts = {_account_key(d) for d in lonely}
        found |= {t.id for t in titled if (t.source_id, _title_key(t.title), t.author) in accounts}
    more = sorted(found - docs.keys())
    docs.update(_ad_docs(session, more))
    more = [i for i in more if i in docs]  # pages without text never join another
    contacts.update(_identifying_contacts(session, more))
    by_contact: dict[tuple[str, str], list[int]] = {}
    for doc_id, held in contacts.items():
        for c in held:
            by_contact.setdefault(c, []).append(doc_id)
    by_account: dict[tuple[str, str, str], list[int]] = {}
    for doc in docs.values():
        if not contacts.get(doc.id) and doc.source_id and doc.author:
            by_account.setdefault(_account_key(doc), []).append(doc.id)
    posters = {
        doc.id: Poster(frozenset(contacts.get(doc.id, ())), doc.source_id, doc.author)
        for doc in docs.values()
    }
    pairs: list[tuple[int, int]] = []  # (page, candidate) whose posters agree
    for doc in batch:
        near = {i for c in contacts.get(doc.id, ()) for i in by_contact.get(c, ())}
        near.update(by_account.get(_account_key(doc), ()) if not contacts.get(doc.id) else ())
        for other in sorted(near - {doc.id}):
            if (
                docs[other].lead_key != doc.lead_key
                and posters_agree(posters[doc.id], posters[other])[0]
            ):
                pairs.append((doc.id, other))
    prints = _fingerprints(session, [docs[i] for i in {i for pair in pairs for i in pair}])
    leads = _KeyUnion()
    for a, b in pairs:
        key_a, key_b = docs[a].lead_key, docs[b].lead_key
        if not leads.same(key_a, key_b) and near_duplicate(prints[a], prints[b]):
            leads.union(key_a, key_b)
    return _merge_leads(session, leads.groups())


def _account_key(doc: _AdDoc) -> tuple[str, str, str]:
    return doc.source_id, _title_key(doc.title), doc.author


class _KeyUnion:
    """Union-find over lead keys: which leads are one."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        parent = self.parent
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def same(self, a: str, b: str) -> bool:
        return self.find(a) == self.find(b)

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[str]]:
        """Keys that are one lead, groups of two or more."""
        out: dict[str, list[str]] = {}
        for key in list(self.parent):
            out.setdefault(self.find(key), []).append(key)
        return [sorted(g) for g in out.values() if len(g) > 1]


def _merge_leads(session: Session, groups: list[list[str]]) -> int:
    """Give every page of each group of leads the key of the group's oldest page; returns
    the number of leads merged away."""
    if not groups:
        return 0
    table = Document.__table__
    keys = sorted({k for g in groups for k in g})
    oldest = dict(
        session.connection()
        .execute(
            select(table.c.lead_key, func.min(table.c.id))
            .where(table.c.lead_key.in_(keys))
            .group_by(table.c.lead_key)
        )
        .all()
    )
    moves: dict[str, str] = {}
    for group in groups:
        winner = min(group, key=lambda k: (oldest.get(k, 2**62), k))
        moves.update((k, winner) for k in group if k != winner)
    session.connection().execute(  # one statement: an executemany is a round trip a row
        update(table)
        .where(table.c.lead_key.in_(sorted(moves)))
        .values(lead_key=case(moves, value=table.c.lead_key, else_=table.c.lead_key))
    )
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Document):
            session.expire(obj, ["lead_key"])
    return len(moves)


def _ensure_sources(session: Session, source_ids: set[str]) -> None:
    """Give every unknown source id a minimal row (name = id).

    Sources found to exist are remembered for the session (one look-up per batch, not per
    page); one created here is not, as a rolled-back savepoint could take it away again.
    """
    known = session.info.setdefault("greywatch_sources", set())
    for source_id in sorted(source_ids - known):
        if session.get(Source, source_id) is None:
            upsert_source(session, source_id, source_id, {})
        else:
            known.add(source_id)


def _stored(session: Session, urls: list[str]) -> dict[str, tuple[int, str]]:
    """url -> (document id, raw SHA-256) for the urls already stored."""
    table = Document.__table__
    rows = session.connection().execute(
        select(table.c.url, table.c.id, table.c.raw_sha256).where(table.c.url.in_(urls))
    )
    return {url: (id_, sha) for url, id_, sha in rows}


def save_pages(
    session: Session,
    pages: list[tuple[PageRecord, Analysis]],
    lexicon_version: str,
    *,
    near_duplicates: bool = True,
) -> list[SaveResult]:
    """Store fetched pages and their analyses: an idempotent upsert by URL, in order.

    Re-saving a URL updates the document, replaces its finding and mentions (never
    duplicates), and upserts its entities with first/last seen widened to the fetch time.
    An unknown `source_id` gets a minimal source row (name = id). A batch costs a fixed
    handful of statements, which is what lets a crawl store pages as fast as it fetches them.
    Each page joins the lead of its thread, of an exact copy (`lead_keys_of`) and, unless
    `near_duplicates` is False (benchmarks), of a stored page that is the same ad
    (`join_near_duplicates`).
    """
    results: list[SaveResult] = []
    chunk: list[tuple[PageRecord, Analysis]] = []
    urls: set[str] = set()
    for item in pages:  # a URL twice in a batch: the later one is saved after the earlier
        if item[0].url in urls:
            results += _save_unique(session, chunk, lexicon_version, near_duplicates)
            chunk, urls = [], set()
        chunk.append(item)
        urls.add(item[0].url)
    return results + _save_unique(session, chunk, lexicon_version, near_duplicates)


def _save_unique(
    session: Session,
    pages: list[tuple[PageRecord, Analysis]],
    lexicon_version: str,
    near_duplicates: bool = True,
) -> list[SaveResult]:
    """`save_pages` for a batch whose URLs are all different."""
    if not pages:
        return []
    _ensure_sources(session, {p.source_id for p, _ in pages if p.source_id})
    session.flush()
    values = [_document_values(page, analysis) for page, analysis in pages]
    titled = _same_titles(session, values)
    for v, key in zip(values, lead_keys_of(session, values, titled), strict=True):
        v["lead_key"] = key
    urls = [v["url"] for v in values]
    stored = _stored(session, urls)
    conn, table = session.connection(), Document.__table__
    new = [v for v in values if v["url"] not in stored]
    if new:
        stmt = insert(table).returning(table.c.url, table.c.id, sort_by_parameter_order=True)
        try:
            # session.connection() inside the block: that is what emits the SAVEPOINT (a
            # connection fetched before it would run the INSERT outside the savepoint, and on
            # PostgreSQL a failed INSERT would then abort the whole transaction).
            with session.begin_nested():
                created = dict(session.connection().execute(stmt, new).all())
        except IntegrityError:  # another process saved some of these URLs meanwhile
            stored = _stored(session, urls)
            new = [v for v in values if v["url"] not in stored]
            created = dict(conn.execute(stmt, new).all()) if new else {}
    else:
        created = {}
    updates = [v | {"doc_id": stored[v["url"]][0]} for v in values if v["url"] in stored]
    if updates:
        conn.execute(_document_update(), updates)
        _expire_loaded(session, Document, {u["doc_id"] for u in updates})
    results = []
    for v in values:
        if v["url"] in created:
            results.append(SaveResult(created[v["url"]], created=True, changed=True))
        else:
            doc_id, old_sha = stored[v["url"]]
            results.append(SaveResult(doc_id, created=False, changed=old_sha != v["raw_sha256"]))
    firsts = _record_source_pages(session, [p for p, _ in pages], results)
    results = [replace(r, new_to_source=r.document_id in firsts) for r in results]
    _apply_analyses(
        session,
        [
            _Analyzed(r.document_id, v["fetched_at"], analysis)
            for r, v, (_, analysis) in zip(results, values, pages, strict=True)
        ],
        lexicon_version,
    )
    if near_duplicates:  # after the mentions: candidates are found through them
        batch, shown = _saved_ads(results, values, [a for _, a in pages])
        _join_pages(session, batch, shown, titled)
    return results


def _record_source_pages(
    session: Session, pages: list[PageRecord], results: list[SaveResult]
) -> set[int]:
    """Record each page for its source (a URL two sources reach is recorded for both);
    returns the ids of documents their source records for the first time."""
    seen = {
        (p.source_id, r.document_id): p for p, r in zip(pages, results, strict=True) if p.source_id
    }
    if not seen:
        return set()
    table = SourcePage.__table__
    conn = session.connection()
    held = set(
        conn.execute(
            select(table.c.source_id, table.c.document_id).where(
                table.c.document_id.in_({doc for _, doc in seen})
            )
        ).all()
    )
    rows = [
        {"sid": sid, "doc": doc, "run": page.run_id, "at": utc(page.fetched_at)}
        for (sid, doc), page in seen.items()
    ]
    fresh = [r for r in rows if (r["sid"], r["doc"]) not in held]
    if fresh:
        conn.execute(
            insert(table),
            [
                {"source_id": r["sid"], "document_id": r["doc"], "run_id": r["run"]}
                | {"first_seen": r["at"], "last_seen": r["at"]}
                for r in fresh
            ],
        )
    again = [r for r in rows if (r["sid"], r["doc"]) in held]
    if again:
        conn.execute(
            update(table)
            .where(table.c.source_id == bindparam("sid"), table.c.document_id == bindparam("doc"))
            .values(run_id=bindparam("run"), last_seen=bindparam("at")),
            again,
        )
    return {r["doc"] for r in fresh}


def save_page(
    session: Session, page: PageRecord, analysis: Analysis, lexicon_version: str
) -> SaveResult:
    """Store one fetched page and its analysis (see `save_pages`)."""
    return save_pages(session, [(page, analysis)], lexicon_version)[0]


def known_pages(session: Session, source_id: str) -> dict[str, KnownPage]:
    """url -> what was stored for it, for the pages this source has recorded (a page only
    another source reached is new to this one), so the crawler can skip or revalidate."""
    rows = session.execute(
        select(
            Document.url,
            Document.raw_sha256,
            Document.etag,
            Document.last_modified,
            Document.fetched_at,
        )
        .join(SourcePage, SourcePage.document_id == Document.id)
        .where(SourcePage.source_id == source_id)
    )
    return {
        url: KnownPage(raw_sha256=sha, etag=etag, last_modified=lm, fetched_at=utc(at))
        for url, sha, etag, lm, at in rows
    }


def reanalyze(
    session: Session,
    analyze: Callable[[Document], Analysis],
    lexicon_version: str,
    only_stale: bool = True,
    progress: Callable[[int, int], None] | None = None,
    commit_every: int | None = None,
) -> int:
    """Analyze stored documents again (all, or those analyzed with another lexicon version).

    `progress(done, total)` is called before the first and after each document. Documents
    are loaded in batches and let go after each (big databases fit in memory); with
    `commit_every`, the session commits after each batch so a long re-analysis does not hold
    the SQLite write lock that crawls need. Returns the number of documents re-analyzed.
    """
    stmt = select(Document.id).outerjoin(Finding).order_by(Document.id)
    if only_stale:
        stmt = stmt.where(or_(Finding.id.is_(None), Finding.lexicon_version != lexicon_version))
    ids = list(session.scalars(stmt))
    if progress:
        progress(0, len(ids))
    batch = commit_every or REANALYZE_BATCH
    for offset in range(0, len(ids), batch):
        chunk = ids[offset : offset + batch]
        docs = session.scalars(
            select(Document)
            .where(Document.id.in_(chunk))
            .order_by(Document.id)
            .options(defer(Document.raw))
        )
        analyzed = []
        for done, doc in enumerate(docs, start=offset + 1):
            analysis = analyze(doc)
            if analysis.text and analysis.text != doc.text:
                doc.text, doc.text_hash = analysis.text, text_hash(analysis.text)
            analyzed.append(_Analyzed(doc.id, utc(doc.fetched_at), analysis))
            if progress:
                progress(done, len(ids))
        session.flush()
        _apply_analyses(session, analyzed, lexicon_version)  # the batch in a few statements
        if commit_every:
            session.commit()
        session.expunge_all()
    return len(ids)


# --- leads ---------------------------------------------------------------------------------


def _excerpt(text: str, evidence: list[dict[str, Any]]) -> str:
    """The sentence around the first evidence span (or the start of the text)."""
    spans = [e["span"] for e in evidence if isinstance(e.get("span"), list) and e["span"]]
    start, end = min(spans, key=lambda s: s[0]) if spans else (0, 0)
    lo, hi = max(0, start - EXCERPT_CONTEXT), min(len(text), end + EXCERPT_CONTEXT)
    snippet = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + snippet + ("…" if hi < len(text) else "")


# Entity kinds that stand for a business: its name as written, or its USCC.
BUSINESS_KINDS = ("business", "uscc")

# Review states a lead takes over from a business named on its page, strongest first. A
# lead's own state (anything but "new") always wins over a business's.
INHERITED_ORDER = ("reported", "confirmed", "dismissed")
_NEW_RANK = 99  # no state of its own, none from a business
_FROM_BUSINESS = 10  # added to the rank of a state taken over from a business

# Text hash of an empty text: pages without text are never one lead together.
_EMPTY_HASH = hashlib.sha256(b"").hexdigest()

# Keys per IN (…) list when loading the pages of many leads (SQLite's variable limit).
_IN_CHUNK = 500


def _rank_of(status: Any) -> Any:
    """SQL: 1.. for the states in INHERITED_ORDER, _NEW_RANK for "new"."""
    return case(
        *((status == s, literal_column(str(i))) for i, s in enumerate(INHERITED_ORDER, 1)),
        else_=literal_column(str(_NEW_RANK)),
    )


def _status_of_rank(rank: int) -> tuple[str, bool]:
    """(review state, taken over from a business) for a lead's rank."""
    if rank >= _NEW_RANK:
        return "new", False
    return INHERITED_ORDER[rank % _FROM_BUSINESS - 1], rank > _FROM_BUSINESS


def _ranks_of(statuses: Iterable[str]) -> list[int]:
    """The lead ranks that show each of `statuses` (own or taken over)."""
    out = []
    for status in statuses:
        if status == "new":
            out.append(_NEW_RANK)
        else:
            i = INHERITED_ORDER.index(status) + 1
            out += [i, i + _FROM_BUSINESS]
    return out


def _business_ranks() -> Any:
    """Subquery: document id -> rank of the strongest review state of a business on it."""
    return (
        select(Mention.document_id, func.min(_rank_of(Entity.review_status)).label("rank"))
        .join(Entity, Mention.entity_id == Entity.id)
        .where(Entity.kind.in_(BUSINESS_KINDS), Entity.review_status != "new")
        .group_by(Mention.document_id)
        .subquery()
    )


def lead_key() -> Any:
    """SQL: what makes pages one lead: their stored lead key (`lead_keys_of`: the pages of
    one thread, the copies of one text); pages without text stay apart, keyed by their
    document id."""
    return case(
        (
            Document.lead_key.not_in([literal_column("''"), literal_column(f"'{_EMPTY_HASH}'")]),
            Document.lead_key,
        ),
        else_=literal_column("'doc:'") + cast(Document.id, String),
    )


def _finding_conditions(f: LeadFilter) -> list[Any]:
    """Conditions every page of a lead meets (its analysis): kind, score, category."""
    conds: list[Any] = []
    if f.kinds:
        conds.append(Finding.kind.in_(f.kinds))
    if f.min_score:
        conds.append(Finding.score >= f.min_score)
    if f.categories:
        # JSON containment differs per dialect; the stored list's text contains '"label"'.
        as_text = cast(Finding.categories, Text)
        conds.append(or_(*(as_text.contains(json.dumps(c), autoescape=True) for c in f.categories)))
    return conds


def _page_conditions(f: LeadFilter) -> list[Any]:
    """Conditions one page of a lead meets: when, where, who, what it says."""
    conds: list[Any] = []
    if f.since:
        conds.append(Document.fetched_at >= utc(f.since))
    if f.until:
        conds.append(Document.fetched_at < utc(f.until))
    if f.sources:
        reached = select(SourcePage.document_id).where(SourcePage.source_id.in_(f.sources))
        conds.append(or_(Document.source_id.in_(f.sources), Document.id.in_(reached)))
    if f.actor_id is not None:
        conds.append(Document.id.in_(_mentioning(Entity.actor_id == f.actor_id)))
    if f.contacts:
        keys = sorted({c.lower() for c in f.contacts})
        conds.append(
            Document.id.in_(
                _mentioning(Entity.kind.not_in(BUSINESS_KINDS), func.lower(Entity.key).in_(keys))
            )
        )
    if f.keyword:
        words = {f.keyword, normalize(f.keyword).text}
        conds.append(
            or_(
                *(
                    col.contains(w, autoescape=True)
                    for w in sorted(words)
                    for col in (Document.title, Document.text)
                )
            )
        )
    if f.firm:
        conds.append(Document.id.in_(_mentioning(_firm_condition(f.firm))))
    return conds


def _mentioning(*conds: Any) -> Any:
    """Subquery: ids of the documents that mention an entity meeting `conds`."""
    return select(Mention.document_id).join(Entity, Mention.entity_id == Entity.id).where(*conds)


def _firm_condition(firm: str) -> Any:
    """An entity condition: a business named with `firm` in its name (as advertised or as
    registered), or the USCC `firm`."""
    name = unicodedata.normalize("NFKC", firm.strip())
    registered = (
        select(BusinessMatch.entity_id)
        .join(Registration, Registration.id == BusinessMatch.registration_id)
        .where(
            or_(
                Registration.name.contains(name, autoescape=True),
                Registration.uscc == name.upper(),
            )
        )
    )
    return or_(
        (Entity.kind == "business") & Entity.key.contains(name, autoescape=True),
        (Entity.kind == "uscc") & (Entity.key == name.upper()),
        Entity.id.in_(registered),
    )


def _lead_stmt(f: LeadFilter, finding_ids: Sequence[int] = ()) -> Any:
    """One row per lead: (representative Finding, its Document, lead key, review rank).

    Pages with the same lead key are one lead, represented by its oldest finding;
    its review rank is the strongest over its pages (own states before taken-over ones).
    """
    if f.review:
        bad = sorted(set(f.review) - set(REVIEW_STATUSES))
        if bad:
            raise ValueError(f"review status must be one of {REVIEW_STATUSES}, not {bad}")
    biz = _business_ranks()
    key = lead_key().label("lead_key")
    own = Finding.review_status != "new"
    rank = case(
        (own, _rank_of(Finding.review_status)),
        else_=func.coalesce(biz.c.rank + _FROM_BUSINESS, _NEW_RANK),
    )
    members = _finding_conditions(f)
    leads = (
        select(
            key,
            func.min(Finding.id).label("rep"),
            func.min(rank).label("rank"),
            func.max(Document.fetched_at).label("last_fetch"),
        )
        .select_from(Finding)
        .join(Document, Finding.document_id == Document.id)
        .outerjoin(biz, biz.c.document_id == Document.id)
        .where(*members)
    )
    pages = _page_conditions(f)
    if finding_ids:
        pages.append(Finding.id.in_(sorted(set(finding_ids))))
    if pages:
        hit = (
            select(lead_key())
            .select_from(Finding)
            .join(Document, Finding.document_id == Document.id)
            .where(*members, *pages)
        )
        leads = leads.where(lead_key().in_(hit))
    leads = leads.group_by(key)
    if f.review:
        leads = leads.having(func.min(rank).in_(_ranks_of(f.review)))
    g = leads.subquery()
    stmt = (
        select(Finding, Document, g.c.lead_key, g.c.rank)
        .join(Document, Finding.document_id == Document.id)
        .join(g, g.c.rep == Finding.id)
        .order_by(Finding.score.desc(), g.c.last_fetch.desc(), Finding.id)
    )
    return stmt.limit(f.limit) if f.limit else stmt


@dataclass
class _Pages:
    """The pages of one lead: URLs and when the content was first and last seen."""

    urls: list[tuple[datetime, str]] = field(default_factory=list)
    first: datetime | None = None
    last: datetime | None = None


def _lead_pages(session: Session, keys: list[str], f: LeadFilter) -> dict[str, _Pages]:
    """lead key -> its pages (those whose analysis meets the filter's finding conditions)."""
    key = lead_key()
    docs: list[tuple[str, int, str, datetime]] = []
    for lo in range(0, len(keys), _IN_CHUNK):
        chunk = keys[lo : lo + _IN_CHUNK]
        docs += session.execute(
            select(key, Document.id, Document.url, Document.fetched_at)
            .join(Finding, Finding.document_id == Document.id)
            .where(key.in_(chunk), *_finding_conditions(f))
        ).all()
    return _pages_of(session, docs)


def _pages_of(
    session: Session, docs: Sequence[tuple[str, int, str, datetime]]
) -> dict[str, _Pages]:
    """(lead key, document id, url, fetched_at) rows -> each lead's URLs and seen window, the
    window widened by when each source first and last saw the page."""
    seen: dict[int, tuple[datetime, datetime]] = {}
    ids = [doc_id for _, doc_id, _, _ in docs]
    for lo in range(0, len(ids), _IN_CHUNK):
        rows = session.execute(
            select(
                SourcePage.document_id,
                func.min(SourcePage.first_seen),
                func.max(SourcePage.last_seen),
            )
            .where(SourcePage.document_id.in_(ids[lo : lo + _IN_CHUNK]))
            .group_by(SourcePage.document_id)
        ).all()
        seen.update({doc_id: (utc(a), utc(b)) for doc_id, a, b in rows})
    out: dict[str, _Pages] = {}
    for k, doc_id, url, fetched in docs:
        at = utc(fetched)
        first, last = seen.get(doc_id, (at, at))
        first, last = min(first, at), max(last, at)
        p = out.setdefault(k, _Pages())
        p.urls.append((first, url))
        p.first = first if p.first is None else min(p.first, first)
        p.last = last if p.last is None else max(p.last, last)
    for p in out.values():
        p.urls.sort()
    return out


def query_leads(session: Session, f: LeadFilter) -> list[LeadRow]:
    """Leads matching `f`, best score first, with contacts, businesses and actors.

    A lead is one ad: pages with the same lead key (the same text at several URLs, the pages
    of one forum thread; see `lead_keys_of`) are one lead with all their URLs. Its review state is
    its own, else the strongest state of a business named on it (confirming a firm shows on
    its leads).
    """
    rows = session.execute(_lead_stmt(f)).all()
    return lead_rows(session, rows, _lead_pages(session, [key for _, _, key, _ in rows], f))


def lead_rows(session: Session, rows: Sequence[Any], pages: dict[str, _Pages]) -> list[LeadRow]:
    """LeadRows for (Finding, Document, lead key, review rank) rows: contacts, businesses and
    registry checks read for those documents only, each lead with its pages from `pages`."""
    doc_ids = [doc.id for _, doc, _, _ in rows]
    by_doc: dict[int, list[tuple[Mention, Entity]]] = {i: [] for i in doc_ids}
    if doc_ids:
        found = session.execute(
            select(Mention, Entity)
            .join(Entity, Mention.entity_id == Entity.id)
            .where(Mention.document_id.in_(doc_ids))
            .order_by(Mention.document_id, Mention.start, Mention.id)
        )
        for mention, entity in found:
            by_doc[mention.document_id].append((mention, entity))
    business_ids = {e.id for found in by_doc.values() for _, e in found if e.kind == "business"}
    checks = _registry_checks(session, business_ids)
    out = []
    for finding, doc, key, rank in rows:
        row = _lead_row(finding, doc, by_doc[doc.id], checks)
        out.append(_with_lead(row, pages.get(key, _Pages()), by_doc[doc.id], int(rank)))
    return out


def lead_states(session: Session, finding_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """finding id -> (review state, note) of the lead it represents, as `query_leads` shows
    them (a business's state when the lead has none of its own); ids that are not a lead's
    representative get their finding's own state. Unknown ids are left out."""
    ids = sorted(set(finding_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Finding.id, Finding.review_status, Finding.review_note).where(Finding.id.in_(ids))
    ).all()
    out = {id_: (status, note) for id_, status, note in rows}
    shown = session.execute(_lead_stmt(LeadFilter(kinds=()), ids)).all()
    by_doc: dict[int, list[tuple[Mention, Entity]]] = {doc.id: [] for _, doc, _, _ in shown}
    for mention, entity in session.execute(
        select(Mention, Entity)
        .join(Entity, Mention.entity_id == Entity.id)
        .where(Mention.document_id.in_(list(by_doc)), Entity.kind.in_(BUSINESS_KINDS))
    ).all():
        by_doc[mention.document_id].append((mention, entity))
    for finding, doc, _, rank in shown:
        if finding.id in out:
            row = _with_lead(_lead_row(finding, doc, [], {}), _Pages(), by_doc[doc.id], int(rank))
            out[finding.id] = (row.review_status, row.review_note)
    return out


def _with_lead(
    row: LeadRow, pages: _Pages, found: list[tuple[Mention, Entity]], rank: int
) -> LeadRow:
    """`row` completed with its lead's URLs, first/last seen and review state."""
    status, inherited = _status_of_rank(rank)
    note, source = row.review_note, []
    if inherited:
        firms = {
            e.id: e for _, e in found if e.kind in BUSINESS_KINDS and e.review_status == status
        }
        names = [e for e in firms.values() if e.kind == "business"] or list(firms.values())
        source = list(dict.fromkeys(e.display or e.key for e in names))  # a name before a USCC
        note = next((e.review_note for e in firms.values() if e.review_note), "")
    return replace(
        row,
        review_status=status,
        review_note=note,
        review_from=source,
        urls=[url for _, url in pages.urls] or [row.url],
        first_seen=pages.first or row.fetched_at,
        last_seen=pages.last or row.fetched_at,
    )


def _registry_checks(session: Session, entity_ids: set[int]) -> dict[int, dict[str, str]]:
    """entity id -> what the registry says of that business: verdict, registered name and
    USCC, the reason for the match, and the registry file and row it comes from."""
    if not entity_ids:
        return {}
    rows = session.execute(
        select(BusinessMatch, Registration)
        .outerjoin(Registration, Registration.id == BusinessMatch.registration_id)
        .where(BusinessMatch.entity_id.in_(sorted(entity_ids)))
    )
    out = {}
    for match, reg in rows:
        out[match.entity_id] = {
            "verdict": match.verdict,
            "registered_name": reg.name if reg else "",
            "uscc": reg.uscc if reg else "",
            "status": reg.status if reg else "",
            "reason": match.reason or match.verdict_reason,
            "registry_row": (
                f"{PurePath(reg.source_file).name}:{reg.source_row}"
                if reg and reg.source_file
                else ""
            ),
        }
    return out


def _lead_row(
    finding: Finding,
    doc: Document,
    found: list[tuple[Mention, Entity]],
    checks: dict[int, dict[str, str]],
) -> LeadRow:
    contacts: dict[tuple[str, str], dict[str, str]] = {}
    businesses: dict[str, None] = {}
    registry: dict[str, dict[str, str]] = {}
    for mention, entity in found:
        if entity.kind == "business":
            businesses.setdefault(entity.key)
            if entity.id in checks:
                registry.setdefault(entity.key, {"business": entity.key} | checks[entity.id])
        elif entity.kind != "uscc":
            contacts.setdefault(
                (entity.kind, entity.key),
                {"kind": entity.kind, "value": entity.key, "raw": mention.raw},
            )
    actors = sorted({e.actor_id for _, e in found if e.actor_id is not None})
    evidence = list(finding.evidence or [])
    return LeadRow(
        finding_id=finding.id,
        document_id=doc.id,
        url=doc.url,
        source_id=doc.source_id,
        title=doc.title,
        fetched_at=utc(doc.fetched_at),
        published_at=_utc_opt(doc.published_at),
        kind=finding.kind,
        categories=list(finding.categories or []),
        score=finding.score,
        reason=finding.reason,
        contacts=list(contacts.values()),
        businesses=list(businesses),
        evidence=evidence,
        review_status=finding.review_status,
        review_note=finding.review_note,
        raw_sha256=doc.raw_sha256,
        template_id=finding.template_id,
        actor_ids=actors,
        excerpt=_excerpt(doc.text, evidence),
        registry=list(registry.values()),
    )


def count_rows(session: Session, model: type[Any]) -> int:
    """Number of rows of one table (status displays and tests)."""
    return session.scalar(select(func.count()).select_from(model)) or 0
