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
    if reason not in OK_REASONS:
        return "failed", f"stopped: {reason}; {received} responses, {errors} errors"
    if received == 0:
        return "failed", f"no page could be fetched ({errors} errors)"
    return "finished", f"{reason}; {received} responses, {errors} errors"


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
        from storage.repo import close_interrupted_runs, start_run, upsert_source

        source = getattr(spider, "source", None)
        if source is None:
            return
        with session_scope(engine_for(self.crawler.settings)) as session:
            upsert_source(session, source.id, source.name, source.model_dump(mode="json"))
            if spider.run_id is None:
                spider.run_id = start_run(session, source.id, spider.trigger)
            stale = close_interrupted_runs(session, source.id, spider.run_id)
        if stale:
            logger.warning("source %s: %d earlier run(s) had been interrupted", source.id, stale)
        logger.info("run %s started for source %s", spider.run_id, source.id)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        from storage.db import session_scope
        from storage.repo import finish_run

        if getattr(spider, "run_id", None) is None:
            return
        stats = json_safe(self.crawler.stats.get_stats())
        stats.setdefault("finish_reason", reason)
        status, message = run_outcome(stats, reason)
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
