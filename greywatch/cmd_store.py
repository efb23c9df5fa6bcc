"""`greywatch leads`, `runs`, `reanalyze`, `schedule` and `db upgrade`: the stored findings.

Thin commands over storage.repo / storage.db / crawler.schedule; storage errors arrive as
StorageError and are printed by the root app as one line with a hint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from greywatch.console import echo_json, make_console
from greywatch.errors import ConfigError
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
from greywatch.options import DbOption, JsonOption, open_engine
from greywatch.tables import leads_table
from pipelines.timeutil import parse_since as parse_since  # cmd_terms imports it from here

if TYPE_CHECKING:
    from pipelines.model import Analysis
    from storage.models import CrawlRun, Document
    from storage.repo import LeadRow

_out = make_console()
_err = make_console(stderr=True)

# The one definition of the shared database option of this module's commands.

# Default number of rows listed: a screenful; --limit 0 lists everything.
DEFAULT_LEADS_LIMIT = 50
DEFAULT_RUNS_LIMIT = 20


leads_app = typer.Typer(
    help="List the leads (promotions found), best first; `leads export` writes them to a file.",
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True, rich_markup_mode=None)


def _local(dt: datetime | None) -> str:
    """A time for a table whose column header says 北京时间 (pipelines.display)."""
    from pipelines.display import beijing_bare

    return beijing_bare(dt) if dt else "-"


def _duration(run: CrawlRun) -> str:
    from pipelines.timeutil import as_utc as utc

    if run.finished_at is None:
        return "running" if run.status == "running" else "-"
    seconds = int((utc(run.finished_at) - utc(run.started_at)).total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def runs(
    source: Annotated[str | None, typer.Option(help="Only runs of this source id.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = (
        DEFAULT_RUNS_LIMIT
    ),
    db: DbOption = None,
) -> None:
    """List crawl runs, newest first: when, how long, how they ended, and what they found."""
    from storage.db import session_scope
    from storage.repo import list_runs

    with session_scope(open_engine(db), write=False) as session:
        rows = list_runs(session, source, limit)
        table = Table(title="crawl runs", title_justify="left")
        for column in ("id", "source", "trigger", "started（北京时间）", "duration", "status"):
            table.add_column(column, no_wrap=True)
        for column in ("pages", "items", "errors"):
            table.add_column(column, justify="right")
        table.add_column("message", overflow="fold")
        for r in rows:
            status = {"failed": "[red]failed[/]", "running": "[yellow]running[/]"}.get(
                r.status, r.status
            )
            first_line = (r.message or "").strip().splitlines()[:1]
            table.add_row(
                str(r.id),
                r.source_id,
                r.trigger,
                _local(r.started_at),
                _duration(r),
                status,
                str(r.pages),
                str(r.items),
                str(r.errors),
                "".join(first_line),
            )
    if not rows:
        _out.print("no crawl runs yet" + (f" for source {source}" if source else ""))
        return
    _out.print(table)


def _lead_json(row: LeadRow) -> dict[str, Any]:
    """A lead for machines: ISO 8601 times with their offset; a date-only publish date stays
    a date (pipelines.display.published)."""
    from pipelines.display import published

    data = asdict(row)
    data["published_at"] = published(row.published_at)
    for key in ("fetched_at", "published_at", "first_seen", "last_seen"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


@leads_app.callback(invoke_without_command=True)
def leads(
    ctx: typer.Context,
    since: SinceOption = None,
    until: UntilOption = None,
    category: CategoryOption = None,
    min_score: MinScoreOption = None,
    source: SourceOption = None,
    kind: KindOption = None,
    review: ReviewOption = None,
    actor: ActorOption = None,
    contact: ContactOption = None,
    keyword: KeywordOption = None,
    firm: FirmOption = None,
    limit: Annotated[
        int, typer.Option(help="How many leads, best score first (0: all).")
    ] = DEFAULT_LEADS_LIMIT,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List leads: promotions of credit repair, debt relief, proxy refunds or complaints.

    The same ad at several URLs (same text) is one lead, with all its URLs.
    """
    if ctx.invoked_subcommand is not None:
        return
    from storage.db import session_scope
    from storage.filters import FilterInput, check_known, describe, parse_filter
    from storage.repo import query_leads

    given = FilterInput(
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
        limit=limit,
    )
    flt = parse_filter(given)  # a bad value is named before the database is opened
    with session_scope(open_engine(db), write=False) as session:
        rows = query_leads(session, check_known(session, flt))
    if as_json:
        echo_json(json.dumps([_lead_json(r) for r in rows], ensure_ascii=False, indent=1))
    elif rows:
        _out.print(leads_table(rows, flt.limit))
    elif flt.narrows():
        _out.print(f"no leads match ({describe(flt) or 'the time, kind and score filters'})")
    else:
        _out.print("no leads yet (`greywatch demo` or `greywatch crawl SOURCE` finds some)")


