"""SQLAlchemy 2.0 typed ORM models: the whole greywatch schema.

Evidence first: a document keeps the raw bytes it was built from (compressed), their SHA-256,
the HTTP status/headers and the fetch time, so a lead can be defended long after the page is
gone. Every schema change goes through an Alembic migration in `storage/migrations`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Named constraints so Alembic migrations are stable across SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REVIEW_STATUSES = ("new", "confirmed", "dismissed", "reported")


def utcnow() -> datetime:
    """Timezone-aware now, stored as UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Source(Base):
    """A configured source (mirrors the sources YAML; kept so runs and documents refer to it)."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrawlRun(Base):
    """One crawl of one source: when, how it ended, and the Scrapy stats."""

    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual|schedule|demo
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|finished|failed
    pages: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str] = mapped_column(Text, default="")


class CrawlLease(Base):
    """Who is crawling a source right now: one row per source while a crawl holds it.

    Taken atomically (insert, or compare-and-swap on `token` over a stale holder) and kept
    alive by `heartbeat_at`; see storage/lease.py. No foreign key: a lease may be taken
    before the source's row exists.
    """

    __tablename__ = "crawl_leases"

    source_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(Integer)
    owner_pid: Mapped[int] = mapped_column(Integer)
    owner_host: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SourcePage(Base):
    """A page as one source saw it: a URL reached by two sources is recorded for both."""

    __tablename__ = "source_pages"

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Document(Base):
    """A fetched page and its evidence: raw bytes (zlib), SHA-256 of those bytes, headers."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    canonical_url: Mapped[str] = mapped_column(String(2048), default="")
    source_id: Mapped[str | None] = mapped_column(ForeignKey("sources.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    title: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # zlib-compressed response body
    raw_sha256: Mapped[str] = mapped_column(String(64), index=True)  # of the uncompressed body
    text_hash: Mapped[str] = mapped_column(String(64), default="")  # SHA-256 of normalized text
    # Which lead the page belongs to, set when the page is saved (storage.repo.lead_keys_of):
    # its thread's key, else a stored exact copy's lead, else its own text_hash; a near-
    # duplicate repost with agreeing contacts then merges into the older lead
    # (storage.repo.join_near_duplicates). Kept as it is on re-analysis.
    lead_key: Mapped[str] = mapped_column(String(64), default="", index=True)
    encoding: Mapped[str] = mapped_column(String(40), default="")
    http_status: Mapped[int] = mapped_column(Integer, default=200)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    etag: Mapped[str] = mapped_column(String(200), default="")
    last_modified: Mapped[str] = mapped_column(String(100), default="")
    screenshot_path: Mapped[str] = mapped_column(String(1024), default="")
    rendered: Mapped[bool] = mapped_column(Boolean, default=False)

    finding: Mapped[Finding | None] = relationship(
        back_populates="document", cascade="all, delete-orphan", uselist=False
    )
    mentions: Mapped[list[Mention]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )


class Finding(Base):
    """The analysis of one document (one row per document, replaced on re-analysis).

    A finding whose kind is "promotion" is a *lead*; review state lives here.
    """

    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(20), index=True)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float] = mapped_column(Float, default=0.0, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)  # Analysis.to_json()
    lexicon_version: Mapped[str] = mapped_column(String(64), default="")
    analyzed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    review_status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    review_note: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id"), index=True)

    document: Mapped[Document] = relationship(back_populates="finding")


