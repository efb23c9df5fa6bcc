"""Per-domain politeness across processes: one shared request schedule per domain in Redis.

Scrapy's download delay and per-domain concurrency hold inside one process; N processes
crawling one source would hit a site N times as often. This downloader middleware asks Redis
for the next free moment of the request's domain (one atomic script, Redis's own clock, so
hosts with skewed clocks agree) and waits until then: all processes together keep the
source's `download_delay` between requests to a domain.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.utils.httpobj import urlparse_cached

from crawler.frontier import FrontierConfig, connect

logger = logging.getLogger(__name__)

RATE_KEY = "greywatch:polite"  # <RATE_KEY>:<domain> holds the domain's next free moment (us)
# Book the next slot: the later of now and the booked moment; the key outlives the gap by 1 s.
_BOOK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local free = tonumber(redis.call('GET', KEYS[1]) or '0')
local at = math.max(now, free)
local gap = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', at + gap), 'PX', math.ceil(gap / 1000) + 1000)
return at - now
"""


class DomainRate:
    """The shared schedule: `book(domain)` is how long (s) to wait before sending."""

    def __init__(self, client: redis.Redis, interval_s: float, prefix: str = RATE_KEY) -> None:
        self.interval_us = int(interval_s * 1_000_000)
        self.prefix = prefix
        self._book = client.register_script(_BOOK)

    def book(self, domain: str) -> float:
        """Reserve the domain's next slot; seconds until it (0.0: send now)."""
        wait_us = self._book(keys=[f"{self.prefix}:{domain}"], args=[self.interval_us])
        return max(int(wait_us), 0) / 1_000_000


def source_interval(crawler: Crawler, spider: Any) -> float:
    """The gap between two requests to a domain: the source's download_delay, else the
    project's DOWNLOAD_DELAY (the process's own delay is set near zero in distributed mode)."""
    polite = getattr(getattr(spider, "source", None), "politeness", None)
    delay = getattr(polite, "download_delay", None)
    if delay is None:
        from crawler import settings as project

        delay = project.DOWNLOAD_DELAY
    return max(float(delay), 0.0)


class SharedDomainRate:
    """Downloader middleware: wait for the domain's shared slot before each request."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.client = connect(FrontierConfig.from_settings(crawler.settings).url)
        self.rate: DomainRate | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedDomainRate:
        return cls(crawler)

    def _rate(self) -> DomainRate | None:
        if self.rate is None:
            interval = source_interval(self.crawler, self.crawler.spider)
            self.rate = DomainRate(self.client, interval)
        return self.rate if self.rate.interval_us > 0 else None

    async def process_request(self, request: Request) -> None:
        rate = self._rate()
        domain = urlparse_cached(request).hostname or ""
        if rate is None or not domain:
            return None
        try:
            wait = rate.book(domain)
        except redis.RedisError as exc:  # no shared schedule: fall back to this process's
            logger.warning("politeness: Redis unavailable (%s); own delay only", exc)
            return None
        if wait > 0:
            self.crawler.stats.inc_value("greywatch/politeness/waits")
            await asyncio.sleep(wait)
        return None
