"""Crawl leases (one crawl per source at a time) and the pages each source has seen.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crawl_leases",
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=False),
        sa.Column("owner_host", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_crawl_leases")),
    )
    op.create_table(
        "source_pages",
        sa.Column("source_id", sa.String(length=100), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["documents.id"],
            name=op.f("fk_source_pages_document_id_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["crawl_runs.id"], name=op.f("fk_source_pages_run_id_crawl_runs")
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_source_pages_source_id_sources")
        ),
        sa.PrimaryKeyConstraint("source_id", "document_id", name=op.f("pk_source_pages")),
    )
    with op.batch_alter_table("source_pages") as batch:
        batch.create_index(batch.f("ix_source_pages_document_id"), ["document_id"], unique=False)
    # Pages stored before this revision were seen by the source recorded on them.
    op.execute(
        "INSERT INTO source_pages (source_id, document_id, run_id, first_seen, last_seen) "
        "SELECT source_id, id, run_id, fetched_at, fetched_at FROM documents "
        "WHERE source_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("source_pages") as batch:
        batch.drop_index(batch.f("ix_source_pages_document_id"))
    op.drop_table("source_pages")
    op.drop_table("crawl_leases")
