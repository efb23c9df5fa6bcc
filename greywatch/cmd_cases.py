"""CLI verbs for casework: `leads export`, `review …`, `report 12315`.

Thin wrappers: parse and validate flags, open the database, call storage.exports /
storage.review / storage.report, and print one line per result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from greywatch.cmd_store import leads_app
from greywatch.console import make_console
from greywatch.errors import GreywatchError, InputError
from greywatch.filters import (
    ActorOption,
    CategoryOption,
    ContactOption,
    FirmOption,
    KeywordOption,
    KindOption,
    MinScoreOption,
    ReviewOption,
    SinceOption,
    SourceOption,
    UntilOption,
)
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


def export_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.", show_default=False)],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="csv|xlsx|json (default: from the --out suffix).", metavar="FMT"
        ),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    category: CategoryOption = None,
    kind: KindOption = None,
    min_score: MinScoreOption = None,
    source: SourceOption = None,
    review: ReviewOption = None,
    actor: ActorOption = None,
    contact: ContactOption = None,
    keyword: KeywordOption = None,
    firm: FirmOption = None,
    user: UserOption = None,
    db: DbOption = None,
) -> None:
    """Export leads to CSV (Excel-ready, UTF-8 BOM), XLSX or JSON.

    Exports carry contacts (personal data): at least one filter is required, and every
    export is recorded in the export log with its SHA-256.
    """
    from storage.exports import FORMATS, check_output_file, export_leads
    from storage.filters import FilterInput, check_known, parse_filter

    check_output_file(out)

    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise InputError(
            f"--format: cannot export as {fmt or out.name!r}", hint="use --format csv|xlsx|json"
        )
    flt = parse_filter(
        FilterInput(
            since=since,
            until=until,
            categories=category or (),
            kinds=kind or (),
            min_score=min_score,
            sources=source or (),
            review=review or (),
            actor=actor,
            contact=contact,
            keyword=keyword,
            firm=firm,
        )
    )
    with db_session(db) as session:
        result = export_leads(session, check_known(session, flt), fmt, out, user=user)
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


@review_app.command("import")
def review_import(
    file: Annotated[
        Path, typer.Argument(help="The XLSX `leads export` wrote, its 审核状态/审核备注 edited.")
    ],
    db: DbOption = None,
) -> None:
    """Read back the review decisions made in an exported sheet (all rows checked first:
    one bad row and nothing is imported)."""
    from storage.review import import_reviews

    with db_session(db) as session:
        result = import_reviews(session, file)
    for it in result.changed:
        _out.print(f"{it.what} {it.id}: {it.previous} → {it.status}  {it.label}", markup=False)
    _out.print(
        f"imported {len(result.changed)} decisions from {file} ({result.unchanged} rows unchanged)",
        markup=False,
    )


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
    """Build a 12315 evidence pack (report.html/.docx, captured pages, screenshots, manifest,
    zip).

    A pack already in --out is never overwritten: the next one is written as …-v2.zip.
    With --all-confirmed, also writes index.csv (index-v2.csv … after earlier batches).
    """
    from storage.exports import check_output_dir
    from storage.report import build_all_confirmed, build_pack, confirmed_businesses

    if bool(business) == all_confirmed:
        raise InputError(
            "give either --business NAME|USCC|ID or --all-confirmed",
            hint="greywatch report 12315 --business 91440300MA5FX0L12G --out packs/",
        )
    check_output_dir(out)
    index = Path(out) / "index.csv"
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

                batch = build_all_confirmed(session, out, user=user, progress=step)
            results, index = list(batch), batch.index
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
        _out.print(f"index: {index} ({len(results)} packs)", markup=False)
        if not results:
            raise GreywatchError(
                "no evidence pack could be built for the confirmed businesses",
                hint=f"the notes in {index} say why for each",
            )


def register(app: typer.Typer) -> None:
    """Add `leads export`, `review` and `report` to the root app."""
    leads_app.command("export")(export_command)
    app.add_typer(review_app, name="review")
    app.add_typer(report_app, name="report")
