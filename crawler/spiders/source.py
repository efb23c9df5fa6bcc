"""The one generic spider: built from a SourceConfig, with Scrapy Rules per preset.

discuz: forum list pages (pager) → threads (and their pages); listing: list → detail → next;
sitemap: page URLs from sitemaps (or robots.txt); urls: a fixed list of detail pages.
Detail pages already stored are re-requested with validators; unchanged ones are skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.selector import Selector
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.spiders import CrawlSpider, Rule
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots
from twisted.python.failure import Failure

from crawler import paths
from crawler.errors import failure_reason
from crawler.items import PageItem
from crawler.sources import SourceConfig, load_sources
from crawler.store import engine_for, load_known
from pipelines.text import decode_html

logger = logging.getLogger(__name__)

# Discuz! URL shapes (static rewrite and dynamic forms) for threads and forum list pages.
DISCUZ_THREAD = r"thread-\d+-\d+-\d+\.html|viewthread\.php\?.*tid=\d+|mod=viewthread"
DISCUZ_PAGER = ["div.pg"]
LISTING_NEXT = ['a[rel="next"]', "a.next", ".pagination", "div.pg a.nxt"]
# wait_for_selector timeout: JS boards render within a second or two; a missing selector is
# a broken page, not a reason to stall the crawl.
WAIT_FOR_MS = 8_000
SCROLL_PAUSE_MS = 250
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


def _restrict(selectors: list[str]) -> dict[str, tuple[str, ...]]:
    """Split selectors into LinkExtractor restrict_css / restrict_xpaths."""
    xpaths = tuple(s for s in selectors if s.startswith(("/", "(", "./")))
    css = tuple(s for s in selectors if s not in xpaths)
    return {"restrict_css": css, "restrict_xpaths": xpaths}


def build_rules(source: SourceConfig) -> tuple[Rule, ...]:
    """The crawl policy of a source as Scrapy Rules (detail rule first: it wins ties)."""
    links = source.links
    common = {"deny": tuple(links.deny), "unique": True}
    if source.preset == "discuz":
        detail = LinkExtractor(allow=DISCUZ_THREAD, **common, **_restrict(links.detail_links))
        pager = LinkExtractor(
            deny=(*links.deny, DISCUZ_THREAD), **_restrict(links.next_page or DISCUZ_PAGER)
        )
        follow_detail = True  # thread pages link to the thread's further pages
    elif source.preset == "listing":
        detail = LinkExtractor(**common, **_restrict(links.detail_links))
        pager = LinkExtractor(**common, **_restrict(links.next_page or LISTING_NEXT))
        follow_detail = False
    else:
        return ()
    kwargs = {"errback": "on_error", "process_links": "keep_allowed"}
    return (
        Rule(
            detail,
            callback="parse_detail",
            follow=follow_detail,
            process_request="prepare_detail",
            **kwargs,
        ),
        Rule(
            pager,
            callback="parse_listing",
            follow=True,
            process_request="prepare_listing",
            **kwargs,
        ),
    )


# Scrapy 2.19's downloader dispatches a slot's whole queue at once when the delay is exactly
# 0, before any request counts as transferring, so CONCURRENT_REQUESTS_PER_DOMAIN is not
# enforced (measured: 8 parallel requests with a limit of 1). Any non-zero delay makes it
# dispatch one request at a time; 1 ms costs nothing below 1,000 pages/s per site.
MIN_DOWNLOAD_DELAY = 0.001


def source_settings(source: SourceConfig) -> dict[str, Any]:
    """Per-source Scrapy settings: limits and politeness overrides (browser added separately)."""
    out: dict[str, Any] = {
        "DEPTH_LIMIT": source.limits.max_depth,
        "CLOSESPIDER_PAGECOUNT": source.limits.max_pages,
    }
    polite = source.politeness
    if polite.download_delay is not None:
        out["DOWNLOAD_DELAY"] = max(polite.download_delay, MIN_DOWNLOAD_DELAY)
        out["AUTOTHROTTLE_START_DELAY"] = polite.download_delay
        out["AUTOTHROTTLE_ENABLED"] = polite.download_delay > 0
    if polite.concurrency is not None:
        out["CONCURRENT_REQUESTS_PER_DOMAIN"] = polite.concurrency
    if polite.obey_robots is not None:
        out["ROBOTSTXT_OBEY"] = polite.obey_robots
    return out


class SourceSpider(CrawlSpider):
    """Crawl one configured source: `scrapy crawl source -a source_id=bbs-demo`."""

    name = "source"

    def __init__(
        self,
        source_id: str = "",
        sources_file: str | None = None,
        run_id: str | int | None = None,
        trigger: str = "manual",
        source: SourceConfig | None = None,
        keywords: list[str] | None = None,
        lease: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if source is None:
            config = load_sources(Path(sources_file) if sources_file else None)
            source = config.get(source_id)
            if source is None:
                known = ", ".join(s.id for s in config.sources) or "none"
                raise ValueError(f"unknown source {source_id!r} (known: {known})")
        self.source: SourceConfig = source
        self.source_id = source.id
        self.run_id: int | None = int(run_id) if run_id not in (None, "") else None
        self.trigger = trigger
        self.keywords = keywords
        self.lease = lease  # storage.lease.Lease held for this crawl (None: scrapy crawl)
        self.allowed_domains = source.domains()
        self.rules = build_rules(source)
        self._allow = [re.compile(p) for p in source.links.allow]
        self._deny = [re.compile(p) for p in source.links.deny]
        self.known: dict[str, Any] = {}
        super().__init__(*args, **kwargs)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SourceSpider:
        """Create the spider, then apply the source's settings before Scrapy freezes them."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.settings.setdict(source_settings(spider.source), priority="spider")
        if spider.source.render == "browser":
            from crawler.browser import playwright_settings

            chromium = crawler.settings.get("GREYWATCH_CHROMIUM")
            crawler.settings.setdict(playwright_settings(chromium), priority="spider")
        spider.screenshots = Path(
            crawler.settings.get("GREYWATCH_SCREENSHOTS_DIR") or paths.screenshots_dir()
        )
        return spider

    # -- start -------------------------------------------------------------------------
    def start_page_urls(self) -> list[str]:
        """Configured start URLs plus the search template filled with the watch terms."""
        urls = list(self.source.start_urls)
        if self.source.search:
            urls += self.source.search_urls(self.keywords or self.source.keywords or _watch_terms())
        return [u for u in dict.fromkeys(urls) if not self._denied(u)]

    async def start(self) -> AsyncIterator[Any]:
        """Listings (always re-read), sitemaps, or fixed detail pages, per preset."""
        self.known = load_known(engine_for(self.crawler.settings), self.source_id)
        for url in self.start_page_urls():
            if self.source.preset == "urls":
                yield self.prepare_detail(
                    Request(url, callback=self.parse_detail, errback=self.on_error), None
                )
            elif self.source.preset == "sitemap":
                yield Request(url, callback=self.parse_sitemap, errback=self.on_error)
            else:
                meta = self._render_meta(url, detail=False)
                yield Request(url, callback=self._parse, errback=self.on_error, meta=meta)

    # -- request preparation (Rule.process_request hooks) -------------------------------
    def keep_allowed(self, links: list[Any]) -> list[Any]:
        """Apply the source's `allow` regexes (deny is applied by the LinkExtractor)."""
        return [link for link in links if self._allowed(link.url)]

    def prepare_listing(self, request: Request, response: Response | None) -> Request:
        """Listing pages: rendered when the source needs a browser; never conditional."""
        request.meta.update(self._render_meta(request.url, detail=False))
        return request

    def prepare_detail(self, request: Request, response: Response | None) -> Request:
        """Detail pages: render if needed; send validators when we stored the page before."""
        request.meta.update(self._render_meta(request.url, detail=True))
        known = self.known.get(request.url)
        if known is not None:
            request.meta["gw_known_sha256"] = known.raw_sha256
            # Thread pages link to their later pages: a 304 would hide those links, so
            # discuz threads are re-fetched in full and compared by SHA-256 instead.
            if (known.etag or known.last_modified) and self.source.preset != "discuz":
                if known.etag:
                    request.headers["If-None-Match"] = known.etag
                if known.last_modified:
                    request.headers["If-Modified-Since"] = known.last_modified
                request.meta["handle_httpstatus_list"] = [304]
        return request

    def _render_meta(self, url: str, detail: bool) -> dict[str, Any]:
        """Request meta for Chromium (scrapy-playwright) when this kind of page needs it."""
        if self.source.render != "browser":
            return {}
        wanted = self.source.browser.pages
        if (wanted == "listings" and detail) or (wanted == "details" and not detail):
            return {}
        from scrapy_playwright.page import PageMethod

        opts = self.source.browser
        methods = []
        wait_for = opts.wait_for_page(detail)
        if wait_for:
            methods.append(PageMethod("wait_for_selector", wait_for, timeout=WAIT_FOR_MS))
        for _ in range(opts.scrolls):
            methods.append(PageMethod("evaluate", "window.scrollTo(0, document.body.scrollHeight)"))
            methods.append(PageMethod("wait_for_timeout", SCROLL_PAUSE_MS))
        meta: dict[str, Any] = {"playwright": True, "gw_page": "detail" if detail else "listing"}
        if opts.screenshot and detail:
            digest = hashlib.sha256(url.encode()).hexdigest()[:20]
            shot = self.screenshots / self.source_id / f"{digest}.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            methods.append(PageMethod("screenshot", path=str(shot), full_page=True))
            meta["gw_screenshot"] = str(shot)
        meta["playwright_page_methods"] = methods
        return meta

    def _allowed(self, url: str) -> bool:
        return not self._allow or any(p.search(url) for p in self._allow)

    def _denied(self, url: str) -> bool:
        return any(p.search(url) for p in self._deny)

    # -- callbacks ------------------------------------------------------------------------
    def parse_start_url(self, response: Response, **kwargs: Any) -> Iterable[Any]:
        """Start pages are listings: count them; the rules follow their links. A listing
        start page without a single detail link is most likely an article: say so."""
        if self.source.preset == "listing" and isinstance(response, TextResponse):
            self._check_listing_start(response)
        return self.parse_listing(response)

    def _check_listing_start(self, response: TextResponse) -> None:
        if self.rules[0].link_extractor.extract_links(response):
            return
        self.crawler.stats.inc_value("greywatch/warnings/start_without_details")
        logger.warning(
            "source %s: start page %s has no detail links in links.detail_links %s: is it "
            "an article rather than a listing?",
            self.source_id,
            response.url,
            ", ".join(self.source.links.detail_links),
        )

    def parse_listing(self, response: Response) -> Iterable[Any]:
        """A listing page: only counted; links are followed by the rules.

        @demo_url /bbs/forum-2-1.html
        @returns items 0 0
        """
        self.crawler.stats.inc_value("greywatch/listing_pages")
        return ()

    def parse_detail(self, response: Response) -> Iterable[PageItem]:
        """A detail page: skip if unchanged, else decode and extract fields into a PageItem.

        @demo_url /bbs/thread-102-1-1.html
        @returns items 1 1
        @scrapes url source_id html encoding
        """
        stats = self.crawler.stats
        if response.status == 304:
            stats.inc_value("greywatch/skipped_unchanged")
            return
        if not isinstance(response, TextResponse):
            stats.inc_value("greywatch/skipped/not_html")
            logger.warning("skipped %s: not an HTML/text response", response.url)
            return
        body = response.body
        if response.meta.get("gw_known_sha256") == hashlib.sha256(body).hexdigest():
            stats.inc_value("greywatch/skipped_unchanged")
            return
        if "dataloss" in response.flags:
            self._count_error("truncated", response.url, "keeping the part received")
        rendered = "playwright" in response.flags
        if rendered:
            html, encoding = response.text, response.encoding
        else:
            html, encoding = decode_html(body, _header_charset(response))
        yield PageItem(
            url=response.url,
            source_id=self.source_id,
            body=body,
            html=html,
            encoding=encoding,
            fetched_at=datetime.now(UTC),
            http_status=response.status,
            headers={
                k.decode("latin-1"): b", ".join(v).decode("latin-1")
                for k, v in response.headers.items()
            },
            **self._fields(html),
            screenshot_path=response.meta.get("gw_screenshot", ""),
            rendered=rendered,
            etag=(response.headers.get(b"ETag") or b"").decode("latin-1"),
            last_modified=(response.headers.get(b"Last-Modified") or b"").decode("latin-1"),
            flags=list(response.flags),
        )

    def _fields(self, html: str) -> dict[str, str]:
        """Configured field selectors applied to the correctly decoded HTML (account and IP
        location are read from the stored page when actors are suggested: storage.linking)."""
        names = (
            ("title", "title"),
            ("body", "body_text"),
            ("author", "author"),
            ("published", "published"),
        )
        wanted = any(getattr(self.source.fields, name) for name, _ in names)
        selector = Selector(text=html) if wanted else None
        out = {}
        for name, key in names:
            query = getattr(self.source.fields, name)
            out[key] = _select_text(selector, query) if selector is not None and query else ""
        return out

    def parse_sitemap(self, response: Response) -> Iterable[Request]:
        """Sitemaps (or robots.txt Sitemap: lines) → page requests, following sitemap indexes."""
        if response.url.endswith("/robots.txt"):
            for url in sitemap_urls_from_robots(response.body, base_url=response.url):
                yield Request(url, callback=self.parse_sitemap, errback=self.on_error)
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        try:
            sitemap = Sitemap(body)
        except Exception:  # lxml raises several types for garbage: count and move on
            self._count_error("bad_sitemap", response.url)
            return
        for entry in sitemap:
            loc = entry.get("loc", "")
            if not loc or self._denied(loc) or not self._allowed(loc):
                continue
            if sitemap.type == "sitemapindex":
                yield Request(loc, callback=self.parse_sitemap, errback=self.on_error)
            else:
                yield self.prepare_detail(
                    Request(loc, callback=self.parse_detail, errback=self.on_error), response
                )

    def on_error(self, failure: Failure) -> None:
        """Any failed request: log it with its URL and count it by reason; the crawl goes on."""
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        reason = failure_reason(failure)
        # robots.txt or offsite: policy, not a failure (HttpError is an IgnoreRequest too)
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            why = "robots_txt" if "robots.txt" in failure.getErrorMessage() else "ignored"
            self.crawler.stats.inc_value(f"greywatch/skipped/{why}")
            logger.info("skipped %s: %s", url, failure.getErrorMessage())
            return
        if _is_wait_timeout(failure):  # a browser page that never showed its selector
            self._drop_unrendered(request, url)
            return
        self._count_error(reason, url, failure.getErrorMessage().strip().splitlines()[0])

    def _drop_unrendered(self, request: Request | None, url: str) -> None:
        """Count a page dropped because its wait_for selector never appeared; one line."""
        kind = request.meta.get("gw_page", "listing") if request is not None else "listing"
        detail = kind == "detail"
        self.crawler.stats.inc_value("greywatch/dropped/wait_for")
        self.crawler.stats.inc_value(f"greywatch/dropped/wait_for/{kind}")
        logger.warning(
            "dropped %s: %s page never showed browser.wait_for %r within %d s",
            url,
            kind,
            self.source.browser.wait_for_page(detail),
            WAIT_FOR_MS // 1000,
        )

    def _count_error(self, reason: str, url: str, detail: str = "") -> None:
        self.crawler.stats.inc_value(f"greywatch/errors/{reason}")
        self.crawler.stats.inc_value("greywatch/errors")
        logger.warning("failed %s: %s%s", url, reason, f" ({detail})" if detail else "")


def _is_wait_timeout(failure: Failure) -> bool:
    """A Playwright timeout in wait_for_selector (the page rendered, the selector never came)."""
    value = failure.value
    return "Timeout" in type(value).__name__ and "wait_for_selector" in str(value)


def _select_text(selector: Selector, query: str) -> str:
    """Text of the first node matching a CSS or XPath query, whitespace-collapsed."""
    nodes = selector.xpath(query) if query.startswith(("/", "(", "./")) else selector.css(query)
    if not nodes:
        return ""
    text = " ".join(t.strip() for t in nodes[0].xpath(".//text()").getall() if t.strip())
    return text or (nodes[0].get() or "").strip()


def _header_charset(response: Response) -> str | None:
    """The charset the Content-Type header claims (may be wrong; decode_html weighs it last)."""
    match = _CHARSET.search((response.headers.get(b"Content-Type") or b"").decode("latin-1"))
    return match.group(1) if match else None


def _watch_terms() -> list[str]:
    """Search terms from the lexicon when a source names none (pipelines.lexicon)."""
    try:
        from pipelines.lexicon import watch_terms
    except ImportError:
        logger.warning("pipelines.lexicon.watch_terms is not available: no search terms")
        return []
    return list(watch_terms())
