"""CLI verbs for casework: `leads export`, `review …`, `report 12315`.

Thin wrappers: parse and validate flags, open the database, call storage.exports /
storage.review / storage.report, and print one line per result.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from greywatch.cmd_store import KindChoice, ReviewChoice, leads_app, parse_since
from greywatch.console import make_console
from greywatch.errors import GreywatchError, InputError
from greywatch.options import DbOption, db_session
from storage.models import REVIEW_STATUSES

review_app = typer.Typer(
    help=(
        "Record what an analyst decided about leads and businesses "
        f"({'|'.join(REVIEW_STATUSES)}), with a note."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
report_app = typer.Typer(
    help="Build evidence packs for regulators from confirmed businesses.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_out = make_console()

UserOption = Annotated[
    str | None,
    typer.Option("--user", help="Who is exporting, for the export log (default: $USER)."),
]
StatusOption = Annotated[
    str,
    typer.Option("--status", "-s", help=f"New review status: {'|'.join(REVIEW_STATUSES)}."),
]
NoteOption = Annotated[str, typer.Option("--note", "-n", help="Why: the analyst's note.")]


def parse_when(value: str | None, flag: str) -> datetime | None:
    """A date flag read as `greywatch leads` reads it (2026-11-01, 2026-11-01T08:00, 7d)."""
    return parse_since(value, flag) if value else None


def parse_categories(values: list[str]) -> tuple[str, ...]:
    """Category keys from keys or Chinese names (征信修复 → credit_repair)."""
    from storage.exports import category_labels

    labels = category_labels()
    by_label = {v: k for k, v in labels.items()}
    out = []
    for v in values:
        key = v if v in labels else by_label.get(v)
        if key is None:
            choices = ", ".join(f"{k} ({n})" for k, n in labels.items())
            raise InputError(f"--category: unknown category {v!r}", hint=f"use one of: {choices}")
        out.append(key)
    return tuple(out)


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.", show_default=False)],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="csv|xlsx|json (default: from the --out suffix).", metavar="FMT"
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Fetched on/after: 2026-11-01, 2026-11-01T08:00, 7d, 24h.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Fetched before: 2026-11-08 or 2026-11-08T12:00.")
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option(help="Service category, key or Chinese name (repeatable): 征信修复 …"),
    ] = None,
    kind: Annotated[
        list[KindChoice] | None,
        typer.Option(help="Finding kind (repeatable; default promotion)."),
    ] = None,
    min_score: Annotated[
        float | None,
        typer.Option("--min-score", min=0.0, max=1.0, help="Only leads scoring at least this."),
    ] = None,
    source: Annotated[list[str] | None, typer.Option(help="Source id (repeatable).")] = None,
    review: Annotated[
        list[ReviewChoice] | None, typer.Option(help="Review status (repeatable).")
    ] = None,
    actor: Annotated[int | None, typer.Option(help="Only leads of this actor cluster id.")] = None,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """Export leads to CSV (Excel-ready, UTF-8 BOM), XLSX or JSON.

    Exports carry contacts (personal data): at least one filter is required, and every
    export is recorded in the export log with its SHA-256.
    """
    from storage.exports import FORMATS, check_output_file, export_leads
    from storage.repo import LeadFilter

    check_output_file(out)

    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise InputError(
            f"--format: cannot export as {fmt or out.name!r}", hint="use --format csv|xlsx|json"
        )
    f = LeadFilter(
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        categories=parse_categories(category or []),
        kinds=tuple(k.value for k in kind) if kind else ("promotion",),
        min_score=min_score or 0.0,
        sources=tuple(source or ()),
        review=tuple(r.value for r in review or ()),
        actor_id=actor,
    )
    with db_session(db) as session:
        result = export_leads(session, f, fmt, out, user=user)
    _out.print(f"exported {result.rows} leads to {result.path} (sha256 {result.sha256})")


def _review(db: str | None, apply: str, target: Any, status: str, note: str) -> None:
    """Run `storage.review.<apply>` on `target` and print one line per item it changed."""
    from storage import review  # imported lazily, as every command does

    with db_session(db) as session:
        items = getattr(review, apply)(session, target, status, note)
    for it in items:
        _out.print(f"{it.what} {it.id}: {it.previous} → {it.status}  {it.label}", markup=False)


@review_app.command("lead")
def review_lead(
    ids: Annotated[list[int], typer.Argument(help="Lead ids (线索ID in exports).")],
    status: StatusOption,
    note: NoteOption = "",
    db: DbOption = None,
) -> None:
    """Set the review status of one or more leads."""
    _review(db, "review_leads", ids, status, note)


@review_app.command("business")
def review_business_cmd(
    ref: Annotated[str, typer.Argument(help="Business name, USCC or entity id.")],
    status: StatusOption,
    note: NoteOption = "",
    db: DbOption = None,
) -> None:
    """Set the review status of a business (all names and USCC it is known by)."""
    _review(db, "review_business", ref, status, note)


@review_app.command("list")
def review_list(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status", "-s", help="Only these statuses (repeatable; default: all but new)."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """List reviewed leads and businesses with their status and note."""
    from storage.exports import format_time
    from storage.review import list_reviews

    with db_session(db) as session:
        items = list_reviews(session, tuple(status or ()))
    if not items:
        _out.print("nothing to list")
    for it in items:
        when = format_time(it.reviewed_at) or "-"
        note = f"  — {it.note}" if it.note else ""
        _out.print(
            f"{it.what:<8} {it.id:>6}  {it.status:<9} {when:<19}  {it.label}{note}", markup=False
        )


@report_app.command("12315")
def report_12315(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for the packs.", show_default=False)
    ],
    business: Annotated[
        str | None, typer.Option("--business", "-b", help="Business name, USCC or entity id.")
    ] = None,
    all_confirmed: Annotated[
        bool,
        typer.Option("--all-confirmed", help="One pack per business reviewed as confirmed."),
    ] = False,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """Build a 12315 evidence pack (report.html/.docx, captured pages, manifest, zip).

    With --all-confirmed, also writes index.csv listing every pack.
    """
    from storage.exports import check_output_dir
    from storage.report import build_all_confirmed, build_pack, confirmed_businesses

    if bool(business) == all_confirmed:
        raise InputError(
            "give either --business NAME|USCC|ID or --all-confirmed",
            hint="greywatch report 12315 --business 91440300MA5FX0L12G --out packs/",
        )
    check_output_dir(out)
    with db_session(db) as session:
        if business:
            results = [build_pack(session, business, out, user=user)]
        elif not confirmed_businesses(session):
            raise InputError(
                "no business is reviewed as confirmed: no evidence pack to build",
                hint="confirm one first: greywatch review business NAME --status confirmed",
            )
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=make_console(stderr=True),
                transient=True,
            ) as progress:
                task = progress.add_task("packs", total=None)

                def step(name: str) -> None:
                    progress.update(task, description=name, advance=1)

                results = build_all_confirmed(session, out, user=user, progress=step)
    for res in results:
        c = res.case
        _out.print(
            f"{c.name} ({c.uscc or 'no USCC'}): {len(c.evidence)} pages, "
            f"{len(c.violations)} suspected violations → {res.zip_path}",
            markup=False,
        )
        for note in res.notes:
            _out.print(f"  note: {note}", markup=False)
    if all_confirmed:
        _out.print(f"index: {Path(out) / 'index.csv'} ({len(results)} packs)")
        if not results:
            raise GreywatchError(
                "no evidence pack could be built for the confirmed businesses",
                hint=f"the notes in {Path(out) / 'index.csv'} say why for each",
            )


def register(app: typer.Typer) -> None:
    """Add `leads export`, `review` and `report` to the root app."""
    leads_app.command("export")(export_command)
    app.add_typer(review_app, name="review")
    app.add_typer(report_app, name="report")
