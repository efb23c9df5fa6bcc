"""The crawler's bridge to storage: engine from settings, runs, known pages, saving pages."""

from __future__ import annotations

import json
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
