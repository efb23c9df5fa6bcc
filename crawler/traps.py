"""Crawler-trap detection as a spider middleware: bounded crawls even without deny rules.

Calendars ("next month" forever), session ids and filters appended to the query, relative
links that nest paths (/a/b/a/b/…) and pages past the end of a list produce endless URLs of
one shape. Depth and page caps bound them, but only after dozens of useless pages. This
middleware drops a followed link when

- its URL repeats itself: a path segment more than TRAP_MAX_SEGMENT_REPEATS times, a query
  parameter more than TRAP_MAX_PARAM_REPEATS times, or longer than TRAP_MAX_URL_LENGTH;
- it continues a chain of pages of one URL shape (digits aside) that are near-identical to
  the page before them (text but for digits with a resemblance of at least TRAP_SIMILARITY,
  estimated from bottom-k shingle sketches) for TRAP_SIMILAR_CHAIN steps: an empty calendar,
  pages past the last one;
- it continues a chain of one URL shape that only steps a date (?month=2026-12, /2027/01/)
  for TRAP_DATE_CHAIN steps, whatever the pages say.

A paginated forum is not cut: its pages share a shape but differ in content, and its URLs
carry page numbers, not dates. Each drop is counted in the stats (`greywatch/traps/…`).
Settings (prefix GREYWATCH_): TRAPS_ENABLED and the TRAP_* limits above.
"""

from __future__ import annotations

import functools
import heapq
import logging
import re
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response, TextResponse

logger = logging.getLogger(__name__)

META_KEY = "gw_trap"
_DIGITS = re.compile(r"\d+")
# A year-month(-day) in a URL: 2026-11, 2026/11/05, 20261105, 2026年11月.
_DATE = re.compile(
    r"(?<!\d)(?:19|20)\d{2}[-/_.年]?(?:0[1-9]|1[0-2])(?:[-/_.月]?(?:[0-2]\d|3[01]))?(?!\d)"
)
_SPACE = re.compile(r"\s+")
SHINGLE = 4  # characters per shingle (a Chinese word or two)
SKETCH = 64  # shingle hashes kept per page: resemblance within a few percent


@dataclass(frozen=True)
class Limits:
    """The trap limits, from the crawler settings."""

    max_segment_repeats: int = 2
    max_param_repeats: int = 2
    max_url_length: int = 1024
    similar_chain: int = 3
    similarity: float = 0.9
    date_chain: int = 10

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        """Read GREYWATCH_TRAP_* settings (defaults above)."""
        names = {
            "max_segment_repeats": "GREYWATCH_TRAP_MAX_SEGMENT_REPEATS",
            "max_param_repeats": "GREYWATCH_TRAP_MAX_PARAM_REPEATS",
            "max_url_length": "GREYWATCH_TRAP_MAX_URL_LENGTH",
            "similar_chain": "GREYWATCH_TRAP_SIMILAR_CHAIN",
            "date_chain": "GREYWATCH_TRAP_DATE_CHAIN",
        }
        defaults = cls()
        ints = {f: settings.getint(k, getattr(defaults, f)) for f, k in names.items()}
        similarity = settings.getfloat("GREYWATCH_TRAP_SIMILARITY", defaults.similarity)
        return cls(**ints, similarity=similarity)


@dataclass(frozen=True)
class Lineage:
    """What a page passes to the links found on it: its shape, fingerprint and chain counts."""

    shape: str
    sketch: tuple[int, ...]
    similar: int = 0  # near-identical same-shape pages in a row ending with this one
    dated: int = 0  # same-shape pages in a row whose URL steps a date


def url_shape(url: str) -> str:
    """A URL with its digit runs generalised: pages of one pattern share a shape."""
    parts = urlsplit(url)
    keys = sorted(f"{k}={_DIGITS.sub('#', v)}" for k, v in parse_qsl(parts.query, True))
    return f"{parts.hostname}{_DIGITS.sub('#', parts.path)}?{'&'.join(keys)}"


def has_date(url: str) -> bool:
    """Whether the URL's path or query holds a year-month date."""
    parts = urlsplit(url)
    return bool(_DATE.search(parts.path + "?" + parts.query))


def repetition(url: str, limits: Limits) -> str | None:
    """'segments', 'params' or 'length' when the URL repeats itself past the limits."""
    if len(url) > limits.max_url_length:
        return "length"
    parts = urlsplit(url)
    segments = Counter(s for s in parts.path.split("/") if s)
    if segments and max(segments.values()) > limits.max_segment_repeats:
        return "segments"
    params = Counter(k for k, _ in parse_qsl(parts.query, True))
    if params and max(params.values()) > limits.max_param_repeats:
        return "params"
    return None


def sketch(text: str, size: int = SKETCH) -> tuple[int, ...]:
    """The `size` smallest hashes of a text's distinct shingles (a bottom-k MinHash sketch)."""
    shingles = {text[i : i + SHINGLE] for i in range(max(len(text) - SHINGLE + 1, 1))}
    return tuple(heapq.nsmallest(size, {zlib.crc32(s.encode("utf-8")) for s in shingles}))


