"""Run several sources in one process with Scrapy's CrawlerProcess, with a live progress table.

Used by `greywatch crawl` and `greywatch demo`. Each source gets its own Crawler (own
settings: politeness, limits, Playwright only for browser sources, JOBDIR on --resume); the
RunRecorder extension writes its crawl_runs row; this module collects one result per source.
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from scrapy import signals
from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor, is_reactor_installed

from crawler import paths
from crawler.extensions import run_outcome, run_warnings
from crawler.sources import SourceConfig
from crawler.spiders.source import SourceSpider
from pipelines.errors import ConfigError
from storage.lease import Lease, LeaseKeeper, acquire, release

# How often the live progress table refreshes (seconds): often enough to look alive.
PROGRESS_INTERVAL = 0.5


@dataclass
class SourceResult:
    """How one source's crawl ended."""

    source_id: str
    run_id: int | None = None
    status: str = "running"
    pages: int = 0
    saved: int = 0
    unchanged: int = 0
    leads: int = 0
    errors: int = 0
    message: str = ""
    warnings: list[str] = field(default_factory=list)


def crawl_settings(db_url: str, log_level: str = "WARNING", **overrides: Any) -> Settings:
    """crawler/settings.py plus the database URL and the given overrides."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("GREYWATCH_DATABASE_URL", db_url, priority="cmdline")
    settings.set("LOG_LEVEL", log_level, priority="cmdline")
    settings.set("LOGSTATS_INTERVAL", 0, priority="cmdline")
    settings.set("LOG_INSTALL_ROOT_HANDLER", True, priority="cmdline")
    settings.setdict(overrides, priority="cmdline")
    return settings


class _NoTraceback(logging.Filter):
    """Keep Scrapy's error lines (they name the URL) but drop their tracebacks: an unreachable
    site is an everyday event for a monitor, not a crash. `--verbose` keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


# Loggers whose expected network errors come with tracebacks attached.
_NOISY_LOGGERS = ("scrapy.downloadermiddlewares.robotstxt", "scrapy.core.scraper")


class _NoPageClosing(logging.Filter):
    """scrapy-playwright reports each failed browser page with a traceback; the spider's
    errback already says it in one line (`dropped …` / `failed …`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Closing page due to failed request")


def _numbers(stats: dict[str, Any], result: SourceResult) -> None:
    result.pages = int(stats.get("response_received_count", 0))
    result.saved = int(stats.get("greywatch/pages_saved", 0))
    result.unchanged = int(stats.get("greywatch/skipped_unchanged", 0))
    result.leads = int(stats.get("greywatch/leads", 0))
    result.errors = int(stats.get("greywatch/errors", 0))


def _table(results: list[SourceResult]) -> Table:
    table = Table(title="crawl", title_justify="left")
    for column in ("source", "run", "pages", "saved", "unchanged", "leads", "errors", "status"):
        table.add_column(column, justify="right" if column not in ("source", "status") else "left")
    for r in results:
        table.add_row(
            r.source_id,
            str(r.run_id or ""),
            str(r.pages),
            str(r.saved),
            str(r.unchanged),
            str(r.leads),
            str(r.errors),
            r.status,
        )
    return table


def take_leases(engine: Any, sources: list[SourceConfig], wait_s: float = 0.0) -> list[Lease]:
    """Each source's crawl lease, all or none (SourceBusyError names the live holder)."""
    taken: list[Lease] = []
    try:
        for source in sources:
            taken.append(acquire(engine, source.id, wait_s))
    except BaseException:
        for lease in taken:
            release(engine, lease)
        raise
    return taken


def run_crawls(
    sources: list[SourceConfig],
    db_url: str,
    *,
    trigger: str = "manual",
    run_id: int | None = None,
    resume: bool = False,
    console: Console | None = None,
    log_level: str = "WARNING",
    settings_overrides: dict[str, Any] | None = None,
    wait_s: float = 0.0,
) -> list[SourceResult]:
    """Crawl the sources concurrently in this process; blocks until all are done.

    Each source's lease is taken first (waiting up to `wait_s` seconds for a crawl of it
    already running), kept alive while crawling and given back at the end.
    """
    from storage.db import get_engine

    if run_id is not None and len(sources) != 1:
        raise ConfigError("--run-id needs exactly one source")
    if any(s.render == "browser" for s in sources):
        from crawler.browser import find_chromium, playwright_settings

        playwright_settings(find_chromium())  # raises ConfigError (with hint) before starting
    engine = get_engine(db_url)
    leases = take_leases(engine, sources, wait_s)
    keeper = LeaseKeeper(engine, leases).start()
    try:
        return _crawl(
            sources, leases, db_url, trigger, run_id, resume, console, log_level, settings_overrides
        )
    finally:
        keeper.stop()
        for lease in leases:
            release(engine, lease)


