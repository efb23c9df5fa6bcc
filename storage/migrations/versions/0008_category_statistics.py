"""Statistics on the text of findings.categories (PostgreSQL): the category filter is a
LIKE on that text, which the planner otherwise guesses matches 4 leads in 100,000, so it
sorted every lead instead of walking the leads list's keyset index (945 ms, bench/web.py).
Extended statistics on the expression (PostgreSQL 14+) give it the real share; nothing to
store on SQLite, whose planner does not use such estimates here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "st_findings_categories_text"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgresql():
        op.execute(
            f"CREATE STATISTICS IF NOT EXISTS {NAME} ON (CAST(categories AS TEXT)) FROM findings"
        )
        op.execute("ANALYZE findings")


def downgrade() -> None:
    if _postgresql():
        op.execute(f"DROP STATISTICS IF EXISTS {NAME}")
