"""Documents keep their lead key: the pages of one forum thread are one lead.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(
            sa.Column("lead_key", sa.String(length=64), nullable=False, server_default="")
        )
    # Pages stored before this revision stay grouped as they were: by their normalized text
    # (their next save joins them to the other pages of their thread).
    op.execute("UPDATE documents SET lead_key = text_hash")
    with op.batch_alter_table("documents") as batch:
        batch.create_index(batch.f("ix_documents_lead_key"), ["lead_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.drop_index(batch.f("ix_documents_lead_key"))
        batch.drop_column("lead_key")
