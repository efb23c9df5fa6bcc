"""Scrapy settings for greywatch: polite by default, bounded, and quiet about itself.

`scrapy.cfg` points here, so `scrapy crawl source -a source_id=…` and `greywatch crawl` share
them. Per-source overrides (politeness, limits, browser) are applied by the spider when it is
created (crawler/spiders/source.py), before Scrapy freezes the settings.
"""

from __future__ import annotations

from pipelines.settings import settings

_env = settings()  # every GREYWATCH_* variable, validated

BOT_NAME = "greywatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Say who we are and how to reach the operator; GREYWATCH_CONTACT should be an e-mail or URL.
USER_AGENT = (
    "greywatch/0.1 (+compliance monitoring; contact: "
    + (_env.contact or "set GREYWATCH_CONTACT")
    + ")"
)

# Politeness: robots.txt obeyed, few parallel requests per site, AutoThrottle adapts the delay
# to the server's latency (start at 1 s; never hammer a small forum).
ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
COOKIES_ENABLED = False

# Failures: retry 5xx, 408/429 and timeouts a few times (Scrapy re-queues them at lower
# priority, so other pages go first: a natural back-off), then count and move on.
RETRY_ENABLED = True
RETRY_TIMES = 3
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
DOWNLOAD_TIMEOUT = _env.download_timeout
# Forum and news pages are small; anything over 8 MB is not a page we want to analyze.
DOWNLOAD_MAXSIZE = 8 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
# A truncated body is still evidence: keep it, flag it ("dataloss") and count it as an error.
DOWNLOAD_FAIL_ON_DATALOSS = False

# Bounds: every source also sets limits.max_depth / max_pages (DEPTH_LIMIT, CLOSESPIDER_PAGECOUNT).
DEPTH_LIMIT = 5
DEPTH_PRIORITY = 1  # breadth-first-ish: listings before deep trap chains
CLOSESPIDER_PAGECOUNT = 200

HTTPCACHE_ENABLED = False
TELNETCONSOLE_ENABLED = False
# Scrapy 2.19's remote-control extension runs code sent over HTTP: never on for a monitor.
REMOTE_CONTROL_ENABLED = False
# (REQUEST_FINGERPRINTER_IMPLEMENTATION is gone in Scrapy 2.19: "2.7" is the only fingerprinter.)
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = _env.log_level

ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}
# Scrapy 2.19 starts this many item tasks per response; our callbacks yield one item per page,
# and the default 100 costs more in task bookkeeping than it buys.
CONCURRENT_ITEMS = 4
# Processes that run the analysis beside the crawl (0: analyse in the crawl process). One
# fills the second core of a small box; the crawl process itself fetches and saves.
GREYWATCH_ANALYSIS_WORKERS = _env.analysis_workers
EXTENSIONS = {
    "crawler.extensions.RunRecorder": 500,
    # Response-to-analysed-item time into the stats, for the Prometheus metrics.
    "crawler.metrics_ext.PageTimer": 510,
}
# Crawler traps (endless calendars, growing URLs, pages past the end) are cut even where a
# source has no deny rule for them; see crawler/traps.py for what each limit means.
SPIDER_MIDDLEWARES = {"crawler.traps.TrapGuard": 800}
GREYWATCH_TRAPS_ENABLED = True
GREYWATCH_TRAP_SIMILAR_CHAIN = 3  # near-identical pages of one URL shape (in a row, or in all)
GREYWATCH_TRAP_SIMILARITY = 0.9  # shingle resemblance that counts as near-identical
GREYWATCH_TRAP_DATE_CHAIN = 10  # date-stepped pages (next month…) per URL shape, whatever they say
GREYWATCH_TRAP_MAX_SEGMENT_REPEATS = 2
GREYWATCH_TRAP_MAX_PARAM_REPEATS = 2
GREYWATCH_TRAP_MAX_URL_LENGTH = 1024
# `scrapy check source -a source_id=bbs-demo` runs the callbacks' contracts on the demo site.
SPIDER_CONTRACTS = {"crawler.contracts.DemoUrlContract": 10}

# Playwright is configured per browser source only (see crawler/browser.py); these are defaults.
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
# One context per site, each with as many tabs as Scrapy lets requests through to that site
# (CONCURRENT_REQUESTS_PER_DOMAIN): politeness is Scrapy's, not a second, smaller cap here.
# 0 = no cap of their own (tabs: CONCURRENT_REQUESTS at most; crawler.browser.BrowserHandler).
PLAYWRIGHT_MAX_CONTEXTS = 0
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 0
