"""Actors and templates in the database: cluster the stored documents, keep ids stable.

`link_actors` groups promotion documents by shared contacts (pipelines.link) into Actor rows
and points contact and business entities at them; `link_templates` groups near-duplicate
texts into Template rows and points findings at them. Both are idempotent: re-running after
new documents updates clusters in place (a merged cluster keeps its smallest id, a split keeps
the id for its biggest part), never duplicates. Callers commit (`storage.db.session_scope`).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pipelines import timeutil
from pipelines.errors import InputError
from pipelines.link import (
    LINK_KINDS,
    MAX_DOCS_PER_CONTACT,
    SUGGEST_WINDOW_HOURS,
    DocContacts,
    Post,
    cluster_actors,
    cluster_templates,
    signature,
    suggest_actors,
    template_body,
)
from pipelines.poster import extract_poster, location_name
from storage.models import (
    Actor,
    Document,
    Entity,
    Finding,
    Mention,
    Source,
    Template,
    utcnow,
)

# Only promoters are actors: warning articles quote victims' and hotline numbers, and linking
# them would tie unrelated promoters together through the news story that named both.
ACTOR_FINDING_KINDS = ("promotion",)
# Characters of the representative text kept as a template's excerpt (one table cell).
EXCERPT_CHARS = 200
# Days of a template's spread are counted in China time, where the posts are made.
CHINA_TZ = timeutil.CHINA_TZ
_BATCH = 2000  # rows streamed per round trip, and ids per IN (…) list (SQLite allows 32766)


@dataclass(frozen=True)
class LinkStats:
    """What a linking run did: documents looked at, clusters kept, rows created/removed."""

    documents: int
    clusters: int  # actors / templates in the database after the run
    linked: int  # of those, clusters of 2+ documents
    created: int
    removed: int
    biggest: int
    hubs: int = 0  # actors only: contacts left out for appearing on too many documents


_utc = timeutil.as_utc_opt  # SQLite returns naive datetimes (stored as UTC): make them aware


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _BATCH):
        yield ids[i : i + _BATCH]


# ------------------------------------------------------------------------------------ actors


def _actor_inputs(
    session: Session, kinds: tuple[str, ...]
) -> tuple[list[DocContacts], dict[tuple[str, str], int]]:
    """Per document its contacts and businesses; (kind, key) → entity id."""
    rows = session.execute(
        select(Mention.document_id, Entity.id, Entity.kind, Entity.key)
        .join(Entity, Mention.entity_id == Entity.id)
        .join(Finding, Finding.document_id == Mention.document_id)
        .where(Finding.kind.in_(kinds), Entity.kind.in_([*LINK_KINDS, "business"]))
    )
    contacts: dict[int, set[tuple[str, str]]] = defaultdict(set)
    businesses: dict[int, set[str]] = defaultdict(set)
    entity_ids: dict[tuple[str, str], int] = {}
    for doc_id, entity_id, kind, key in rows:
        entity_ids[(kind, key)] = entity_id
        if kind == "business":
            businesses[doc_id].add(key)
        else:
            contacts[doc_id].add((kind, key))
    docs = [
        DocContacts(d, frozenset(contacts[d]), frozenset(businesses.get(d, ())))
        for d in sorted(contacts)  # an actor needs a contact: names alone are not a person
    ]
    return docs, entity_ids


def _label(cluster_docs: list[DocContacts]) -> str:
    """The contact or business named on most of the cluster's documents (ties: a business)."""
    counts: Counter[tuple[int, str]] = Counter()
    for doc in cluster_docs:
        counts.update((1, b) for b in doc.businesses)
        counts.update((0, f"{k} {v}") for k, v in doc.contacts if k in LINK_KINDS)
    (_, label), _ = max(counts.items(), key=lambda kv: (kv[1], kv[0][0], kv[0][1]))
    return label[:300]


