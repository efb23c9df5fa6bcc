"""Where greywatch keeps crawl state on disk (screenshots, Scrapy job dirs)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pipelines.settings import settings


def data_dir() -> Path:
    """GREYWATCH_HOME, else ~/.local/share/greywatch (the same place as the default database)."""
    return settings().home


def screenshots_dir() -> Path:
    """Evidence screenshots of browser-rendered pages, one sub-directory per source."""
    return data_dir() / "screenshots"


def job_dir(source_id: str) -> Path:
    """Scrapy JOBDIR for `greywatch crawl --resume`: pending requests and seen fingerprints."""
    return data_dir() / "jobs" / source_id


def run_logs_dir(db_url: str) -> Path:
    """Where scheduled runs of this database write their logs: beside a SQLite file
    (`greywatch.db` → `greywatch-logs/`), else `<data dir>/logs/<host>-<database>/`, so two
    databases never share (or overwrite) each other's `run-<id>-<source>.log`."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        return data_dir() / "logs" / _safe_name(db_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db = Path(url.database).expanduser()
        return db.with_name(f"{db.stem}-logs")
    return data_dir() / "logs" / _safe_name(f"{url.host or 'local'}-{url.database or 'default'}")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "db"
