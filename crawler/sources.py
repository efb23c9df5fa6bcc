"""Sources as data: the validated model of a sources YAML file, and its loader.

Each source says where to start, which links to follow (per preset), how to extract fields,
whether a browser must render it, when to run and how politely. Errors name the file, the
source id and the field in one sentence, so an analyst can fix the YAML without a traceback.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines.errors import ConfigError
from pipelines.settings import settings

Preset = Literal["discuz", "listing", "sitemap", "urls"]

# The bundled demo sources use `{demo}` for the demo server's base URL; it is filled from this
# env var (or by `greywatch demo`) so the same file serves tests, demos and docs.
DEMO_URL_ENV = "GREYWATCH_DEMO_URL"
DEFAULT_DEMO_URL = "http://127.0.0.1:8765"
BUNDLED_SOURCES = Path(__file__).parent / "data" / "demo_sources.yaml"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def demo_base() -> str:
    """The demo site's base URL that `{demo}` stands for: $GREYWATCH_DEMO_URL or the default."""
    return settings().demo_url


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkRules(_Model):
    """Which links a crawl follows: selectors pick page regions, regexes filter URLs."""

    detail_links: list[str] = Field(
        default_factory=list,
        title="Detail-link regions",
        description="CSS or XPath (starting with / or () of regions whose links are detail "
        "pages (threads, ads, articles). Presets supply defaults.",
    )
    next_page: list[str] = Field(
        default_factory=list,
        title="Next-page regions",
        description="CSS or XPath of regions whose links are further listing pages.",
    )
    allow: list[str] = Field(
        default_factory=list,
        title="Allowed URL patterns",
        description="Regexes; when given, a followed URL must match one of them.",
    )
    deny: list[str] = Field(
        default_factory=list,
        title="Denied URL patterns",
        description="Regexes; a URL matching any of them is never requested (traps, logouts).",
    )

    @field_validator("allow", "deny")
    @classmethod
    def _regexes_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return patterns


class Fields(_Model):
    """Optional selectors for page fields; main-text extraction fills whatever is missing."""

    title: str | None = Field(None, description="CSS or XPath of the title.")
    body: str | None = Field(None, description="CSS or XPath of the post/article body.")
    author: str | None = Field(None, description="CSS or XPath of the author name.")
    published: str | None = Field(None, description="CSS or XPath of the publication date.")
    account: str | None = Field(
        None, description="CSS or XPath of the poster's account name (suggested actors)."
    )
    ip_location: str | None = Field(
        None, description="CSS or XPath of the poster's IP location, e.g. 'IP属地：广东'."
    )


class WaitFor(_Model):
    """Per page type, the selector Chromium waits for before the HTML is taken."""

    listing: str | None = Field(None, description="Selector on listing (and start) pages.")
    detail: str | None = Field(None, description="Selector on detail pages.")

    @field_validator("listing", "detail")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be a selector, not blank (leave it out to not wait)")
        return value


class BrowserOptions(_Model):
    """What Chromium does on a page before its HTML is taken."""

    wait_for: str | WaitFor | None = Field(
        None,
        description="Selector to wait for (JS content): one for every page, or "
        "{listing: …, detail: …} per page type (a page type left out is not waited for).",
    )
    scrolls: int = Field(0, ge=0, le=50, description="Scroll to the bottom this many times.")
    screenshot: bool = Field(False, description="Save a full-page PNG as evidence.")
    pages: Literal["all", "listings", "details"] = Field(
        "all",
        description="Which pages Chromium renders; the others are plain HTTP fetches (a JS "
        "listing with static threads, or the reverse, costs a browser only where needed).",
    )

    @field_validator("wait_for", mode="before")
    @classmethod
    def _wait_for_shape(cls, value: Any) -> Any:
        """A string, or a mapping with only `listing` / `detail` (one clear message if not)."""
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(WaitFor.model_fields))
            if unknown:
                raise ValueError(f"unknown page type {unknown[0]!r} (use listing, detail)")
            return WaitFor.model_validate(value)
        if value is not None and not isinstance(value, str | WaitFor):
            raise ValueError("must be a selector, or {listing: …, detail: …}")
        return value

    def wait_for_page(self, detail: bool) -> str | None:
        """The selector to wait for on a detail page (True) or a listing page (False)."""
        if isinstance(self.wait_for, WaitFor):
            return self.wait_for.detail if detail else self.wait_for.listing
        return self.wait_for


