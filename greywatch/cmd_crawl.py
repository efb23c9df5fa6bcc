"""`greywatch crawl`, `greywatch sources check|list` and `greywatch demo`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from greywatch.console import make_console
from greywatch.errors import ConfigError
from greywatch.options import DbOption

_out = make_console()
_err = make_console(stderr=True)

sources_app = typer.Typer(help="Check and list the configured crawl sources.", no_args_is_help=True)

SourcesOption = Annotated[
    Path | None,
    typer.Option(
        "--sources",
        help="Sources YAML (default: $GREYWATCH_SOURCES, ./sources.yaml, or the bundled demo).",
    ),
]


class Trigger(StrEnum):
    manual = "manual"
    schedule = "schedule"


@sources_app.command("check")
def sources_check(
    file: Annotated[Path | None, typer.Argument(help="Sources YAML to validate.")] = None,
) -> None:
    """Validate a sources file: exit 0 if it is fine, 2 with the first problem otherwise."""
    from crawler.sources import default_sources_path, load_sources

    path = file or default_sources_path()
    config = load_sources(path)
    _out.print(f"{path}: {len(config.sources)} sources ok", markup=False)


@sources_app.command("list")
def sources_list(sources: SourcesOption = None) -> None:
    """List the sources: id, name, preset, rendering, schedule and start points."""
    from crawler.sources import default_sources_path, load_sources

    path = sources or default_sources_path()
    config = load_sources(path)
    table = Table(title=str(path), title_justify="left")
    for column in ("id", "preset", "render", "schedule"):
        table.add_column(column, no_wrap=True)
    for column in ("name", "start"):
        table.add_column(column, overflow="fold")
    for s in config.sources:
        start = ", ".join(s.start_urls) or (s.search or "")
        table.add_row(s.id, s.preset, s.render, s.schedule or "-", s.name, start)
    _out.print(table)


def crawl(
    source_ids: Annotated[list[str], typer.Argument(help="Ids of the sources to crawl.")],
    sources: SourcesOption = None,
    db: DbOption = None,
    trigger: Annotated[Trigger, typer.Option(help="Who started this run.")] = Trigger.manual,
    run_id: Annotated[
        int | None, typer.Option(help="Adopt this existing crawl_runs row (scheduler).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Keep Scrapy's queue in the data dir to resume a killed crawl.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="If a source is being crawled already, wait up to this long for it (default: "
            "refuse at once).",
        ),
    ] = 0.0,
) -> None:
    """Crawl sources once, in one process; exit 0 if all finished, 1 if any failed or was
    busy (another crawl of it is running) or stopped by a signal."""
    from crawler.runner import run_crawls
    from crawler.sources import default_sources_path, load_sources
    from storage.db import check_schema, database_url, get_engine

    path = sources or default_sources_path()
    config = load_sources(path)
    missing = [sid for sid in source_ids if config.get(sid) is None]
    if missing:
        known = ", ".join(s.id for s in config.sources) or "none"
        raise ConfigError(f"{path}: no source '{missing[0]}' (known: {known})")
    url = database_url(db)
    check_schema(get_engine(url))
    chosen = [config.get(sid) for sid in dict.fromkeys(source_ids)]
    results = run_crawls(
        [s for s in chosen if s is not None],
        url,
        trigger=trigger.value,
        run_id=run_id,
        resume=resume,
        console=_err,
        log_level="INFO" if verbose else "WARNING",
        wait_s=wait,
    )
    for r in results:
        for warning in r.warnings:
            _err.print(f"warning: source {r.source_id}: {warning}", markup=False)
    failed = [r for r in results if r.status != "finished"]
    for r in failed:  # the run's own message, as `greywatch runs` shows it
        _err.print(f"source {r.source_id} failed: {r.message}", markup=False)
    raise typer.Exit(1 if failed else 0)


def demo(db: DbOption = None) -> None:
    """Serve the bundled demo site on 127.0.0.1, crawl it, and print the leads found."""
    from crawler.demo import run_demo
    from greywatch.tables import leads_table
    from storage.db import database_url, safe_url

    url = database_url(db)
    results, leads = run_demo(url, _err)
    _out.print(leads_table(leads))
    _out.print(f"{len(leads)} leads; database: {safe_url(url)}")
    _out.print("next: `greywatch leads` to list them, `greywatch runs` to see the crawl runs")
    raise typer.Exit(0 if all(r.status == "finished" for r in results) else 1)


def register(app: typer.Typer) -> None:
    """Add `crawl`, `demo` and the `sources` group to the root app."""
    app.command("crawl")(crawl)
    app.command("demo")(demo)
    app.add_typer(sources_app, name="sources")