def link_actors(
    session: Session,
    kinds: tuple[str, ...] = ACTOR_FINDING_KINDS,
    max_docs_per_contact: int = MAX_DOCS_PER_CONTACT,
) -> LinkStats:
    """Cluster documents (findings of `kinds`) by shared contacts into Actor rows (first/last
    seen: post dates, fetch dates where a page gave none); point the cluster's contact and
    business entities at its actor. Idempotent, ids stable."""
    docs, entity_ids = _actor_inputs(session, kinds)
    by_id = {d.doc_id: d for d in docs}
    clusters = [c for c in cluster_actors(docs, max_docs_per_contact) if c.contacts]
    old_rows = session.execute(
        select(Entity.id, Entity.actor_id).where(Entity.actor_id.is_not(None))
    )
    old: dict[int, int] = {e: a for e, a in old_rows}
    existing = {a.id: a for a in session.scalars(select(Actor))}
    posted = _post_times(session, list(by_id))
    taken: set[int] = set()
    placed: list[tuple[Actor, list[int], list[DocContacts]]] = []
    for cluster in clusters:  # biggest first: a split cluster's biggest part keeps the id
        eids = [entity_ids[c] for c in cluster.contacts]
        candidates = sorted({old[e] for e in eids if old.get(e) in existing} - taken)
        actor = existing[candidates[0]] if candidates else Actor()
        if not candidates:
            session.add(actor)
        else:
            taken.add(candidates[0])
        members = [by_id[d] for d in cluster.doc_ids]
        times = [posted[d.doc_id] for d in members]
        actor.label, actor.size = _label(members), len(members)
        actor.first_seen, actor.last_seen, actor.updated_at = min(times), max(times), utcnow()
        placed.append((actor, eids, members))
    session.flush()  # new actors get their ids
    want: dict[int, int] = {}  # entity id → actor id
    biz_votes: dict[int, Counter[int]] = defaultdict(Counter)
    for actor, eids, members in placed:
        want.update((e, actor.id) for e in eids)
        for doc in members:
            for b in doc.businesses:
                biz_votes[entity_ids[("business", b)]][actor.id] += 1
    for entity_id, votes in biz_votes.items():  # a name on several actors' posts: the main one
        want[entity_id] = min(votes, key=lambda a: (-votes[a], a))
    changes = [
        {"id": e, "actor_id": want.get(e)}
        for e in old.keys() | want.keys()
        if old.get(e) != want.get(e)
    ]
    if changes:
        session.execute(update(Entity), changes)
    gone = sorted(existing.keys() - taken)
    for ids in _chunks(gone):
        session.execute(delete(Actor).where(Actor.id.in_(ids)))
    session.flush()
    return LinkStats(
        documents=len(docs),
        clusters=len(clusters),
        linked=sum(len(c.doc_ids) > 1 for c in clusters),
        created=len(placed) - len(taken),
        removed=len(gone),
        biggest=max((len(c.doc_ids) for c in clusters), default=0),
        hubs=_count_hubs(docs, max_docs_per_contact),
    )


def _count_hubs(docs: Iterable[DocContacts], cap: int) -> int:
    counts = Counter(c for d in docs for c in d.contacts)
    return sum(n > cap for n in counts.values())


def _post_times(session: Session, doc_ids: list[int]) -> dict[int, datetime]:
    """When each document was posted: its published date, else when it was fetched."""
    out: dict[int, datetime] = {}
    cols = (Document.id, Document.published_at, Document.fetched_at)
    for ids in _chunks(doc_ids):
        for d, published, fetched in session.execute(select(*cols).where(Document.id.in_(ids))):
            out[d] = _utc(published) or _utc(fetched)  # type: ignore[assignment]
    return out


# --------------------------------------------------------------------------------- templates


