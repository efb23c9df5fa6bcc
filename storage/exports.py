"""Export leads to CSV (Excel-ready), XLSX or JSON, and log every export.

Leads carry contacts, which are personal data: an export must be narrowed by a filter, and
each one is recorded in ExportLog (who, when, which filter, how many rows, the file's SHA-256).
Files are written to a temporary name and renamed, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import csv
import dataclasses
import getpass
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines import display, timeutil
from pipelines.errors import GreywatchError, InputError
from pipelines.lexicon import Lexicon
from storage.models import ExportLog
from storage.repo import LeadFilter, LeadRow, query_leads

Format = Literal["csv", "xlsx", "json"]
FORMATS: tuple[str, ...] = ("csv", "xlsx", "json")

# Analysts, regulators and 12315 work in China Standard Time; stored times are UTC.
CHINA_TZ = timeutil.CHINA_TZ

KIND_LABELS = {"promotion": "推广", "warning": "警示", "other": "其他"}
REVIEW_LABELS = {
    "new": "待审核",
    "confirmed": "已确认",
    "dismissed": "已排除",
    "reported": "已举报",
}
# Scope verdicts (pipelines/scope.py) as an analyst reads them; "" = the match was ambiguous.
VERDICT_LABELS = {
    "out_of_scope": "超出登记经营范围",
    "in_scope": "在登记经营范围内",
    "inactive": "登记状态异常",
    "not_registered": "未查到登记",
    "": "无法确定对应登记",
}
CONTACT_LABELS = {"phone": "电话", "wechat": "微信", "qq": "QQ", "email": "邮箱", "url": "网址"}

# Excel refuses cells longer than this; longer page text is cut (the JSON export keeps it).
EXCEL_CELL_MAX = 32767
# Excel ignores hyperlinks longer than this; such URLs stay plain text.
EXCEL_LINK_MAX = 2079
# Cells starting with these are formulas to Excel; scraped titles must never run as formulas.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

FILTER_FLAGS = (
    "--since, --until, --category, --kind, --min-score, --source, --review, --actor, "
    "--contact, --keyword, --firm"
)


@dataclass(frozen=True)
class ExportResult:
    """What was exported: row count, final path and SHA-256 of the file."""

    rows: int
    path: Path
    sha256: str


@dataclass(frozen=True)
class Column:
    """One export column: Chinese header (CSV/XLSX), English key (JSON), width, cell value."""

    header: str
    key: str
    width: int
    value: Callable[[LeadRow], Any]


def category_labels() -> dict[str, str]:
    """Category key → Chinese name from the lexicon in use (credit_repair → 征信修复)."""
    try:
        return dict(Lexicon.load().labels)
    except GreywatchError:  # a broken lexicon must not block an export: keys stay as they are
        return {}


def category_label(key: str) -> str:
    """The Chinese name of a category key (the key itself if the lexicon has none)."""
    return category_labels().get(key, key)


def china_time(value: datetime | None) -> datetime | None:
    """A stored time (UTC; naive values from SQLite are UTC) in China Standard Time."""
    if value is None:
        return None
    return timeutil.as_china(value)


def format_time(value: datetime | None) -> str:
    """`2026-11-25 19:06:38` in China Standard Time, "" for None."""
    return display.beijing_bare(value, seconds=True)


def contact_text(contact: dict[str, Any]) -> str:
    """`电话 021-62881234`: a contact as written in the ad (pipelines.display rules)."""
    kind, value = str(contact.get("kind", "")), str(contact.get("value", ""))
    shown = display.display_contact(kind, value, str(contact.get("raw", "")))
    return f"{CONTACT_LABELS.get(kind, kind)} {shown}".strip()


def registry_text(check: dict[str, Any]) -> str:
    """`深圳市鑫诚…公司：超出登记经营范围（91440300…，存续）`: a registry check in one cell."""
    verdict = str(check.get("verdict", ""))
    said = f"{check.get('business', '')}：{VERDICT_LABELS.get(verdict, verdict)}"
    facts = "，".join(str(check[k]) for k in ("uscc", "status") if check.get(k))
    return f"{said}（{facts}）" if facts else said


def matched_words(evidence: list[dict[str, Any]]) -> list[str]:
    """The service words as the page wrote them (unique, in page order): never the lexicon's
    canonical entry, which the page may not have used (帮你上岸 matches the entry 逾期上岸)."""
    words = [str(e.get("raw") or e.get("term") or "") for e in evidence if e.get("kind") == "term"]
    return [w for w in dict.fromkeys(words) if w]


COLUMNS: tuple[Column, ...] = (
    Column("线索ID", "finding_id", 8, lambda r: r.finding_id),
    Column("来源", "source", 14, lambda r: r.source_id or ""),
    Column("标题", "title", 36, lambda r: r.title),
    Column("链接", "url", 40, lambda r: r.url),
    # A lead is one ad: every URL it was found at (thread pages, copies, reposts) and when.
    Column("全部链接", "urls", 40, lambda r: r.urls or [r.url]),
    Column(display.header("首次发现"), "first_seen", 20, lambda r: r.first_seen),
    Column(display.header("最后发现"), "last_seen", 20, lambda r: r.last_seen),
    Column(display.header("抓取时间"), "fetched_at", 20, lambda r: r.fetched_at),
    Column(
        display.header("发布时间"), "published_at", 20, lambda r: display.published(r.published_at)
    ),
    Column("类型", "kind", 8, lambda r: r.kind),
    Column("类别", "categories", 18, lambda r: r.categories),
    Column("评分", "score", 8, lambda r: round(float(r.score), 3)),
    Column("理由", "reason", 40, lambda r: r.reason),
    Column("联系方式", "contacts", 30, lambda r: r.contacts),
    Column("企业", "businesses", 30, lambda r: r.businesses),
    Column("登记核验", "registry", 36, lambda r: r.registry),
    Column("命中词", "matched_words", 24, lambda r: matched_words(r.evidence)),
    Column("摘录", "excerpt", 50, lambda r: r.excerpt),
    Column("审核状态", "review_status", 10, lambda r: r.review_status),
    Column("审核备注", "review_note", 24, lambda r: r.review_note),
    Column("模板ID", "template_id", 8, lambda r: r.template_id),
    Column("团伙ID", "actor_ids", 10, lambda r: r.actor_ids),
    Column("文档ID", "document_id", 8, lambda r: r.document_id),
    Column("页面SHA-256", "raw_sha256", 20, lambda r: r.raw_sha256),
)


def display_value(key: str, value: Any) -> Any:
    """A column value as a spreadsheet shows it: Chinese labels, joined lists, Beijing time
    (the column header says so), a date-only publish date as a date."""
    if value is None:
        return None
    if isinstance(value, date):
        return display.beijing_bare(value, seconds=True)
    if key == "kind":
        return KIND_LABELS.get(value, value)
    if key == "review_status":
        return REVIEW_LABELS.get(value, value)
    if key == "categories":
        return "、".join(category_label(c) for c in value)
    if key == "contacts":
        return "；".join(contact_text(c) for c in value)
    if key == "registry":
        return "；".join(registry_text(c) for c in value)
    if key == "urls":
        return "\n".join(value)  # one URL per line: Excel wraps them, and they copy cleanly
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return value


def json_value(value: Any) -> Any:
    """A column value for JSON: ISO 8601 times with offset, dates as dates, the rest as is."""
    return display.iso(value) if isinstance(value, date) else value


def filter_is_empty(f: LeadFilter) -> bool:
    """True when `f` narrows nothing (only the default `promotion` kind), i.e. all leads."""
    return not f.narrows()


def filter_json(f: LeadFilter) -> dict[str, Any]:
    """The filter as JSON for ExportLog (times ISO 8601, tuples as lists)."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(f):
        v = getattr(f, field.name)
        out[field.name] = (
            v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
        )
    return out


