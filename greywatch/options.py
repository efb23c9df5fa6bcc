"""CLI options shared by several commands, defined once so they read the same everywhere."""

from __future__ import annotations

from typing import Annotated

import typer

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