def _texts(session: Session, kinds: tuple[str, ...] | None) -> Iterator[tuple[int, str]]:
    """(document id, body) of documents with a finding, oldest id first, streamed; the body is
    the stored text without its title line (reposts of one body carry titles of their own)."""
    stmt = select(Document.id, Document.text, Document.title).join(Finding).order_by(Document.id)
    if kinds:
        stmt = stmt.where(Finding.kind.in_(kinds))
    for doc_id, text, title in session.execute(stmt.execution_options(yield_per=_BATCH)):
        yield doc_id, template_body(text or "", title or "")


@dataclass(frozen=True)
class _DocInfo:
    source_id: str | None
    author: str
    when: datetime  # published, or fetched when the page gave no date
    text_hash: str
    text: str


def _doc_infos(session: Session, doc_ids: list[int]) -> dict[int, _DocInfo]:
    out: dict[int, _DocInfo] = {}
    cols = (Document.id, Document.source_id, Document.author, Document.published_at)
    more = (Document.fetched_at, Document.text_hash, Document.text)
    for ids in _chunks(doc_ids):
        for d, src, author, pub, fetched, th, text in session.execute(
            select(*cols, *more).where(Document.id.in_(ids))
        ):
            when = _utc(pub) or _utc(fetched)
            out[d] = _DocInfo(src, (author or "").strip(), when, th or "", text or "")  # type: ignore[arg-type]
    return out


def _account_keys(session: Session, infos: dict[int, _DocInfo]) -> dict[int, str]:
    """Per document its posting account: the page's author, else the set of contacts it gives
    (documents with neither have none)."""
    keys = {d: f"author:{i.author}" for d, i in infos.items() if i.author}
    contacts: dict[int, set[str]] = defaultdict(set)
    for ids in _chunks([d for d, i in infos.items() if not i.author]):
        rows = session.execute(
            select(Mention.document_id, Entity.kind, Entity.key)
            .join(Entity, Mention.entity_id == Entity.id)
            .where(Mention.document_id.in_(ids), Entity.kind.in_(LINK_KINDS))
        )
        for d, kind, key in rows:
            contacts[d].add(f"{kind}:{key}")
    keys.update((d, "contacts:" + ",".join(sorted(c))) for d, c in contacts.items())
    return keys


def _signature(info: _DocInfo, taken: set[str], rep_id: int) -> str:
    """The representative's text hash; made unique in the (unlikely) case of a clash."""
    sig = info.text_hash or hashlib.sha256(info.text.encode()).hexdigest()
    if sig in taken:
        sig = hashlib.sha256(f"{sig}:{rep_id}".encode()).hexdigest()
    taken.add(sig)
    return sig


def link_templates(
    session: Session,
    kinds: tuple[str, ...] | None = None,
    progress: Callable[[int], None] | None = None,
) -> LinkStats:
    """Cluster near-duplicate document texts (findings of `kinds`, default all) into Template
    rows with their spread, and set Finding.template_id. Idempotent, ids stable."""
    clusters = cluster_templates(_texts(session, kinds), progress=progress)
    old_rows = session.execute(select(Finding.document_id, Finding.id, Finding.template_id))
    old = {d: (f, t) for d, f, t in old_rows}
    existing = {t.id: t for t in session.scalars(select(Template))}
    infos = _doc_infos(session, [d for c in clusters for d in c.doc_ids])
    accounts = _account_keys(session, infos)
    taken: set[int] = set()
    placed: list[tuple[Template, int, list[int]]] = []  # row, representative, members
    for cluster in clusters:  # biggest first: a split cluster's biggest part keeps the id
        members: list[int] = list(cluster.doc_ids)
        candidates = sorted({old[d][1] for d in members if old[d][1] in existing} - taken)
        row = existing[candidates[0]] if candidates else None
        if row is None:
            row = Template(signature=f"new-{cluster.representative_id}")
            session.add(row)
        else:
            taken.add(row.id)
        rep = infos[cluster.representative_id]
        whens = [infos[d].when for d in members]
        row.excerpt = " ".join(rep.text.split())[:EXCERPT_CHARS]
        row.size, row.sources = len(members), len({infos[d].source_id for d in members} - {None})
        row.accounts = len({accounts[d] for d in members if d in accounts})
        row.days = len({w.astimezone(CHINA_TZ).date() for w in whens})
        row.first_seen, row.last_seen, row.updated_at = min(whens), max(whens), utcnow()
        placed.append((row, cluster.representative_id, members))
    session.flush()  # new templates get their ids
    want = {old[d][0]: row.id for row, _, members in placed for d in members}  # finding → id
    changes = [{"id": f, "template_id": want.get(f)} for f, t in old.values() if t != want.get(f)]
    if changes:
        session.execute(update(Finding), changes)
    gone = sorted(existing.keys() - taken)
    for ids in _chunks(gone):
        session.execute(delete(Template).where(Template.id.in_(ids)))
    _set_signatures(session, [(row, rep) for row, rep, _ in placed], infos)
    return LinkStats(
        documents=len(old),
        clusters=len(clusters),
        linked=len(clusters),
        created=len(placed) - len(taken),
        removed=len(gone),
        biggest=max((len(c.doc_ids) for c in clusters), default=0),
    )