def current_user(user: str | None = None) -> str:
    """Who exports: the explicit --user, else $USER, else the login name, else "unknown"."""
    if user:
        return user
    try:
        return os.environ.get("USER") or getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def export_leads(
    session: Session, filter: LeadFilter, fmt: str, out: Path, user: str | None = None
) -> ExportResult:
    """Write the leads matching `filter` to `out` as csv/xlsx/json and log it in ExportLog."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    if filter_is_empty(filter):
        raise GreywatchError(
            "refusing to export every lead: exports contain personal data (contacts)",
            hint=f"narrow the export with at least one filter: {FILTER_FLAGS}",
        )
    out = Path(out)
    check_output_file(out)
    rows = query_leads(session, filter)
    writer = {"csv": write_csv, "xlsx": write_xlsx, "json": write_json}[fmt]
    with atomic_file(out) as tmp:
        writer(rows, tmp)
        digest = sha256_file(tmp)
        session.add(
            ExportLog(
                user=current_user(user),
                what="leads",
                format=fmt,
                filters=filter_json(filter),
                rows=len(rows),
                path=str(out.resolve()),
                sha256=digest,
            )
        )
        session.flush()
    return ExportResult(len(rows), out, digest)


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` that is not a folder (a file in the way)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_file(out: Path, flag: str = "--out") -> None:
    """InputError unless `out` can be written as a file: not a folder, not under a file."""
    out = Path(out)
    if out.is_dir():
        raise InputError(f"{flag} {out}: is a folder", hint="give a file name, e.g. leads.xlsx")
    blocker = _blocking_file(out)
    if blocker is not None:
        raise InputError(f"{flag} {out}: {blocker} is a file, not a folder")


def check_output_dir(out: Path, flag: str = "--out") -> None:
    """InputError unless `out` can be used (or made) as a folder: not a file, not under one."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} {out}: is a file", hint="give a folder, e.g. packs/")
    blocker = _blocking_file(out)
    if blocker is not None:
        raise InputError(f"{flag} {out}: {blocker} is a file, not a folder")


