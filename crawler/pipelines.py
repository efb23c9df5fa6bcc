"""Item pipeline: analyze each fetched page and store it with its finding (idempotent by URL).

Pages are saved in small batches, one transaction and a few statements each (a commit costs
far more than a page's rows on a busy disk); a batch that fails is saved again page by page,
so one bad page does not lose the others.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.items import PageItem
from crawler.lifeline import die_with_parent
from crawler.store import engine_for, retry_storage
from pipelines import timeutil

logger = logging.getLogger(__name__)

# Dates on Chinese sites are local time without a zone; China has one zone, UTC+8.
CHINA_TZ = timeutil.CHINA_TZ
# A sample that exercises every analysis stage (terms, contacts, business names).
WARM_UP_TEXT = "深圳市鑫诚信息咨询有限公司 专业征信修复 电话 13800138000 微信 xinc888"
# Batch size and age: 50 pages or 1 s, whichever first (a killed crawl loses at most that;
# unsaved pages are simply fetched again next time).
BATCH_PAGES = 50
BATCH_SECONDS = 1.0
_DATE = re.compile(
    r"(\d{4})\s*[-/年.]\s*(\d{1,2})\s*[-/月.]\s*(\d{1,2})\s*日?"
    r"(?:\s*(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
)


def parse_published(text: str) -> datetime | None:
    """The first date (and time) in a string like '发表于 2026-10-12 09:31', as UTC+8."""
    match = _DATE.search(text or "")
    if not match:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, s, tzinfo=CHINA_TZ)
    except ValueError:
        return None


@dataclass(frozen=True)
class Analyzed:
    """An item's analysis plus the page fields that main-text extraction supplied."""

    analysis: Any  # pipelines.model.Analysis
    title: str
    author: str
    published: str


def analyze_item(item: PageItem) -> Analyzed:
    """Analyze the configured body (title + body), or the page's main text (extracted once)."""
    from pipelines.analyze import analyze_page, analyze_text
    from pipelines.text import extract_page

    if item.body_text:
        text = "\n".join(part for part in (item.title, item.body_text) if part)
        analysis = analyze_text(text, doc_id=item.url, title=item.title)
        return Analyzed(analysis, item.title, item.author, item.published)
    # Extracted here (not through analyze_html) so the page's author and date are kept too.
    page = extract_page(item.html, url=item.url)
    analysis = analyze_page(page, doc_id=item.url)
    return Analyzed(
        analysis,
        item.title or page.title,
        item.author or page.author or "",
        item.published or str(page.published or ""),
    )


def worker_init(parent_pid: int, engine: Any) -> None:
    """Start of each analysis worker: die with the crawl, and drop the database connections
    inherited through fork without closing them (they belong to the crawl process)."""
    die_with_parent(parent_pid)
    engine.dispose(close=False)


def page_record(item: PageItem, done: Analyzed, run_id: int | None) -> Any:
    """The storage.repo.PageRecord for an analyzed item."""
    from storage.repo import PageRecord

    return PageRecord(
        url=item.url,
        body=item.body,
        fetched_at=item.fetched_at,
        source_id=item.source_id,
        run_id=run_id,
        encoding=item.encoding,
        http_status=item.http_status,
        headers=item.headers,
        title=(done.title or done.analysis.title or "")[:1000],
        text=done.analysis.text,
        author=done.author[:200],
        published_at=parse_published(done.published),
        screenshot_path=item.screenshot_path,
        rendered=item.rendered,
        etag=item.etag,
        last_modified=item.last_modified,
    )


class StorePipeline:
    """Analyze (pipelines.analyze) and save (storage.repo.save_pages), counting in the stats.

    With GREYWATCH_ANALYSIS_WORKERS > 0 the analysis runs in worker processes (forked after
    the warm-up, so they start with the lexicon loaded) while this process keeps fetching.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.pending: list[tuple[Any, Any]] = []  # (PageRecord, Analysis)
        self.oldest = 0.0
        self.pool: Executor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler)

    def open_spider(self) -> None:
        from pipelines.analyze import analyze_text, lexicon_version

        self.engine = engine_for(self.crawler.settings)
        self.lexicon_version = lexicon_version()
        # Pay the analysis' one-off loading (lexicon, word segmenter) before the first request:
        # done mid-crawl it would stall the reactor for seconds and distort download timeouts.
        analyze_text(WARM_UP_TEXT)
        workers = self.crawler.settings.getint("GREYWATCH_ANALYSIS_WORKERS", 0)
        if workers > 0:
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=worker_init,
                initargs=(os.getpid(), self.engine),
            )

    def close_spider(self) -> None:
        self.flush()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def _analyze(self, item: PageItem) -> Analyzed:
        if self.pool is not None:
            try:
                return await asyncio.wrap_future(self.pool.submit(analyze_item, item))
            except BrokenProcessPool:
                logger.warning("analysis worker died; analysing in the crawl process from now on")
                self.pool = None
        return analyze_item(item)

    async def process_item(self, item: Any) -> Any:
        """Analyze one page and queue it for saving; trouble drops the item, never the crawl."""
        if not isinstance(item, PageItem):
            return item
        try:
            done = await self._analyze(item)
        except Exception as exc:
            self._count_error("analysis", item.url, exc)
            raise DropItem(f"analysis failed for {item.url}") from None
        record = page_record(item, done, getattr(self.crawler.spider, "run_id", None))
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append((record, done.analysis))
        if len(self.pending) >= BATCH_PAGES or time.monotonic() - self.oldest >= BATCH_SECONDS:
            self.flush()
        return item

    def flush(self) -> None:
        """Save the queued pages in one transaction; if one page fails, again page by page."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        # A database that is briefly unreachable is waited out (retry_storage); only a batch
        # that still fails falls back to page by page.
        try:
            results = retry_storage(lambda: self._save(batch, per_page=False), stats=self.stats)
        except Exception:  # one page spoiled the batch: save again, each page on its own
            try:
                results = retry_storage(lambda: self._save(batch, per_page=True), stats=self.stats)
            except Exception as exc:  # the commit itself failed (database locked, gone)
                for record, _ in batch:
                    self._count_error("storage", record.url, exc)
                return
        for result, analysis in results:
            if result.created or result.changed or result.new_to_source:
                self.stats.inc_value("greywatch/pages_saved")
                if analysis.kind == "promotion":
                    self.stats.inc_value("greywatch/leads")
            else:
                self.stats.inc_value("greywatch/skipped_unchanged")

    def _save(self, batch: list[tuple[Any, Any]], per_page: bool) -> list[tuple[Any, Any]]:
        """Save a batch in one transaction. The fast way (per_page=False) is one `save_pages`
        call, where any error aborts the whole batch; per_page=True gives each page a
        savepoint, so a bad page is counted and skipped while the others are kept."""
        from storage.db import session_scope
        from storage.repo import save_page, save_pages

        results = []
        with session_scope(self.engine) as session:
            if not per_page:
                saved = save_pages(session, batch, self.lexicon_version)
                return list(zip(saved, (analysis for _, analysis in batch), strict=True))
            for record, analysis in batch:
                try:
                    with session.begin_nested():
                        result = save_page(session, record, analysis, self.lexicon_version)
                except Exception as exc:
                    self._count_error("storage", record.url, exc)
                    continue
                results.append((result, analysis))
        return results

    def _count_error(self, stage: str, url: str, exc: Exception) -> None:
        self.stats.inc_value(f"greywatch/errors/{stage}")
        self.stats.inc_value("greywatch/errors")
        logger.error("%s failed for %s: %s: %s", stage, url, type(exc).__name__, exc)
