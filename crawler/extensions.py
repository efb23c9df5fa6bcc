"""Scrapy extension recording each crawl as a crawl_runs row (start, finish, stats)."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from crawler.store import engine_for, json_safe

logger = logging.getLogger(__name__)

# Close reasons that mean the crawl did its job (page caps are bounds, not failures).
OK_REASONS = {"finished", "closespider_pagecount", "closespider_itemcount", "closespider_timeout"}


def run_outcome(stats: dict[str, Any], reason: str) -> tuple[str, str]:
    """(status, message) of a finished crawl: failed when nothing was received or it was cut."""
    received = int(stats.get("response_received_count", 0))
    errors = int(stats.get("greywatch/errors", 0))
    if reason == "shutdown":
        return "failed", f"stopped by a signal; {received} responses, {errors} errors"
    if reason not in OK_REASONS:
        return "failed", f"stopped: {reason}; {received} responses, {errors} errors"
    if received == 0:
        return "failed", f"no page could be fetched ({errors} errors)"
    return "finished", f"{reason}; {received} responses, {errors} errors"


def _close_dead_run(session: Any, dead: Any, run_id: int, source_id: str) -> None:
    """Mark the run of a lease holder whose process is gone as interrupted (and only that)."""
    from storage.repo import mark_interrupted

    if dead is None or dead.run_id in (None, run_id):
        return
    if mark_interrupted(session, dead.run_id, run_id):
        logger.warning(
            "source %s: run %s had been interrupted (%s)", source_id, dead.run_id, dead.describe()
        )


def run_warnings(stats: dict[str, Any]) -> list[str]:
    """What a run that did not fail should still tell its operator, one line each."""
    out = []
    dropped = int(stats.get("greywatch/dropped/wait_for", 0))
    if dropped:
        kinds = ", ".join(
            f"{int(stats[k])} {k.rsplit('/', 1)[1]}"
            for k in ("greywatch/dropped/wait_for/listing", "greywatch/dropped/wait_for/detail")
            if stats.get(k)
        )
        out.append(f"{dropped} pages dropped: browser.wait_for never appeared ({kinds})")
    if stats.get("greywatch/warnings/start_without_details"):
        out.append("a start page has no detail links: is it an article, not a listing?")
    received = int(stats.get("response_received_count", 0))
    kept = int(stats.get("greywatch/pages_saved", 0)) + int(
        stats.get("greywatch/skipped_unchanged", 0)
    )
    if received and not kept:
        out.append(f"saved nothing ({received} responses)")
    return out


class RunRecorder:
    """Creates (or adopts, with --run-id) the run row when a source opens; finishes it on close."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunRecorder:
        return cls(crawler)

    def spider_opened(self, spider: Spider) -> None:
        from storage.db import session_scope
        from storage.lease import attach_run
        from storage.repo import start_run, upsert_source

        source = getattr(spider, "source", None)
        if source is None:
            return
        engine = engine_for(self.crawler.settings)
        lease = getattr(spider, "lease", None)
        dead = lease.took_over if lease is not None else None
        with session_scope(engine) as session:
            upsert_source(session, source.id, source.name, source.model_dump(mode="json"))
            if spider.run_id is None:
                spider.run_id = start_run(session, source.id, spider.trigger)
            _close_dead_run(session, dead, spider.run_id, source.id)
        if lease is not None:
            attach_run(engine, lease, spider.run_id)
        logger.info("run %s started for source %s", spider.run_id, source.id)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        from storage.db import session_scope
        from storage.repo import finish_run

        if getattr(spider, "run_id", None) is None:
            return
        stats = json_safe(self.crawler.stats.get_stats())
        stats.setdefault("finish_reason", reason)
        status, message = run_outcome(stats, reason)
        if status == "finished" and run_warnings(stats):
            message += "; " + "; ".join(run_warnings(stats))
        spider.run_status = status
        with session_scope(engine_for(self.crawler.settings)) as session:
            finish_run(
                session,
                spider.run_id,
                status,
                stats,
                pages=int(stats.get("response_received_count", 0)),
                items=int(stats.get("greywatch/pages_saved", 0)),
                errors=int(stats.get("greywatch/errors", 0)),
                message=message,
            )
