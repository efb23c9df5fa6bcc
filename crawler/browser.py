"""Headless Chromium for browser-rendered sources, via scrapy-playwright and Debian's chromium.

Playwright's own browser downloads are not available (offline installs), so we point it at a
system Chromium: setting/env GREYWATCH_CHROMIUM, else the first of `_CANDIDATES` on PATH.

Where a page's time went (bench/browser.py, measured on a shared 2-core box): opening a tab
cost more than loading the page in it, so `BrowserHandler` keeps one browser context per site
and reuses its tabs; pictures, fonts, media and stylesheets are not fetched unless the page is
screenshotted (the evidence is the HTML); a page with a `wait_for` selector is taken at
DOMContentLoaded plus that selector. How many pages load at once is still Scrapy's per-site
concurrency: a tab exists only for a request Scrapy let through.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from playwright.async_api import Request as PlaywrightRequest
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod

from pipelines.errors import ConfigError
from pipelines.settings import settings

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Quiet, sandbox-free headless Chromium that never phones home (no updates, sync, field trials).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HANDLER = "crawler.browser.BrowserHandler"
# Subresources only a human eye needs: the HTML (the evidence) and the scripts that write it
# are always loaded; these are skipped unless the page is screenshotted.
BLOCKED_RESOURCES = frozenset({"image", "media", "font", "stylesheet"})
# Request meta the spider sets on pages it screenshots (crawler/spiders/source.py).
SCREENSHOT_META = "gw_screenshot"
# A tab left idle this long is emptied (about:blank) so its page's scripts stop: no polling a
# site between our own, throttled requests. Tabs taken again sooner skip the blanking
# (a crawl without delay); with any politeness delay the blanking happens while we wait.
IDLE_UNLOAD_S = 0.2


def find_chromium(configured: str | None = None) -> str | None:
    """Path of the Chromium to use: configured > env GREYWATCH_CHROMIUM > PATH lookup."""
    wanted = configured or settings().chromium
    if wanted:
        return wanted if os.path.isfile(wanted) else shutil.which(wanted)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def playwright_settings(configured: str | None = None) -> dict[str, Any]:
    """Scrapy settings that route requests through Playwright driving the system Chromium."""
    path = find_chromium(configured)
    if not path:
        raise ConfigError(
            "no Chromium found for a browser-rendered source (looked at GREYWATCH_CHROMIUM and "
            + ", ".join(_CANDIDATES)
            + " on PATH)",
            hint="apt-get install chromium, or set GREYWATCH_CHROMIUM=/path/to/chrome",
        )
    return {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": path,
            "headless": True,
            "args": CHROMIUM_ARGS,
        },
    }


# -- pure decisions ---------------------------------------------------------------------------
def blocks(resource_type: str, screenshot: bool) -> bool:
    """Whether Chromium skips a subresource: assets for the eye, unless a screenshot wants them."""
    return not screenshot and resource_type in BLOCKED_RESOURCES


def site_context(url: str) -> str:
    """The browser context for a URL: one per site (host and port), as Scrapy's download slots
    are, so a site's tabs share its cookies and two sites never share anything."""
    parts = urlsplit(url)
    return f"site:{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def load_event(page_methods: Any) -> str:
    """The navigation event to wait for: DOMContentLoaded when a selector is awaited next (the
    selector is the real signal), else the full load (scripts that run late included)."""
    methods = page_methods.values() if isinstance(page_methods, dict) else page_methods or ()
    waits = any(isinstance(m, PageMethod) and m.method == "wait_for_selector" for m in methods)
    return "domcontentloaded" if waits else "load"


# -- the download handler ---------------------------------------------------------------------
@dataclass
class _IdleTab:
    """A parked tab: the page, the timer that will empty it, the emptying once started."""

    page: Page
    timer: asyncio.TimerHandle | None = None
    unloading: asyncio.Task[bool] | None = field(default=None)


