"""Item pipeline: analyze each fetched page and store it with its finding (idempotent by URL)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.items import PageItem
from crawler.store import engine_for

logger = logging.getLogger(__name__)

# Dates on Chinese sites are local time without a zone; China has one zone, UTC+8.
CHINA_TZ = timezone(timedelta(hours=8))
# A sample that exercises every analysis stage (terms, contacts, business names).
WARM_UP_TEXT = "深圳市鑫诚信息咨询有限公司 专业征信修复 电话 13800138000 微信 xinc888"
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


def analyze_item(item: PageItem) -> Any:
    """Analysis of the configured body (title + body) or, without one, of the whole HTML."""
    from pipelines.analyze import analyze_html, analyze_text

    if item.body_text:
        text = "\n".join(part for part in (item.title, item.body_text) if part)
        return analyze_text(text, doc_id=item.url)
    return analyze_html(item.html, url=item.url, doc_id=item.url)


def _page_fields(item: PageItem) -> tuple[str, str]:
    """(author, published) from selectors, else from main-text extraction when available."""
    author, published = item.author, item.published
    if author and published:
        return author, published
    try:
        from pipelines.text import extract_page
    except ImportError:
        return author, published
    page = extract_page(item.html, url=item.url)
    return author or (page.author or ""), published or str(page.published or "")


class StorePipeline:
    """Analyze (pipelines.analyze) and save (storage.repo.save_page), counting in the stats."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats

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

    def process_item(self, item: Any) -> Any:
        """Store one page; analysis or storage trouble drops the item, never the crawl."""
        if not isinstance(item, PageItem):
            return item
        try:
            analysis = analyze_item(item)
        except Exception as exc:
            self._fail("analysis", item.url, exc)
        try:
            result = self._save(item, analysis)
        except Exception as exc:
            self._fail("storage", item.url, exc)
        if result.created or result.changed:
            self.stats.inc_value("greywatch/pages_saved")
            if analysis.kind == "promotion":
                self.stats.inc_value("greywatch/leads")
        else:
            self.stats.inc_value("greywatch/skipped_unchanged")
        return item

    def _save(self, item: PageItem, analysis: Any) -> Any:
        from storage.db import session_scope
        from storage.repo import PageRecord, save_page

        author, published = _page_fields(item)
        record = PageRecord(
            url=item.url,
            body=item.body,
            fetched_at=item.fetched_at,
            source_id=item.source_id,
            run_id=getattr(self.crawler.spider, "run_id", None),
            encoding=item.encoding,
            http_status=item.http_status,
            headers=item.headers,
            title=(item.title or analysis.title or "")[:1000],
            text=analysis.text,
            author=author[:200],
            published_at=parse_published(published),
            screenshot_path=item.screenshot_path,
            rendered=item.rendered,
            etag=item.etag,
            last_modified=item.last_modified,
        )
        with session_scope(self.engine) as session:
            return save_page(session, record, analysis, self.lexicon_version)

    def _fail(self, stage: str, url: str, exc: Exception) -> None:
        self.stats.inc_value(f"greywatch/errors/{stage}")
        self.stats.inc_value("greywatch/errors")
        logger.error("%s failed for %s: %s: %s", stage, url, type(exc).__name__, exc)
        raise DropItem(f"{stage} failed for {url}")
