"""Alembic environment: the target is `storage.models.Base.metadata`.

Run programmatically by `storage.db.migrate(engine)`, which passes its connection in
`config.attributes["connection"]`; without one (the alembic CLI), the URL comes from
`sqlalchemy.url` or `storage.db.database_url()`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from storage.db import database_url
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Only greywatch's own tables: APScheduler keeps `apscheduler_jobs` in the same database."""
    if type_ == "table":
        return name in target_metadata.tables
    table = parent_names.get("table_name")
    return table is None or table in target_metadata.tables


def _options(dialect_name: str) -> dict[str, object]:
    return {
        "target_metadata": target_metadata,
        "include_name": include_name,
        "compare_type": True,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        "render_as_batch": dialect_name == "sqlite",
    }


def run_offline() -> None:
    """Emit SQL instead of running it (`alembic upgrade head --sql`)."""
    url = config.get_main_option("sqlalchemy.url") or database_url()
    context.configure(url=url, literal_binds=True, **_options(url.split(":", 1)[0]))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection, or on a fresh one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or database_url()
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        context.configure(connection=conn, **_options(conn.dialect.name))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