class Limits(_Model):
    """Caps that keep any crawl bounded, whatever the site's links do (calendar traps)."""

    max_pages: int = Field(200, ge=1, le=100_000, description="Stop after this many pages.")
    max_depth: int = Field(5, ge=0, le=50, description="Links followed from a start URL.")


class Politeness(_Model):
    """Per-source overrides of the polite crawl defaults in crawler/settings.py."""

    download_delay: float | None = Field(
        None, ge=0, le=600, description="Seconds between requests."
    )
    concurrency: int | None = Field(None, ge=1, le=16, description="Parallel requests per domain.")
    obey_robots: bool | None = Field(None, description="Obey robots.txt (default yes).")


class SourceConfig(_Model):
    """One site to crawl: start points, link rules, extraction, rendering, schedule, limits."""

    id: str = Field(title="Source id", description="Short stable id: lower-case, digits, - and _.")
    name: str = Field(title="Name", description="Human-readable name shown in reports.")
    preset: Preset = Field(
        title="Preset",
        description="discuz: forum list → threads → pages; listing: list → detail → next; "
        "sitemap: URLs from sitemaps; urls: a fixed list of pages.",
    )
    start_urls: list[str] = Field(default_factory=list, description="Where the crawl begins.")
    search: str | None = Field(
        None, description="Search URL template; {keyword} is filled with each watch term."
    )
    keywords: list[str] = Field(
        default_factory=list, description="Search terms (default: the lexicon's watch terms)."
    )
    charset: str = Field("utf-8", description="Site charset, used to URL-encode search terms.")
    allowed_domains: list[str] = Field(
        default_factory=list, description="Hosts the crawl may visit (default: start hosts)."
    )
    links: LinkRules = Field(default_factory=LinkRules)
    fields: Fields = Field(default_factory=Fields)
    render: Literal["static", "browser"] = Field(
        "static", description="static: plain HTTP; browser: render with headless Chromium."
    )
    browser: BrowserOptions = Field(default_factory=BrowserOptions)
    schedule: str | None = Field(None, description="5-field cron expression, e.g. '0 */6 * * *'.")
    limits: Limits = Field(default_factory=Limits)
    politeness: Politeness = Field(default_factory=Politeness)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("must be lower-case letters, digits, '-' or '_' (at most 100)")
        return value

    @field_validator("start_urls")
    @classmethod
    def _urls_http(cls, urls: list[str]) -> list[str]:
        for url in urls:
            _check_http_url(url)
        return urls

    @field_validator("search")
    @classmethod
    def _search_template(cls, template: str | None) -> str | None:
        if template is not None:
            if "{keyword}" not in template:
                raise ValueError("must contain {keyword}")
            _check_http_url(template.replace("{keyword}", "x"))
        return template

    @field_validator("charset")
    @classmethod
    def _known_charset(cls, charset: str) -> str:
        try:
            codecs.lookup(charset)
        except LookupError:
            raise ValueError(f"unknown charset {charset!r}") from None
        return charset

    @field_validator("schedule")
    @classmethod
    def _cron(cls, expr: str | None) -> str | None:
        if expr is None:
            return None
        from apscheduler.triggers.cron import CronTrigger

        if len(expr.split()) != 5:
            raise ValueError(f"{expr!r} is not a 5-field cron expression (min hour dom mon dow)")
        try:
            CronTrigger.from_crontab(expr, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"{expr!r} is not a valid cron expression: {exc}") from None
        return expr

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        if not self.start_urls and not self.search:
            raise ValueError("needs start_urls or search")
        if self.preset == "listing" and not self.links.detail_links:
            raise ValueError("preset 'listing' needs links.detail_links")
        if self.render == "static" and self.browser != BrowserOptions():
            raise ValueError("browser options are set but render is 'static'")
        _check_selectors(self)
        return self

    def domains(self) -> list[str]:
        """Hosts the crawl may visit: the configured ones, or the start/search hosts."""
        if self.allowed_domains:
            return list(self.allowed_domains)
        urls = [*self.start_urls, *([self.search.replace("{keyword}", "x")] if self.search else [])]
        return sorted({urlsplit(u).hostname or "" for u in urls} - {""})

    def search_urls(self, terms: Iterable[str]) -> list[str]:
        """The search template filled with each term, percent-encoded in the site's charset."""
        if not self.search:
            return []
        return [
            self.search.replace("{keyword}", quote(t.encode(self.charset, "replace"), safe=""))
            for t in terms
        ]


