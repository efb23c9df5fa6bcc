"""How people read contacts and times; machines keep E.164 and ISO 8601 (see `iso`).

One rule for every human view (the leads table, CSV/XLSX exports, the 12315 pack):

- landlines as dialled in China, area code and hyphen: 021-62881234, 0755-86001234;
- mobiles as 11 digits: 13800138000;
- 400/800 service numbers in three groups: 400-820-8820;
- WeChat, QQ, email and sites as their value;
- times in Beijing time, labelled (2026-11-01 16:00 北京时间); a date stays a date.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from pipelines.timeutil import as_china

# The label a human-readable time carries, and the column-header suffix for tables and sheets.
BEIJING_LABEL = "北京时间"
_SERVICE_PREFIXES = ("400", "800")
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")


def display_phone(value: str) -> str:
    """A phone (E.164 or national digits) as written in a Chinese ad.

    Chinese numbers: landline `021-62881234`, mobile `13800138000`, service `400-820-8820`.
    Foreign numbers keep their international form (`+852 2123 4567`); anything unparsable
    is returned as given.
    """
    text = value.strip()
    try:
        number = phonenumbers.parse(text, "CN")
    except NumberParseException:
        return value
    if number.country_code != 86:
        return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.national_significant_number(number)
    if _MOBILE_RE.fullmatch(national):
        return national
    if national.startswith(_SERVICE_PREFIXES) and len(national) == 10:
        return f"{national[:3]}-{national[3:6]}-{national[6:]}"
    # Landlines: phonenumbers knows each area code's length (010, 021, 0755, 0898 …) and
    # formats the national form as "021 6288 1234"; the first group is the area code.
    formatted = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    area, _, rest = formatted.partition(" ")
    if area.startswith("0") and rest and area[1:].isdigit():
        return f"{area}-{rest.replace(' ', '')}"
    return "0" + national  # as dialled inside China, trunk 0 first


def display_contact(kind: str, value: str, raw: str = "") -> str:
    """A stored contact (`kind`, normalized `value`) as people read it; `raw` is unused today.

    Phones follow `display_phone`; WeChat, QQ, email and URLs are shown as their value.
    """
    del raw  # the normalized value is the one shown; raw may be an obfuscated spelling
    if kind == "phone":
        return display_phone(value)
    return value


def beijing(dt: datetime | date | None, seconds: bool = False) -> str:
    """A time in Beijing time with its label: `2026-11-01 16:00 北京时间`.

    A naive datetime is taken as UTC (how SQLite returns stored times). A plain `date` stays a
    date (`2026-11-01`): no invented 00:00. None is "".
    """
    if dt is None:
        return ""
    if not isinstance(dt, datetime):
        return dt.isoformat()
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{as_china(dt).strftime(fmt)} {BEIJING_LABEL}"


def beijing_bare(dt: datetime | date | None, seconds: bool = False) -> str:
    """`beijing` without the label, for a column whose header already says 北京时间."""
    text = beijing(dt, seconds)
    return text.removesuffix(f" {BEIJING_LABEL}")


def iso(dt: datetime | date | None) -> str:
    """ISO 8601 for machines: a datetime with its offset (`2026-11-01T16:00:00+08:00`), in
    Beijing time; a naive datetime is taken as UTC. A `date` stays `2026-11-01`; None is ""."""
    if dt is None:
        return ""
    if not isinstance(dt, datetime):
        return dt.isoformat()
    return as_china(dt).isoformat()


def published(dt: datetime | date | None) -> datetime | date | None:
    """A publish time as the page gave it: a `date` when only a date was written.

    Pages that print only a date are stored as midnight Beijing time (crawler.pipelines
    parse_published); a stored time at exactly 00:00:00 Beijing time is read back as that
    date, so no view invents a 00:00. Other values pass through.
    """
    if not isinstance(dt, datetime):
        return dt
    local = as_china(dt)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return local.date()
    return dt


def header(name: str) -> str:
    """A time column's header labelled as Beijing time: `导出时间（北京时间）`."""
    return f"{name}（{BEIJING_LABEL}）"
