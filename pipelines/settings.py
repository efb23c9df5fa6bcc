"""Every `GREYWATCH_*` environment variable, read and validated in one place.

`settings()` builds one frozen `Settings` per distinct environment and caches it, so code may
call it freely; a bad value raises ConfigError naming the variable. `reload_settings()`
forgets the cache (tests that change the environment by hand).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from pipelines.errors import ConfigError

PREFIX = "GREYWATCH_"
DEFAULT_DEMO_URL = "http://127.0.0.1:8765"
DEFAULT_MAX_DOC_MB = 5.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The validated configuration from the environment (None: not set, use the default)."""

    home: Path  # GREYWATCH_HOME, ~ expanded; default ~/.local/share/greywatch
    database_url: str | None  # GREYWATCH_DATABASE_URL
    sources: Path | None  # GREYWATCH_SOURCES
    lexicon: Path | None  # GREYWATCH_LEXICON
    model: Path | None  # GREYWATCH_MODEL: a detector model file instead of the active one
    chromium: str | None  # GREYWATCH_CHROMIUM
    contact: str | None  # GREYWATCH_CONTACT (User-Agent)
    crawl_cmd: str | None  # GREYWATCH_CRAWL_CMD (replaces `python -m greywatch crawl`)
    demo_url: str  # GREYWATCH_DEMO_URL, without a trailing /
    download_timeout: int  # GREYWATCH_DOWNLOAD_TIMEOUT, seconds
    log_level: str  # GREYWATCH_LOG_LEVEL
    analysis_workers: int  # GREYWATCH_ANALYSIS_WORKERS
    max_doc_mb: float  # GREYWATCH_MAX_DOC_MB: largest page or input line analysed

    @property
    def max_doc_chars(self) -> int:
        """The document size cap in characters (1 MB counted as 2**20 characters)."""
        return int(self.max_doc_mb * 1024 * 1024)

    @property
    def default_database_path(self) -> Path:
        """The SQLite file used when no database URL is given."""
        return self.home / "greywatch.db"


def _text(env: Mapping[str, str], name: str) -> str | None:
    """The variable's value, or None when unset or blank."""
    value = env.get(PREFIX + name, "").strip()
    return value or None


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = _text(env, name)
    return Path(value).expanduser() if value else None


def _parsed(
    env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T, what: str
) -> T:
    """`parse(value)` or `default` when unset; a value parse rejects is a ConfigError."""
    value = _text(env, name)
    if value is None:
        return default
    try:
        return parse(value)
    except ValueError:
        raise ConfigError(
            f"{PREFIX}{name}: {value!r} is not {what}",
            hint=f"fix or unset {PREFIX}{name}",
        ) from None


def _whole(minimum: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise ValueError(value)
        return number

    return parse


def _positive_number(value: str) -> float:
    number = float(value)
    if not 0 < number < float("inf"):
        raise ValueError(value)
    return number


def _log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise ValueError(value)
    return value.upper()


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(value)
    parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    return value.rstrip("/")


def _default_workers() -> int:
    return 1 if (os.cpu_count() or 1) > 1 else 0


def build_settings(env: Mapping[str, str]) -> Settings:
    """Settings from an environment mapping (os.environ or a test's dict)."""
    home = _path(env, "HOME") or Path.home() / ".local" / "share" / "greywatch"
    return Settings(
        home=home,
        database_url=_text(env, "DATABASE_URL"),
        sources=_path(env, "SOURCES"),
        lexicon=_path(env, "LEXICON"),
        model=_path(env, "MODEL"),
        chromium=_text(env, "CHROMIUM"),
        contact=_text(env, "CONTACT"),
        crawl_cmd=_text(env, "CRAWL_CMD"),
        demo_url=_parsed(env, "DEMO_URL", _http_url, DEFAULT_DEMO_URL, "an http(s) URL"),
        download_timeout=_parsed(
            env, "DOWNLOAD_TIMEOUT", _whole(1), 30, "a whole number of seconds (1 or more)"
        ),
        log_level=_parsed(env, "LOG_LEVEL", _log_level, "INFO", "one of " + ", ".join(LOG_LEVELS)),
        analysis_workers=_parsed(
            env, "ANALYSIS_WORKERS", _whole(0), _default_workers(), "a whole number (0 or more)"
        ),
        max_doc_mb=_parsed(
            env, "MAX_DOC_MB", _positive_number, DEFAULT_MAX_DOC_MB, "a positive number of MB"
        ),
    )


@lru_cache(maxsize=8)
def _cached(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    return build_settings(dict(snapshot))


# The variables `build_settings` reads: looking up these few is much cheaper than scanning the
# whole environment, and the analysis asks for its settings once per page.
NAMES = tuple(
    PREFIX + n
    for n in (
        "HOME",
        "DATABASE_URL",
        "SOURCES",
        "LEXICON",
        "MODEL",
        "CHROMIUM",
        "CONTACT",
        "CRAWL_CMD",
        "DEMO_URL",
        "DOWNLOAD_TIMEOUT",
        "LOG_LEVEL",
        "ANALYSIS_WORKERS",
        "MAX_DOC_MB",
    )
)


def settings() -> Settings:
    """The settings for the current environment, built once per distinct set of values."""
    env = os.environ
    return _cached(tuple((k, env[k]) for k in NAMES if k in env))


def reload_settings() -> Settings:
    """Forget cached settings and read the environment again."""
    _cached.cache_clear()
    return settings()