def document_analyzer() -> tuple[Any, str]:
    """(analyze(Document) -> Analysis, lexicon version) from pipelines.analyze.

    The stored text is what the crawl analysed (selected body or extracted main text), and
    evidence spans index into it, so re-analysis runs on that text with the current lexicon.
    """
    try:
        from pipelines.analyze import analyze_text, lexicon_version
    except ImportError as exc:
        raise ConfigError(f"the analyzer is not available: {exc}") from exc

    def analyze(doc: Document) -> Analysis:
        return analyze_text(doc.text, doc_id=str(doc.id), title=doc.title)

    return analyze, lexicon_version()


def reanalyze(
    all_documents: Annotated[
        bool, typer.Option("--all", help="Every document, not only those of older lexicons.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Analyze stored pages again with the current lexicon (stale ones, or --all)."""
    from storage.db import session_scope
    from storage.repo import REANALYZE_BATCH
    from storage.repo import reanalyze as reanalyze_documents

    analyze, version = document_analyzer()
    columns = (TextColumn("re-analyzing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        session_scope(open_engine(db)) as session,
        Progress(*columns, console=_err, transient=True) as bar,
    ):
        task = bar.add_task("reanalyze", total=None)
        count = reanalyze_documents(
            session,
            analyze,
            version,
            only_stale=not all_documents,
            commit_every=REANALYZE_BATCH,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    what = "documents" if all_documents else "documents with an older lexicon"
    _out.print(f"re-analyzed {count} {what} (lexicon {version})")


def _print_jobs(scheduler: Any, crons: dict[str, str]) -> None:
    table = Table(title="scheduled crawls (Ctrl-C or SIGTERM stops)", title_justify="left")
    for column in ("job", "schedule", "next run（北京时间）"):
        table.add_column(column, no_wrap=True)
    for job in scheduler.get_jobs():
        table.add_row(job.id, crons.get(job.id, str(job.trigger)), _local(job.next_run_time))
    _out.print(table)


def schedule(
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources",
            help="Sources YAML (default: $GREYWATCH_SOURCES, ./sources.yaml, or the bundled demo).",
        ),
    ] = None,
    db: DbOption = None,
    enqueue: Annotated[
        bool | None,
        typer.Option(
            "--enqueue/--no-enqueue",
            help="Only queue each due run for `greywatch worker` processes (needs PostgreSQL "
            "and Redis) instead of crawling here. Default: $GREYWATCH_DISTRIBUTED.",
        ),
    ] = None,
) -> None:
    """Crawl every source with a `schedule` (cron) on time, until SIGTERM or Ctrl-C.

    With --enqueue the runs are queued for workers on any number of machines instead.
    """
    from crawler.schedule import JOB_PREFIX, build_scheduler, run_forever
    from crawler.sources import default_sources_path, load_sources
    from storage.db import database_url, session_scope
    from storage.repo import upsert_source

    path = (sources or default_sources_path()).resolve()
    config = load_sources(path)
    if not any(s.schedule for s in config.sources):
        raise ConfigError(
            f"{path}: no source has a schedule", hint="add e.g. schedule: '0 */6 * * *' to one"
        )
    url = database_url(db)
    if enqueue:  # refused before anything is written
        from crawler.tasks import require_postgres

        require_postgres(url)
    with session_scope(open_engine(url, create=True)) as session:
        for src in config.sources:
            upsert_source(session, src.id, src.name, src.model_dump(mode="json"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    scheduler = build_scheduler(config.sources, path, url, enqueue=enqueue)
    crons = {f"{JOB_PREFIX}{s.id}": s.schedule for s in config.sources if s.schedule}
    run_forever(scheduler, on_start=lambda: _print_jobs(scheduler, crons))
    _out.print("scheduler stopped")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the database schema to the newest revision."""
    from storage.db import current_revision, get_engine, migrate, safe_url

    engine = get_engine(db)
    before = current_revision(engine)
    migrate(engine)
    after = current_revision(engine)
    change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    _out.print(f"database {safe_url(str(engine.url))}: {change} revision {after} (head)")


def register(app: typer.Typer) -> None:
    """Add `leads`, `runs`, `reanalyze`, `schedule` and `db` to the root app."""
    app.add_typer(leads_app, name="leads")
    app.command("runs")(runs)
    app.command("reanalyze")(reanalyze)
    app.command("schedule")(schedule)
    app.add_typer(db_app, name="db")