def _set_signatures(
    session: Session, plan: list[tuple[Template, int]], infos: dict[int, _DocInfo]
) -> None:
    """Signatures in two steps (placeholders first) so that rows swapping representatives
    never collide on the unique column mid-update."""
    taken: set[str] = set()
    final = [(row, _signature(infos[rep], taken, rep)) for row, rep in plan]
    moving = [(row, sig) for row, sig in final if row.signature != sig]
    for row, _ in moving:
        row.signature = f"tmp-{row.id}"
    session.flush()
    for row, sig in moving:
        row.signature = sig
    session.flush()


# ----------------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class ActorRow:
    """One actor in a listing."""

    id: int
    label: str
    size: int
    first_seen: datetime | None
    last_seen: datetime | None
    contacts: int
    businesses: int


@dataclass(frozen=True)
class LinkedDoc:
    """A document of an actor or template, as a reviewer needs to open it."""

    document_id: int
    url: str
    title: str
    source_id: str | None
    author: str
    fetched_at: datetime
    published_at: datetime | None
    kind: str  # the finding's kind
    similarity: float | None = None  # templates: estimated similarity to the representative


@dataclass(frozen=True)
class ActorDetail:
    """An actor with its contacts, businesses, documents, and why they were joined."""

    actor: ActorRow
    contacts: list[tuple[str, str]]  # (kind, value)
    businesses: list[str]
    documents: list[LinkedDoc]
    why: list[tuple[str, str, list[int]]]  # (kind, value, document ids): shared contacts


def list_actors(session: Session, min_size: int = 2, limit: int | None = None) -> list[ActorRow]:
    """Actors with at least `min_size` documents, biggest first."""
    counts = (
        select(
            Entity.actor_id,
            func.count().filter(Entity.kind != "business").label("contacts"),
            func.count().filter(Entity.kind == "business").label("businesses"),
        )
        .where(Entity.actor_id.is_not(None))
        .group_by(Entity.actor_id)
        .subquery()
    )
    stmt = (
        select(Actor, counts.c.contacts, counts.c.businesses)
        .outerjoin(counts, counts.c.actor_id == Actor.id)
        .where(Actor.size >= min_size)
        .order_by(Actor.size.desc(), Actor.id)
        .limit(limit)
    )
    return [_actor_row(a, c or 0, b or 0) for a, c, b in session.execute(stmt)]


def _actor_row(a: Actor, contacts: int, businesses: int) -> ActorRow:
    return ActorRow(
        a.id, a.label, a.size, _utc(a.first_seen), _utc(a.last_seen), contacts, businesses
    )


