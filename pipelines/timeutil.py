"""Time helpers every layer shares: China time, stored (naive UTC) times, `--since 7d`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from pipelines.errors import InputError

# Chinese sites, analysts and 12315 work in China Standard Time; China has one zone, UTC+8.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

_SPAN = re.compile(r"^(\d+)\s*([dhw])$")  # 7d / 24h / 2w
_UNITS = {"d": "days", "h": "hours", "w": "weeks"}


def as_utc(dt: datetime) -> datetime:
    """`dt` in UTC; a naive datetime is taken to be UTC already (SQLite returns those)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def as_china(dt: datetime) -> datetime:
    """`dt` in China Standard Time; a naive datetime is taken to be UTC (as stored)."""
    return as_utc(dt).astimezone(CHINA_TZ)


def as_utc_opt(dt: datetime | None) -> datetime | None:
    """`as_utc`, passing None through."""
    return None if dt is None else as_utc(dt)


def parse_since(value: str, option: str = "--since") -> datetime:
    """'2026-11-01', '2026-11-01T08:00', '7d', '24h' or '2w' -> an aware datetime.

    Dates and times without a timezone are local time; a bad value is an InputError naming
    the option.
    """
    text = value.strip()
    span = _SPAN.match(text)
    if span:
        return datetime.now().astimezone() - timedelta(**{_UNITS[span[2]]: int(span[1])})
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{option}: cannot read {value!r} as a date",
            hint="use 2026-11-01, 2026-11-01T08:00, or a span like 7d, 24h, 2w",
        ) from None
    return parsed if parsed.tzinfo else parsed.astimezone()
