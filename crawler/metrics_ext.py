"""Scrapy extension timing each page from response to analysed item, into the crawl stats.

The analysis runs inside the item pipeline (maybe in worker processes), so the time it takes
is measured from the outside: from `response_received` to `item_scraped` of the item built
from that response (parsing, analysis and any wait for an analysis worker). The sums go to
the stats (`greywatch/analysis/seconds`, `greywatch/analysis/pages`), are stored with the
run, and become Prometheus counters in crawler/metrics.py.
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler

from crawler.metrics import ANALYSIS_PAGES, ANALYSIS_SECONDS

# Responses that never yield an item (listings, errors) are forgotten after this many are kept.
MAX_PENDING = 10_000


class PageTimer:
    """Adds each item's response-to-item time to the crawl stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.started: dict[str, float] = {}
        crawler.signals.connect(self.response_received, signal=signals.response_received)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PageTimer:
        return cls(crawler)

    def response_received(self, response: Any, request: Any, spider: Any) -> None:
        """Note when a response arrived (keyed by URL)."""
        if len(self.started) >= MAX_PENDING:  # drop the older half: listings never finish
            for url in list(self.started)[: MAX_PENDING // 2]:
                del self.started[url]
        self.started[response.url] = time.monotonic()

    def item_scraped(self, item: Any, response: Any, spider: Any) -> None:
        """Count the time since the item's response arrived."""
        began = self.started.pop(getattr(response, "url", ""), None)
        if began is None:
            return
        self.stats.inc_value(ANALYSIS_SECONDS, time.monotonic() - began, start=0.0)
        self.stats.inc_value(ANALYSIS_PAGES)