def _crawl(
    sources: list[SourceConfig],
    leases: list[Lease],
    db_url: str,
    trigger: str,
    run_id: int | None,
    resume: bool,
    console: Console | None,
    log_level: str,
    settings_overrides: dict[str, Any] | None,
) -> list[SourceResult]:
    """The crawl itself, once the leases are held."""
    settings = crawl_settings(db_url, log_level, **(settings_overrides or {}))
    process = CrawlerProcess(settings)
    if log_level != "DEBUG" and log_level != "INFO":
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).addFilter(_NoTraceback())
        logging.getLogger("scrapy-playwright").addFilter(_NoPageClosing())
    if not is_reactor_installed():  # our Crawlers carry per-source settings, so we install it
        install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
    results: list[SourceResult] = []
    crawlers: list[Crawler] = []
    for source, lease in zip(sources, leases, strict=True):
        per_source = settings.copy()
        if resume:
            per_source.set("JOBDIR", str(paths.job_dir(source.id)), priority="cmdline")
        crawler = Crawler(SourceSpider, per_source)
        result = SourceResult(source.id)
        crawler.signals.connect(_closer(crawler, result), signal=signals.spider_closed, weak=False)
        process.crawl(crawler, source=source, run_id=run_id, trigger=trigger, lease=lease)
        results.append(result)
        crawlers.append(crawler)
    _run_with_progress(process, crawlers, results, console or Console(stderr=True))
    if resume:  # a finished crawl's queue must not hold back the next one
        for result in results:
            if result.status == "finished":
                shutil.rmtree(paths.job_dir(result.source_id), ignore_errors=True)
    return results


def _closer(crawler: Crawler, result: SourceResult) -> Any:
    def closed(spider: Any, reason: str) -> None:
        stats = crawler.stats.get_stats()
        _numbers(stats, result)
        result.run_id = getattr(spider, "run_id", None)
        # The run's own verdict (RunRecorder may close after us: same function, same answer).
        result.status, result.message = run_outcome(stats, reason)
        result.warnings = run_warnings(stats)

    return closed


def _run_with_progress(
    process: CrawlerProcess,
    crawlers: list[Crawler],
    results: list[SourceResult],
    console: Console,
) -> None:
    """process.start(), refreshing a rich table from the crawlers' stats meanwhile."""
    done = threading.Event()

    def refresh(live: Live) -> None:
        while not done.wait(PROGRESS_INTERVAL):
            for crawler, result in zip(crawlers, results, strict=True):
                if result.status == "running" and crawler.stats is not None:
                    _numbers(dict(crawler.stats.get_stats()), result)
                    result.run_id = getattr(crawler.spider, "run_id", None)
            live.update(_table(results))

    with Live(_table(results), console=console, refresh_per_second=4, transient=False) as live:
        thread = threading.Thread(target=refresh, args=(live,), daemon=True)
        thread.start()
        try:
            process.start()
        finally:
            done.set()
            thread.join()
            for result in results:
                if result.status == "running":
                    result.status = "failed"
            live.update(_table(results))
    console.print()


def run_member(
    source: SourceConfig,
    db_url: str,
    run_id: int,
    overrides: dict[str, Any],
    *,
    console: Console | None = None,
    log_level: str = "WARNING",
) -> SourceResult:
    """Crawl `source` as one member of a distributed run (crawler/tasks.py): no lease taken
    here (the queue task that started run `run_id` holds it) and `overrides` put the queue,
    duplicate filter and politeness in Redis (crawler.frontier.distributed_overrides)."""
    no_lease: list[Any] = [None]
    return _crawl(
        [source], no_lease, db_url, "queue", run_id, False, console, log_level, overrides
    )[0]
