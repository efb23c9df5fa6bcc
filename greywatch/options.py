"""CLI options shared by several commands, defined once so they read the same everywhere."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="GREYWATCH_DATABASE_URL",
        help="Database URL, e.g. postgresql+psycopg2://user@host/greywatch "
        "(default: SQLite in $GREYWATCH_HOME or ~/.local/share/greywatch).",
        show_default=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def open_engine(db: str | None, *, create: bool = False) -> Engine:
    """The engine for --db, its schema made (new database) or checked (existing one).

    Commands that only read or annotate what a crawl stored pass `create=False`: they never
    make a SQLite file or folder, and say how to make one instead (storage imported lazily).
    """
    from storage.db import check_schema, get_engine

    engine = get_engine(db, create=create)
    check_schema(engine)
    return engine


def db_session(
    db: str | None, *, create: bool = False, write: bool = True
) -> AbstractContextManager[Session]:
    """A session on the database `--db` names (see `open_engine` for `create`)."""
    from storage.db import session_scope

    return session_scope(open_engine(db, create=create), write=write)
