"""The crawler's bridge to storage: engine from settings, runs, known pages, saving pages."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime
from typing import Any

from scrapy.settings import BaseSettings
from sqlalchemy.engine import Engine


def engine_for(settings: BaseSettings) -> Engine:
    """The database engine for a crawl: setting GREYWATCH_DATABASE_URL, else the default URL."""
    from storage.db import get_engine

    return get_engine(settings.get("GREYWATCH_DATABASE_URL") or None)


def json_safe(value: Any) -> Any:
    """Scrapy stats made JSON-safe (datetimes → ISO strings, anything odd → str)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    try:
        json.dumps(value)
    except TypeError:
        return str(value)
    return value


def load_known(engine: Engine, source_id: str) -> dict[str, Any]:
    """url → KnownPage (raw_sha256, etag, last_modified, fetched_at) for this source."""
    from storage.db import session_scope
    from storage.repo import known_pages

    with session_scope(engine) as session:
        return dict(known_pages(session, source_id))


# A database that stops answering mid-crawl (restart, fail-over, a cut network) is waited for
# this long before the batch is given up and counted as errors: pages stay in the batch, so
# nothing is lost while it comes back. The crawl (reactor) waits meanwhile: back-pressure.
DB_RETRY_S = 120.0
# Pauses between attempts: quick at first (a dropped pooled connection), then every 5 s.
DB_RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0, 5.0)


def is_transient(exc: BaseException) -> bool:
    """Whether a storage failure is the connection (worth retrying), not the data or schema."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    from pipelines.errors import PermissionDeniedError, StorageError

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, PermissionDeniedError):
            return False
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        if not isinstance(exc, StorageError | DBAPIError):
            return False
        exc = exc.__cause__  # type: ignore[assignment]
    return False


def retry_storage(
    save: Any,
    *,
    stats: Any = None,
    deadline_s: float = DB_RETRY_S,
    sleep: Any = None,
) -> Any:
    """`save()`, called again while it fails on the connection, for up to `deadline_s`.

    Other failures (a bad page, a schema problem) are raised at once. Each retry is counted
    as `greywatch/storage/retries` in the Scrapy stats when `stats` is given.
    """
    pause = sleep or time.sleep
    deadline = time.monotonic() + deadline_s
    attempt = 0
    while True:
        try:
            return save()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() >= deadline:
                raise
            wait = DB_RETRY_PAUSES[min(attempt, len(DB_RETRY_PAUSES) - 1)]
            attempt += 1
            if stats is not None:
                stats.inc_value("greywatch/storage/retries")
            logging.getLogger(__name__).warning(
                "database unreachable (%s); saving the batch again in %.1f s",
                str(exc).splitlines()[0][:200],
                wait,
            )
            pause(wait)