def resemblance(a: tuple[int, ...], b: tuple[int, ...], size: int = SKETCH) -> float:
    """Estimated Jaccard resemblance of two texts from their sketches (1.0: same shingles)."""
    if not a or not b:
        return 1.0 if a == b else 0.0
    union = heapq.nsmallest(size, set(a) | set(b))
    both = set(a) & set(b)
    return sum(1 for h in union if h in both) / len(union)


def page_skeleton(response: Response) -> str:
    """The page's visible text with digits and spacing removed (dates and counters aside)."""
    if not isinstance(response, TextResponse):
        return ""
    try:
        texts = response.xpath("//body//text()[not(ancestor::script or ancestor::style)]").getall()
    except ValueError:  # not HTML after all
        return ""
    return _SPACE.sub("", _DIGITS.sub("", "".join(texts)))


class PageLineage:
    """A fetched page's Lineage, worked out only if a chain needs it (sketching costs time)."""

    def __init__(self, response: Response, limits: Limits) -> None:
        self.response, self.limits = response, limits
        self.shape = url_shape(response.url)
        self.parent: Lineage | None = response.meta.get(META_KEY)

    @functools.cached_property
    def lineage(self) -> Lineage:
        """This page's Lineage, continuing its parent's chains when it has the parent's shape."""
        mine = sketch(page_skeleton(self.response))
        parent = self.parent
        if parent is None or parent.shape != self.shape:
            return Lineage(self.shape, mine)
        near = resemblance(parent.sketch, mine) >= self.limits.similarity
        return Lineage(
            self.shape,
            mine,
            similar=parent.similar + 1 if near else 0,
            dated=parent.dated + 1 if has_date(self.response.url) else 0,
        )

    def for_child(self, url: str) -> Lineage:
        """What a link to `url` inherits: the full lineage only if it has this page's shape."""
        if url_shape(url) == self.shape:
            return self.lineage
        return Lineage(self.shape, ())


def trap_reason(url: str, page: PageLineage, limits: Limits, seen: Counter[str]) -> str | None:
    """Why following `url` from this page walks into a trap, or None. `seen` counts, per URL
    shape, the near-identical and the date-stepped pages met so far (both directions of a
    calendar share one budget)."""
    repeated = repetition(url, limits)
    if repeated:
        return f"repeated_{repeated}"
    if url_shape(url) != page.shape:
        return None
    lineage = page.lineage
    if max(lineage.similar, seen["similar:" + page.shape]) >= limits.similar_chain:
        return "near_duplicate"
    if has_date(url) and max(lineage.dated, seen["dated:" + page.shape]) >= limits.date_chain:
        return "date_run"
    return None


class TrapGuard:
    """Spider middleware: drop followed links that lead into a crawler trap (see module doc)."""

    def __init__(self, crawler: Crawler, limits: Limits) -> None:
        self.stats = crawler.stats
        self.limits = limits
        self.seen: Counter[str] = Counter()  # "similar:<shape>" / "dated:<shape>" → pages

    def _page(self, response: Response) -> PageLineage:
        """The response's lineage; a page continuing a chain is counted for its shape."""
        page = PageLineage(response, self.limits)
        if page.parent is not None and page.parent.shape == page.shape:
            if page.lineage.similar:
                self.seen["similar:" + page.shape] += 1
            if page.lineage.dated:
                self.seen["dated:" + page.shape] += 1
        return page

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TrapGuard:
        if not crawler.settings.getbool("GREYWATCH_TRAPS_ENABLED", True):
            raise NotConfigured("GREYWATCH_TRAPS_ENABLED is off")
        return cls(crawler, Limits.from_settings(crawler.settings))

    def _filter(self, response: Response, page: PageLineage, item: Any) -> Any | None:
        if not isinstance(item, Request):
            return item
        reason = trap_reason(item.url, page, self.limits, self.seen)
        if reason is None:
            item.meta[META_KEY] = page.for_child(item.url)
            return item
        self.stats.inc_value("greywatch/traps/dropped")
        self.stats.inc_value(f"greywatch/traps/{reason}")
        logger.info("trap (%s): not following %s from %s", reason, item.url, response.url)
        return None

    def process_spider_output(
        self, response: Response, result: Iterable[Any], spider: Spider | None = None
    ) -> Iterable[Any]:
        """Pass items through; drop requests that walk into a trap."""
        page = self._page(response)
        for item in result:
            kept = self._filter(response, page, item)
            if kept is not None:
                yield kept

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any], spider: Spider | None = None
    ) -> AsyncIterator[Any]:
        """The same for asynchronous callbacks."""
        page = self._page(response)
        async for item in result:
            kept = self._filter(response, page, item)
            if kept is not None:
                yield kept