class BrowserHandler(ScrapyPlaywrightDownloadHandler):
    """scrapy-playwright with reused tabs per site and assets left out unless screenshotted.

    Requests that manage their own page (`playwright_page` / `playwright_include_page` in meta)
    are left to scrapy-playwright as they are. Built on scrapy-playwright 0.0.48's
    `_download_request`, `_create_page` and `_close` (tests/test_browser_speed_settings.py
    fails if those hooks move).
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.abort_request = self._abort
        # Tabs only exist for requests Scrapy let through, so this cap is never what waits;
        # a lower PLAYWRIGHT_MAX_PAGES_PER_CONTEXT would block a request forever behind an
        # idle tab that no one closes.
        concurrency = crawler.settings.getint("CONCURRENT_REQUESTS")
        self.config.max_pages_per_context = max(self.config.max_pages_per_context, concurrency)
        self._max_idle = concurrency
        self._idle: dict[str, list[_IdleTab]] = {}
        self._screenshot_tabs: set[Page] = set()
        self._closing: set[asyncio.Task[None]] = set()  # surplus tabs being closed

    # Chromium asks this for every request a page makes (scrapy-playwright's route handler).
    def _abort(self, request: PlaywrightRequest) -> bool:
        if request.resource_type not in BLOCKED_RESOURCES:
            return False
        try:
            page = request.frame.page
        except PlaywrightError:  # a service worker's request: no page to screenshot
            return True
        return blocks(request.resource_type, page in self._screenshot_tabs)

    async def _create_page(self, request: Request, spider: Spider) -> Page:
        page = await super()._create_page(request, spider)
        self.stats.inc_value("greywatch/browser/tabs_opened")
        page.on("close", self._forget)
        self._mark(page, request)
        return page

    def _forget(self, page: Page) -> None:
        self._screenshot_tabs.discard(page)

    def _mark(self, page: Page, request: Request) -> None:
        if request.meta.get(SCREENSHOT_META):
            self._screenshot_tabs.add(page)
        else:
            self._screenshot_tabs.discard(page)

    async def _download_request(self, request: Request, spider: Spider | None = None) -> Response:
        meta = request.meta
        if meta.get("playwright_include_page") or meta.get("playwright_page"):
            return await super()._download_request(request, spider)
        name = meta.setdefault("playwright_context", site_context(request.url))
        goto = meta.setdefault("playwright_page_goto_kwargs", {})
        goto.setdefault("wait_until", load_event(meta.get("playwright_page_methods")))
        page = await self._take_idle(name)
        if page is not None:
            self._mark(page, request)
            meta["playwright_page"] = page
            # a page load in a reused tab counts as scrapy-playwright counts a fresh tab's
            self.stats.inc_value("playwright/page_count")
        meta["playwright_include_page"] = True  # scrapy-playwright leaves the tab open to us
        try:
            response = await super()._download_request(request, spider)
        except BaseException:
            await self._discard(meta.pop("playwright_page", None))
            raise
        finally:
            meta.pop("playwright_include_page", None)
        self._park(name, meta.pop("playwright_page", None))
        return response

    # -- the idle tabs ----------------------------------------------------------------------
    async def _take_idle(self, name: str) -> Page | None:
        """A parked tab of this site, emptied or not (None: open a new one)."""
        tabs = self._idle.get(name)
        while tabs:
            tab = tabs.pop()
            if tab.timer is not None:
                tab.timer.cancel()
            if tab.unloading is not None and not await tab.unloading:
                continue
            if not tab.page.is_closed():
                return tab.page
        return None

    def _park(self, name: str, page: Page | None) -> None:
        """Keep a finished tab for the site's next page (closed if too many are idle)."""
        if page is None or page.is_closed():
            return
        if sum(len(tabs) for tabs in self._idle.values()) >= self._max_idle:
            task = asyncio.ensure_future(self._discard(page))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
            return
        tab = _IdleTab(page)
        tab.timer = asyncio.get_running_loop().call_later(IDLE_UNLOAD_S, self._unload_later, tab)
        self._idle.setdefault(name, []).append(tab)

    def _unload_later(self, tab: _IdleTab) -> None:
        tab.timer = None
        tab.unloading = asyncio.ensure_future(self._unload(tab.page))

    async def _unload(self, page: Page) -> bool:
        """Empty an idle tab so its page's scripts stop; False when the tab is gone."""
        try:
            await page.goto("about:blank")
        except PlaywrightError:
            await self._discard(page)
            return False
        self.stats.inc_value("greywatch/browser/tabs_emptied")
        return True

    async def _discard(self, page: Page | None) -> None:
        if page is None or page.is_closed():
            return
        with suppress(PlaywrightError):
            await page.close()
            self.stats.inc_value("playwright/page_count/closed")

    async def _close(self) -> None:
        tabs = [tab for tabs in self._idle.values() for tab in tabs]
        self._idle.clear()
        for tab in tabs:
            if tab.timer is not None:
                tab.timer.cancel()
        pending = [t.unloading for t in tabs if t.unloading] + list(self._closing)
        await asyncio.gather(*pending, return_exceptions=True)
        await super()._close()
