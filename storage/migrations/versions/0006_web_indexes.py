"""Indexes for the web workspace: the leads list (keyset by fetch time, newest first, with
its common filters) and the dashboard's panels.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index name, table, columns, PostgreSQL INCLUDE columns): the same list as the Index(...)
# lines at the end of storage/models.py.
INDEXES = (
    # Keyset pages of the leads list (ORDER BY fetched_at DESC, id DESC, resumed after a key),
    # and the dashboard's pass over a time window: source and lead key ride along, so neither
    # reads the documents themselves (wide rows: text and the raw page).
    ("ix_documents_fetched_at_id", "documents", ["fetched_at", "id", "source_id", "lead_key"], []),
    # A source's leads in a time window (filter `source`).
    ("ix_documents_source_id_fetched_at", "documents", ["source_id", "fetched_at"], []),
    # Leads only (kind = 'promotion') joined to their documents, with their categories and
    # template on PostgreSQL (JSON has no btree order, so it is carried, not keyed): the
    # dashboard never reads the findings' wide rows (evidence and the whole analysis).
    (
        "ix_findings_kind_document_id",
        "findings",
        ["kind", "document_id"],
        ["categories", "template_id"],
    ),
    # From a contact, firm or actor's entities to the documents naming them.
    ("ix_mentions_entity_id_document_id", "mentions", ["entity_id", "document_id"], []),
    # A source's latest runs (sources page, failing sources on the dashboard).
    ("ix_crawl_runs_source_id_started_at", "crawl_runs", ["source_id", "started_at"], []),
    # New actors and recent templates on the dashboard.
    ("ix_actors_first_seen", "actors", ["first_seen"], []),
    ("ix_templates_last_seen", "templates", ["last_seen"], []),
)


def upgrade() -> None:
    for name, table, columns, include in INDEXES:
        op.create_index(name, table, columns, postgresql_include=include)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
