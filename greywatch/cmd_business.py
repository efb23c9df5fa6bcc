"""`greywatch businesses`: the firms named in stored pages, with what the registry and the
analysts said of them and how many leads name them."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from greywatch.console import echo_json, make_console
from greywatch.options import DbOption, JsonOption, db_session

_out = make_console()

# Shown for a firm never matched against the imported registry.
NOT_CHECKED = "未核验（先运行 registry match --db-entities）"


def businesses(
    review: Annotated[
        list[str] | None,
        typer.Option(
            metavar="STATE", help="Only firms in this review state (repeatable): new|confirmed|…"
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List firms: USCC, registry verdict, review state and lead count, most leads first.

    The id names the firm in `greywatch review business ID` and `report 12315 --business ID`.
    """
    from storage.exports import VERDICT_LABELS
    from storage.review import list_businesses

    with db_session(db, write=False) as session:
        rows = list_businesses(session, tuple(s.strip() for s in review or ()))
    if as_json:
        echo_json(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1))
        return
    if not rows:
        _out.print("no businesses" + (" in that review state" if review else " named yet"))
        return
    table = Table(title=f"{len(rows)} businesses", title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("business", overflow="fold", ratio=3)
    table.add_column("USCC", no_wrap=True)
    table.add_column("registry", overflow="fold", ratio=2)
    table.add_column("review", no_wrap=True)
    table.add_column("leads", justify="right", no_wrap=True)
    for r in rows:
        verdict = VERDICT_LABELS.get(r.verdict, r.verdict) if r.checked else NOT_CHECKED
        table.add_row(
            str(r.id), r.name or "-", r.uscc or "-", verdict, r.review_status, str(r.leads)
        )
    _out.print(table)


def register(app: typer.Typer) -> None:
    """Add `businesses` to the root app."""
    app.command("businesses")(businesses)