def _linked_docs(session: Session, doc_ids: Iterable[int]) -> list[LinkedDoc]:
    out: list[LinkedDoc] = []
    for ids in _chunks(sorted(set(doc_ids))):
        stmt = (
            select(Document, Finding.kind)
            .outerjoin(Finding)
            .where(Document.id.in_(ids))
            .order_by(Document.fetched_at, Document.id)
        )
        for d, kind in session.execute(stmt):
            out.append(
                LinkedDoc(
                    d.id,
                    d.url,
                    d.title,
                    d.source_id,
                    d.author,
                    _utc(d.fetched_at),  # type: ignore[arg-type]
                    _utc(d.published_at),
                    kind or "",
                )
            )
    return out


def actor_detail(
    session: Session, actor_id: int, kinds: tuple[str, ...] = ACTOR_FINDING_KINDS
) -> ActorDetail:
    """One actor: its contacts, businesses, documents (findings of `kinds`) and the shared
    contacts that joined them. Raises InputError for an unknown id."""
    actor = session.get(Actor, actor_id)
    if actor is None:
        raise InputError(
            f"actor {actor_id} does not exist", hint="list them with `greywatch actors`"
        )
    entities = list(
        session.scalars(
            select(Entity).where(Entity.actor_id == actor_id).order_by(Entity.kind, Entity.key)
        )
    )
    contact_ids = [e.id for e in entities if e.kind != "business"]
    docs_of: dict[int, set[int]] = defaultdict(set)
    for ids in _chunks(contact_ids):
        rows = session.execute(
            select(Mention.entity_id, Mention.document_id)
            .join(Finding, Finding.document_id == Mention.document_id)
            .where(Mention.entity_id.in_(ids), Finding.kind.in_(kinds))
        )
        for e, d in rows:
            docs_of[e].add(d)
    by_id = {e.id: e for e in entities}
    contacts = [(e.kind, e.key) for e in entities if e.kind != "business"]
    businesses = [e.key for e in entities if e.kind == "business"]
    why = [
        (by_id[e].kind, by_id[e].key, sorted(ds))
        for e, ds in sorted(docs_of.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        if len(ds) > 1
    ]
    documents = _linked_docs(session, {d for ds in docs_of.values() for d in ds})
    row = _actor_row(actor, len(contacts), len(businesses))
    return ActorDetail(row, contacts, businesses, documents, why)


@dataclass(frozen=True)
class TemplateRow:
    """One template in a listing: its size and how far it spread."""

    id: int
    signature: str
    excerpt: str
    size: int
    sources: int
    accounts: int
    days: int
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class TemplateDetail:
    """A template with its documents, each with its similarity to the representative."""

    template: TemplateRow
    representative_id: int | None
    documents: list[LinkedDoc]


def _template_row(t: Template) -> TemplateRow:
    return TemplateRow(
        t.id,
        t.signature,
        t.excerpt,
        t.size,
        t.sources,
        t.accounts,
        t.days,
        _utc(t.first_seen),
        _utc(t.last_seen),
    )


def list_templates(
    session: Session, min_size: int = 2, limit: int | None = None
) -> list[TemplateRow]:
    """Templates with at least `min_size` documents, widest spread (accounts, size) first."""
    stmt = (
        select(Template)
        .where(Template.size >= min_size)
        .order_by(Template.accounts.desc(), Template.size.desc(), Template.id)
        .limit(limit)
    )
    return [_template_row(t) for t in session.scalars(stmt)]


def template_detail(session: Session, template_id: int) -> TemplateDetail:
    """One template: its documents (oldest first; the first is the representative) and each
    one's estimated similarity to it. Raises InputError for an unknown id."""
    t = session.get(Template, template_id)
    if t is None:
        raise InputError(
            f"template {template_id} does not exist", hint="list them with `greywatch templates`"
        )
    rows = session.execute(
        select(Document.id, Document.text, Document.title)
        .join(Finding)
        .where(Finding.template_id == template_id)
        .order_by(Document.id)
    ).all()
    rep_id = rows[0][0] if rows else None
    rep_sig = signature(template_body(rows[0][1] or "", rows[0][2] or "")) if rows else None
    sims: dict[int, float] = {}
    for d, text, title in rows:
        sig = signature(template_body(text or "", title or ""))
        if rep_sig is not None and sig is not None:
            sims[d] = float((sig == rep_sig).mean())
    linked = _linked_docs(session, [d for d, _, _ in rows])
    docs = [replace(doc, similarity=sims.get(doc.document_id)) for doc in linked]
    return TemplateDetail(_template_row(t), rep_id, docs)


# -------------------------------------------------------------------------- suggested actors

# Findings whose template wording can hint at one agent behind several accounts: promotions
# and the "customer" posts (complaints, testimonials) read as other; warnings quote wording.
SUGGEST_FINDING_KINDS = ("promotion", "other")
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class SuggestedPost:
    """One post of a suggestion: the document, its account, IP location, time and template."""

    document_id: int
    account: str
    location: str
    when: datetime
    template_id: int
    url: str


@dataclass(frozen=True)
class SuggestedEvidence:
    """Posts of one template from one place, each within the window of the previous one."""

    template_id: int
    template_excerpt: str
    location: str
    posts: list[SuggestedPost]


@dataclass(frozen=True)
class SuggestedActorRow:
    """Accounts suggested as one actor (not proven: no shared contact is needed), the evidence,
    and the actors proven by shared contacts that its documents already belong to."""

    number: int
    accounts: list[str]
    locations: list[str]
    template_ids: list[int]
    first_seen: datetime
    last_seen: datetime
    evidence: list[SuggestedEvidence]
    proven_actor_ids: list[int]


def _stored_page(raw: bytes | None, encoding: str) -> str:
    """The stored (zlib-compressed) page as text; "" when absent or unreadable."""
    if not raw:
        return ""
    try:
        return zlib.decompress(raw).decode(encoding or "utf-8", errors="replace")
    except (LookupError, zlib.error):
        return ""


def _page_text(raw: bytes | None, encoding: str) -> str:
    """The stored page's visible text, roughly (tags, scripts and styles dropped)."""
    page = _stored_page(raw, encoding)
    return " ".join(html_lib.unescape(_TAG.sub(" ", page)).split()) if page else ""


def _selected(raw: bytes | None, encoding: str, query: str) -> str:
    """Text of the first node a source's field selector picks on the stored page."""
    from parsel import Selector

    page = _stored_page(raw, encoding)
    if not page:
        return ""
    sel = Selector(text=page)
    nodes = sel.xpath(query) if query.startswith(("/", "(", "./")) else sel.css(query)
    if not nodes:
        return ""
    return " ".join(t.strip() for t in nodes[0].xpath(".//text()").getall() if t.strip())


def _field_selectors(session: Session) -> dict[str, dict[str, str]]:
    """Per source its `fields.account` / `fields.ip_location` selectors, where configured."""
    out: dict[str, dict[str, str]] = {}
    for source_id, config in session.execute(select(Source.id, Source.config)):
        fields = (config or {}).get("fields") or {}
        picked = {k: fields[k] for k in ("account", "ip_location") if fields.get(k)}
        if picked:
            out[source_id] = picked
    return out


def _poster_of(
    row: Any, selectors: dict[str, str], raw: Callable[[], tuple[bytes | None, str]]
) -> tuple[str, str]:
    """(account, IP location) of a document: the source's selectors on the stored page, then
    the page's author and what the analysis kept, then the patterns on the text, then on the
    whole stored page (platforms print IP属地 beside the post, outside its main text)."""
    extra = ((row.analysis or {}).get("extra") or {}) if isinstance(row.analysis, dict) else {}
    account = location = ""
    if selectors:
        body, encoding = raw()
        if q := selectors.get("account"):
            account = _selected(body, encoding, q)
        if q := selectors.get("ip_location"):
            picked = _selected(body, encoding, q)
            location = extract_poster(picked).ip_location or location_name(picked)
    account = account or (row.author or "").strip() or extra.get("account", "")
    location = location or extra.get("ip_location", "")
    if not (account and location):
        found = extract_poster(row.text or "")
        account, location = account or found.account, location or found.ip_location
    if not (account and location):
        found = extract_poster(_page_text(*raw()))
        account, location = account or found.account, location or found.ip_location
    return account[:200], location[:20]


def suggested_actors(
    session: Session,
    window_hours: int = SUGGEST_WINDOW_HOURS,
    kinds: tuple[str, ...] = SUGGEST_FINDING_KINDS,
) -> list[SuggestedActorRow]:
    """Accounts posting one template's wording from one IP location, each post within
    `window_hours` of the previous: suggested actors with their evidence, biggest first.
    Computed from the templates `link_templates` stored; nothing is written."""
    if window_hours < 1:
        raise InputError(f"--window must be at least 1 hour, not {window_hours}")
    selectors = _field_selectors(session)
    stmt = (
        select(
            Document.id,
            Document.source_id,
            Document.author,
            Document.text,
            Document.url,
            Document.published_at,
            Document.fetched_at,
            Finding.analysis,
            Finding.template_id,
        )
        .join(Finding, Finding.document_id == Document.id)
        .where(Finding.template_id.is_not(None), Finding.kind.in_(kinds))
        .order_by(Document.id)
    )
    posts: list[Post] = []
    urls: dict[int, str] = {}
    for row in session.execute(stmt):

        def raw(doc_id: int = row.id) -> tuple[bytes | None, str]:
            got = session.execute(
                select(Document.raw, Document.encoding).where(Document.id == doc_id)
            ).one()
            return got[0], got[1] or ""

        account, location = _poster_of(row, selectors.get(row.source_id or "", {}), raw)
        when = _utc(row.published_at) or _utc(row.fetched_at)
        posts.append(Post(row.id, account, location, when, row.template_id))  # type: ignore[arg-type]
        urls[row.id] = row.url
    found = suggest_actors(posts, timedelta(hours=window_hours))
    excerpts = dict(
        session.execute(
            select(Template.id, Template.excerpt).where(
                Template.id.in_({e.template_id for s in found for e in s.evidence})
            )
        ).all()
    )
    out = []
    for number, s in enumerate(found, 1):
        evidence = [
            SuggestedEvidence(
                int(e.template_id),  # type: ignore[call-overload]
                excerpts.get(e.template_id, ""),
                e.location,
                [
                    SuggestedPost(
                        int(p.doc_id),  # type: ignore[call-overload]
                        p.account or "（未显示账号）",
                        p.location,
                        p.when,
                        int(p.template_id),  # type: ignore[call-overload]
                        urls[p.doc_id],  # type: ignore[index]
                    )
                    for p in e.posts
                ],
            )
            for e in s.evidence
        ]
        times = [p.when for e in evidence for p in e.posts]
        out.append(
            SuggestedActorRow(
                number,
                [a for a in s.accounts],
                sorted({e.location for e in evidence}),
                sorted({e.template_id for e in evidence}),
                min(times),
                max(times),
                evidence,
                _proven_actors(session, [int(d) for d in s.doc_ids]),  # type: ignore[call-overload]
            )
        )
    return out


def _proven_actors(session: Session, doc_ids: list[int]) -> list[int]:
    """Actors of 2+ documents (proven by shared contacts) the documents already belong to."""
    rows = session.scalars(
        select(Entity.actor_id)
        .join(Mention, Mention.entity_id == Entity.id)
        .join(Actor, Actor.id == Entity.actor_id)
        .where(Mention.document_id.in_(doc_ids), Actor.size >= 2)
        .distinct()
    )
    return sorted(rows)
