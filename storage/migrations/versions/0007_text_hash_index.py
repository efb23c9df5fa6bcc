"""An index on documents.text_hash: a page joins the lead of a stored exact copy of its text
even after near-duplicate joining gave that copy another lead's key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_documents_text_hash", "documents", ["text_hash"])


def downgrade() -> None:
    op.drop_index("ix_documents_text_hash", table_name="documents")
