"""Business matches keep the reason for their registration ("why this registry row").

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # server_default fills the rows matched before this column existed (re-run
    # `greywatch registry match --db-entities` to give them their reasons).
    with op.batch_alter_table("business_matches") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("business_matches") as batch:
        batch.drop_column("reason")
