"""CLI options shared by several commands, defined once so they read the same everywhere."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
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


def db_session(db: str | None) -> AbstractContextManager[Session]:
    """A write session on the database `--db` names (storage imported lazily: fast --help)."""
    from storage.db import get_engine, session_scope

    return session_scope(get_engine(db))