def make_folder(folder: Path, flag: str = "--out") -> None:
    """mkdir -p `folder`, or InputError naming the folder and why (permission denied…)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {folder}: cannot create the folder: {exc.strerror}") from None


@contextmanager
def atomic_file(out: Path) -> Iterator[Path]:
    """A temporary path beside `out`, renamed to `out` on success and removed on error."""
    make_folder(out.parent)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def defuse_formula(value: Any) -> Any:
    """Prefix text Excel would run as a formula with an apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(rows: list[LeadRow], path: Path) -> None:
    """UTF-8 with BOM (so Excel detects it), every field quoted (newlines stay in the cell)."""
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow([c.header for c in COLUMNS])
        for row in rows:
            w.writerow(
                [
                    defuse_formula("" if v is None else v)
                    for v in (display_value(c.key, c.value(row)) for c in COLUMNS)
                ]
            )


def write_json(rows: list[LeadRow], path: Path) -> None:
    """A list of objects with English keys; contacts and evidence kept as structures."""
    data = []
    for row in rows:
        obj = {c.key: json_value(c.value(row)) for c in COLUMNS}
        obj["evidence"] = row.evidence
        data.append(obj)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_xlsx(rows: list[LeadRow], path: Path) -> None:
    """One sheet: frozen header, autofilter, widths, clickable URLs, numbers and real dates."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "线索"
    ws.append([c.header for c in COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for i, col in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = col.width
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows, start=2):
        for i, col in enumerate(COLUMNS, start=1):
            raw = col.value(row)
            if isinstance(raw, datetime):
                value: Any = china_time(raw).replace(tzinfo=None)  # Excel has no time zones
            elif isinstance(raw, date):
                value = raw  # a date-only publish date: a date cell, no 00:00
            else:
                value = display_value(col.key, raw)
            if isinstance(value, str):
                value = ILLEGAL_CHARACTERS_RE.sub("", value)[:EXCEL_CELL_MAX]
            cell = ws.cell(row=r, column=i, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the page said
                cell.alignment = wrap
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            elif isinstance(value, date):
                cell.number_format = "yyyy-mm-dd"
            elif col.key == "score":
                cell.number_format = "0.00"
            if col.key == "url" and value and len(value) <= EXCEL_LINK_MAX:
                cell.hyperlink = value
                cell.style = "Hyperlink"
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{max(len(rows) + 1, 1)}"
    wb.save(path)


def list_exports(session: Session, limit: int | None = None) -> list[ExportLog]:
    """The recorded exports, newest first (`limit` of them; None or 0 for all)."""
    query = select(ExportLog).order_by(ExportLog.at.desc(), ExportLog.id.desc())
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def filter_text(filters: dict[str, Any]) -> str:
    """An ExportLog filter as one line, only what narrowed it: `categories=credit_repair
    min_score=0.5` (empty lists, None, 0 and False are the defaults and left out)."""
    parts = []
    for key, value in filters.items():
        if value is None or value is False or value == 0 or value in ([], (), ""):
            continue
        shown = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else value
        parts.append(f"{key}={shown}")
    return " ".join(parts) or "-"


def export_json(log: ExportLog) -> dict[str, Any]:
    """One ExportLog row for machines: ISO 8601 time with offset, the filter as stored."""
    return {
        "id": log.id,
        "at": display.iso(log.at),
        "user": log.user,
        "what": log.what,
        "format": log.format,
        "filters": log.filters,
        "rows": log.rows,
        "path": log.path,
        "sha256": log.sha256,
    }