class Entity(Base):
    """A contact, business name or USCC code, unique by (kind, key) across all documents."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # phone|wechat|qq|email|url|business|uscc
    key: Mapped[str] = mapped_column(String(300))  # normalized value
    display: Mapped[str] = mapped_column(String(300), default="")
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("actors.id"), index=True)
    review_status: Mapped[str] = mapped_column(String(20), default="new")
    review_note: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    mentions: Mapped[list[Mention]] = relationship(back_populates="entity")


class Mention(Base):
    """Where an entity appears: document, span in the document text, the raw text."""

    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("document_id", "entity_id", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), index=True)
    raw: Mapped[str] = mapped_column(String(500), default="")
    start: Mapped[int] = mapped_column(Integer, default=0)
    end: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str] = mapped_column(String(100), default="")

    document: Mapped[Document] = relationship(back_populates="mentions")
    entity: Mapped[Entity] = relationship(back_populates="mentions")


class Registration(Base):
    """A row of an imported enterprise-registration export, unique by USCC."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    name_norm: Mapped[str] = mapped_column(String(300), index=True)
    brand_core: Mapped[str] = mapped_column(String(100), index=True, default="")
    region: Mapped[str] = mapped_column(String(100), default="")
    legal_rep: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(50), default="")
    founded: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    source_file: Mapped[str] = mapped_column(String(1024), default="")
    source_row: Mapped[int] = mapped_column(Integer, default=0)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BusinessMatch(Base):
    """How a business entity was resolved to a registration, and the scope verdict."""

    __tablename__ = "business_matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id"), unique=True)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id"))
    method: Mapped[str] = mapped_column(String(30))  # uscc|exact_name|brand_region|brand_fuzzy|…
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")  # why this registration (Chinese)
    candidates: Mapped[list[Any]] = mapped_column(default=list)
    verdict: Mapped[str] = mapped_column(String(30), default="")
    verdict_reason: Mapped[str] = mapped_column(Text, default="")
    matched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Actor(Base):
    """A cluster of entities (and through them documents) that share contacts."""

    __tablename__ = "actors"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(300), default="")
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    size: Mapped[int] = mapped_column(Integer, default=0)  # documents
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Template(Base):
    """A cluster of near-duplicate texts: one wording pushed by many accounts."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), unique=True)  # representative doc hash
    excerpt: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sources: Mapped[int] = mapped_column(Integer, default=0)
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    days: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExportLog(Base):
    """Every export of leads or contacts: who, when, which filter, how many rows, where to."""

    __tablename__ = "export_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    user: Mapped[str] = mapped_column(String(100), default="")
    what: Mapped[str] = mapped_column(String(50), default="leads")  # leads|report
    format: Mapped[str] = mapped_column(String(10), default="")
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(String(1024), default="")
    sha256: Mapped[str] = mapped_column(String(64), default="")


Index("ix_documents_fetched_at", Document.fetched_at)


USER_ROLES = ("viewer", "analyst", "admin")


class User(Base):
    """A person who signs in to the web workspace; the role says what they may change."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="viewer")  # viewer|analyst|admin
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A signed-in browser: the cookie carries a random token, only its SHA-256 is stored,
    so logging out (deleting the row) ends the session everywhere."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LoginAttempt(Base):
    """One sign-in attempt, kept so failed attempts can be rate-limited per name and address."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    name: Mapped[str] = mapped_column(String(100), default="", index=True)
    address: Mapped[str] = mapped_column(String(100), default="", index=True)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditLog(Base):
    """Who did what, when: every review, export, pack and admin action from any interface."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(50))  # review|export|pack|run|sources|login|…
    target: Mapped[str] = mapped_column(String(300), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    address: Mapped[str] = mapped_column(String(100), default="")


class AlertEvent(Base):
    """One thing an alert rule fired on, unique per (rule, key) so it is announced once;
    `deliveries` records per channel (webhook, email, digest) whether and when it was sent."""

    __tablename__ = "alert_events"
    __table_args__ = (UniqueConstraint("rule", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deliveries: Mapped[dict[str, Any]] = mapped_column(default=dict)


# The web workspace's indexes (migration 0006): keyset pages of the leads list, its filters
# and the dashboard's panels.
Index(
    "ix_documents_fetched_at_id",
    Document.fetched_at,
    Document.id,
    Document.source_id,
    Document.lead_key,
)
Index("ix_documents_source_id_fetched_at", Document.source_id, Document.fetched_at)
Index(
    "ix_findings_kind_document_id",
    Finding.kind,
    Finding.document_id,
    postgresql_include=["categories", "template_id"],
)
Index("ix_mentions_entity_id_document_id", Mention.entity_id, Mention.document_id)
Index("ix_crawl_runs_source_id_started_at", CrawlRun.source_id, CrawlRun.started_at)
Index("ix_actors_first_seen", Actor.first_seen)
Index("ix_templates_last_seen", Template.last_seen)

# Exact copies of a text join its lead (storage.repo.lead_keys_of, migration 0007).
Index("ix_documents_text_hash", Document.text_hash)