class SourcesConfig(_Model):
    """A whole sources file."""

    sources: list[SourceConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesConfig:
        seen: set[str] = set()
        for source in self.sources:
            if source.id in seen:
                raise ValueError(f"duplicate source id {source.id!r}")
            seen.add(source.id)
        return self

    def get(self, source_id: str) -> SourceConfig | None:
        """The source with this id, or None."""
        return next((s for s in self.sources if s.id == source_id), None)


def _check_selectors(source: SourceConfig) -> None:
    """ValueError naming the field of the first CSS/XPath selector that does not compile."""
    from cssselect import SelectorError
    from parsel import Selector

    probe = Selector(text="<html></html>")
    named = [(f"fields.{k}", v) for k, v in source.fields.model_dump().items() if v]
    for key in ("detail_links", "next_page"):
        named += [(f"links.{key}", v) for v in getattr(source.links, key)]
    for field, query in named:
        xpath = query.startswith(("/", "(", "./"))
        try:
            probe.xpath(query) if xpath else probe.css(query)
        except (ValueError, SelectorError) as exc:
            kind = "XPath" if xpath else "CSS selector"
            reason = str(exc).splitlines()[0]
            raise ValueError(f"field '{field}': invalid {kind} {query!r}: {reason}") from None


def _check_http_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")


def default_sources_path() -> Path:
    """env GREYWATCH_SOURCES > ./sources.yaml > the bundled demo sources."""
    env = settings().sources
    if env:
        return env
    local = Path("sources.yaml")
    return local if local.exists() else BUNDLED_SOURCES


def load_sources(
    path: Path | None = None, variables: Mapping[str, str] | None = None
) -> SourcesConfig:
    """Read and validate a sources file; `{name}` placeholders are filled from `variables`.

    `{demo}` defaults to env GREYWATCH_DEMO_URL. Raises ConfigError naming file, source, field.
    """
    path = Path(path) if path else default_sources_path()
    label = str(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read sources file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text (byte {exc.start})", "save as UTF-8") from None
    values = {"demo": demo_base()}
    values.update(variables or {})
    for name, value in values.items():
        raw_text = raw_text.replace("{" + name + "}", value)
    try:
        data = yaml.safe_load(raw_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{label}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping with a 'sources:' list at the top")
    _reject_duplicate_ids(label, data)
    try:
        return SourcesConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(label, data, exc)) from None


def _reject_duplicate_ids(label: str, data: dict[str, Any]) -> None:
    seen: dict[str, int] = {}
    for index, item in enumerate(data.get("sources") or []):
        sid = item.get("id") if isinstance(item, dict) else None
        if isinstance(sid, str):
            if sid in seen:
                raise ConfigError(
                    f"{label}: source '{sid}': field 'id': duplicate id "
                    f"(also source #{seen[sid] + 1})"
                )
            seen[sid] = index


def _describe(label: str, data: dict[str, Any], exc: ValidationError) -> str:
    """One sentence for the first validation error: file, source id, field, problem."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key (not allowed here)"
    elif err["type"] == "missing":
        message = "is required"
    if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
        item = (data.get("sources") or [])[loc[1]]
        sid = item.get("id") if isinstance(item, dict) else None
        who = f"source '{sid}'" if isinstance(sid, str) else f"source #{loc[1] + 1}"
        field = ".".join(str(part) for part in loc[2:])
        return f"{label}: {who}: " + (f"field '{field}': {message}" if field else message)
    field = ".".join(str(part) for part in loc)
    return f"{label}: " + (f"field '{field}': {message}" if field else message)
