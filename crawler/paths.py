"""Where greywatch keeps crawl state on disk (screenshots, Scrapy job dirs)."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """GREYWATCH_HOME, else ~/.local/share/greywatch (the same place as the default database)."""
    env = os.environ.get("GREYWATCH_HOME")
    return Path(env) if env else Path.home() / ".local" / "share" / "greywatch"


def screenshots_dir() -> Path:
    """Evidence screenshots of browser-rendered pages, one sub-directory per source."""
    return data_dir() / "screenshots"


def job_dir(source_id: str) -> Path:
    """Scrapy JOBDIR for `greywatch crawl --resume`: pending requests and seen fingerprints."""
    return data_dir() / "jobs" / source_id
