"""`greywatch exports`: the export log (who exported what, when, how many rows, SHA-256).

Every lead export and 12315 pack is recorded in ExportLog (storage.exports); this command
lists those records so an export can be accounted for and its file checked against its hash.
It only reads: it never creates a database.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from greywatch.console import echo_json, make_console
from greywatch.options import DbOption, JsonOption, db_session
from pipelines.display import beijing_bare, header

_out = make_console()

# Default number of exports listed, newest first; --limit 0 lists all.
DEFAULT_EXPORTS_LIMIT = 20
NO_EXPORTS = "no exports recorded yet (`greywatch leads export` and `report 12315` record them)"


def exports(
    limit: Annotated[
        int, typer.Option(min=0, help="How many exports, newest first (0: all).")
    ] = DEFAULT_EXPORTS_LIMIT,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List recorded exports, newest first: when, who, what, filter, rows, file and SHA-256."""
    from storage.exports import export_json, filter_text, list_exports

    with db_session(db, create=False, write=False) as session:
        logs = list_exports(session, limit or None)
        if as_json:
            data = [export_json(log) for log in logs]
            echo_json(json.dumps(data, ensure_ascii=False, indent=1))
            return
        if not logs:
            _out.print(NO_EXPORTS, markup=False)
            return
        title = f"{len(logs)} exports"
        if limit and len(logs) == limit:
            title += f" (the latest {limit}; --limit 0 lists all)"
        table = Table(title=title, title_justify="left")
        table.add_column("id", justify="right", no_wrap=True)
        table.add_column(header("time"), no_wrap=True)
        table.add_column("user", no_wrap=True)
        table.add_column("what", no_wrap=True)
        table.add_column("format", no_wrap=True)
        table.add_column("filter", overflow="fold", ratio=2)
        table.add_column("rows", justify="right", no_wrap=True)
        table.add_column("file", overflow="fold", ratio=2)
        table.add_column("sha256", overflow="fold", ratio=1)
        for log in logs:
            table.add_row(
                str(log.id),
                beijing_bare(log.at),
                Text(log.user or "-"),
                Text(log.what),
                Text(log.format or "-"),
                Text(filter_text(log.filters or {})),
                str(log.rows),
                Text(log.path or "-"),
                Text(log.sha256 or "-"),
            )
    _out.print(table)


def register(app: typer.Typer) -> None:
    """Add `exports` to the root app."""
    app.command("exports")(exports)
