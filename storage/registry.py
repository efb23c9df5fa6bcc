"""Import enterprise-registration exports (CSV or XLSX) into the `registrations` table.

Analysts get these files from the national enterprise credit information system or data
vendors; header names, encodings (UTF-8 with or without BOM, GBK/GB18030) and date styles
vary. An import is all-or-nothing: the whole file is validated first (streaming, so a million
rows fit in bounded memory), then written in batches inside one transaction, upserting by
统一社会信用代码 so a re-import updates rather than duplicates.
"""

from __future__ import annotations

import codecs
import csv
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from pipelines import uscc
from pipelines.errors import InputError, StorageError
from pipelines.names import find_region, normalize_name, split_name
from storage.models import Registration

# field → (canonical header, accepted header variants). Providers rename columns a little;
# the canonical name is the national system's and is what error messages use.
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("企业名称", ("企业名称", "公司名称", "名称", "企业(机构)名称", "单位名称")),
    "uscc": ("统一社会信用代码", ("统一社会信用代码", "信用代码", "统一信用代码", "社会信用代码")),
    "legal_rep": ("法定代表人", ("法定代表人", "法人", "负责人", "法人代表", "经营者")),
    "status": ("登记状态", ("登记状态", "状态", "经营状态", "企业状态")),
    "founded": ("成立日期", ("成立日期", "成立时间", "注册日期", "注册时间")),
    "address": ("住所", ("住所", "地址", "注册地址", "经营场所", "企业地址")),
    "scope": ("经营范围", ("经营范围", "业务范围")),
}
# Without these a row cannot be matched (name, code) or judged (status, scope).
REQUIRED = ("name", "uscc", "status", "scope")

# Column widths of storage.models.Registration: checked while validating, so PostgreSQL never
# fails half-way through the write pass.
MAX_CHARS = {"name": 300, "legal_rep": 100, "status": 50}

# Rows per executemany: large enough to amortize round trips, small enough that the
# "which of these exist" IN (...) query stays under SQLite's variable limit.
BATCH_ROWS = 2000

# Bytes read to guess a CSV's encoding before the streaming pass.
SNIFF_BYTES = 1 << 20

# A sample with fewer bad spots than 1 in this many multi-byte characters is damaged UTF-8.
UTF8_MAX_BAD_SHARE = 20

XLSX_MAGIC = b"PK\x03\x04"
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$")
_DATE8 = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SURROGATE = re.compile("[\udc80-\udcff]")
_BAD_CHARS = re.compile("[\udc80-\udcff\x00]")

Progress = Callable[[str, int, int | None], None]  # (phase, rows done, rows total or None)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """How many data rows the file had and how many registrations were new or updated."""

    rows: int
    inserted: int
    updated: int


@dataclass(frozen=True, slots=True)
class _Row:
    number: int  # spreadsheet row number: the header is row 1
    cells: dict[str, Any]  # field → raw cell value


def import_registry(
    target: Session | Engine, path: str | Path, progress: Progress | None = None
) -> ImportResult:
    """Validate the whole file, then upsert every row by USCC in one transaction.

    Raises InputError naming file, row and column on the first bad row; nothing is written.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows = _validate(path, progress)
    if isinstance(target, Session):
        return _write(target.connection(), path, rows, progress)
    from storage.db import session_scope

    with session_scope(target) as session:
        return _write(session.connection(), path, rows, progress)


def _validate(path: Path, progress: Progress | None) -> int:
    """Read every row once, checking it; returns the number of data rows."""
    seen: dict[str, int] = {}  # USCC → first row: a duplicate would make the upsert ambiguous
    count = 0
    for row in _read_rows(path):
        rec = _record(path, row)
        first = seen.setdefault(rec["uscc"], row.number)
        if first != row.number:
            _fail(path, row.number, "uscc", f"'{rec['uscc']}' duplicates row {first}")
        count += 1
        if progress and count % BATCH_ROWS == 0:
            progress("validate", count, None)
    if count == 0:
        raise InputError(f"{path.name}: no data rows below the header")
    if progress:
        progress("validate", count, count)
    return count


def _write(conn: Connection, path: Path, total: int, progress: Progress | None) -> ImportResult:
    """Second pass: upsert in batches on the caller's connection (one transaction)."""
    stmt = _upsert_statement(conn)
    now = datetime.now(UTC)
    inserted = updated = done = 0
    batch: list[dict[str, Any]] = []
    for row in _read_rows(path):
        rec = _record(path, row, checked=True)
        parts = split_name(rec["name"])
        rec |= {
            "name_norm": normalize_name(rec["name"]),
            "brand_core": parts.brand_core[:100],
            "region": parts.region or find_region(rec["address"]),
            "source_file": str(path)[:1024],
            "source_row": row.number,
            "imported_at": now,
        }
        batch.append(rec)
        if len(batch) >= BATCH_ROWS:
            new, old = _flush(conn, stmt, batch)
            inserted, updated, done = inserted + new, updated + old, done + len(batch)
            batch = []
            if progress:
                progress("write", done, total)
    if batch:
        new, old = _flush(conn, stmt, batch)
        inserted, updated, done = inserted + new, updated + old, done + len(batch)
    if progress:
        progress("write", done, total)
    return ImportResult(rows=done, inserted=inserted, updated=updated)


def _upsert_statement(conn: Connection) -> Callable[[list[dict[str, Any]]], None]:
    """INSERT … ON CONFLICT (uscc) DO UPDATE for the connection's dialect, as a batch writer.

    PostgreSQL goes through SQLAlchemy's batched executemany ("insertmanyvalues"). For SQLite
    the same statement is compiled once and run with the driver's executemany on tuples: the
    per-row parameter handling of the ORM layer was a third of the import time.
    """
    name = conn.dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise StorageError(f"registry import supports SQLite and PostgreSQL, not {name}")
    table = Registration.__table__
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["uscc"],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in ("id", "uscc")},
    )
    if name != "sqlite":
        return lambda batch: conn.execute(stmt, batch) and None
    columns = [c.name for c in table.c if c.name != "id"]
    compiled = stmt.compile(dialect=conn.dialect, column_keys=columns)
    order = list(compiled.positiontup or ())
    process = {k: table.c[k].type.bind_processor(conn.dialect) for k in order}
    sql = str(compiled)

    def write(batch: list[dict[str, Any]]) -> None:
        rows = [
            tuple(p(r[k]) if (p := process[k]) is not None else r[k] for k in order) for r in batch
        ]
        conn.exec_driver_sql(sql, rows)

    return write


def _flush(
    conn: Connection, write: Callable[[list[dict[str, Any]]], None], batch: list[dict[str, Any]]
) -> tuple[int, int]:
    """Upsert one batch; returns (inserted, updated) counted by which codes already existed."""
    codes = [r["uscc"] for r in batch]
    existing = set(conn.scalars(select(Registration.uscc).where(Registration.uscc.in_(codes))))
    write(batch)
    return len(batch) - len(existing), len(existing)


# --- reading ---------------------------------------------------------------------------


def _read_rows(path: Path) -> Iterator[_Row]:
    """Data rows of a CSV or XLSX file (sniffed by content), mapped to fields by header."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.strip():
        raise InputError(f"{path.name}: empty file (no header row)")
    if head.startswith(XLSX_MAGIC):
        yield from _xlsx_rows(path)
    else:
        yield from _csv_rows(path, head)


def _header_map(path: Path, header: list[Any]) -> dict[int, str]:
    """Column index → field, from the header row; a missing required column is an error."""
    lookup = {v: field for field, (_, variants) in COLUMNS.items() for v in variants}
    mapping: dict[int, str] = {}
    for i, cell in enumerate(header):
        key = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(cell or ""))).lstrip("\ufeff")
        field = lookup.get(key)
        if field and field not in mapping.values():
            mapping[i] = field
    for field in REQUIRED:
        if field not in mapping.values():
            canonical, variants = COLUMNS[field]
            found = ", ".join(str(c) for c in header if c not in (None, "")) or "nothing"
            raise InputError(
                f"{path.name}: missing column {canonical} (also accepted: "
                f"{', '.join(v for v in variants if v != canonical)}); header has: {found}"
            )
    return mapping


def _sniff_encoding(path: Path, head: bytes) -> str:
    """utf-8-sig / utf-8 / gb18030 by trying each on the first megabyte."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{path.name}: UTF-16 text is not supported",
            hint="save the sheet as 'CSV UTF-8' or as .xlsx",
        )
    if _mostly_utf8(head):
        return "utf-8"  # a few bad bytes are reported by row and column, not re-guessed
    try:
        codecs.getincrementaldecoder("gb18030")().decode(head, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        pass
    raise InputError(f"{path.name}: neither UTF-8 nor GBK text", hint="save it as CSV UTF-8")


def _mostly_utf8(head: bytes) -> bool:
    """True when the sample is UTF-8 but for a few bad spots (GBK text read as UTF-8 fails on
    nearly every Chinese character; a damaged UTF-8 file fails on a handful)."""
    # final=False: a character cut at the end of the sample is not counted as bad.
    text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(head, final=False)
    bad = text.count("\ufffd")
    multibyte = sum(1 for b in head if b >= 0xC0)  # lead bytes of multi-byte characters
    return bad == 0 or bad * UTF8_MAX_BAD_SHARE < max(multibyte, 1)


def _csv_rows(path: Path, head: bytes) -> Iterator[_Row]:
    """CSV rows; undecodable bytes are kept as surrogates and reported by row and column."""
    encoding = _sniff_encoding(path, head)
    first_line = head.split(b"\n", 1)[0]
    delimiter = "\t" if b"\t" in first_line and b"," not in first_line else ","
    with path.open("r", encoding=encoding, errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        number = 0
        try:
            header = next(reader, None)
            number = 1
            if not header:
                raise InputError(f"{path.name}: empty file (no header row)")
            if any(_SURROGATE.search(h) for h in header):
                raise InputError(f"{path.name}: row 1 (header): bytes that are not {encoding}")
            mapping = _header_map(path, header)
            for values in reader:
                number += 1
                if not any(v.strip() for v in values):
                    continue  # blank line
                yield _row(path, number, values, len(header), mapping, encoding)
        except csv.Error as exc:
            raise InputError(f"{path.name}: row {number + 1}: unreadable CSV ({exc})") from exc


def _row(
    path: Path, number: int, values: list[Any], width: int, mapping: dict[int, str], enc: str
) -> _Row:
    """Map one row's values to fields, rejecting short rows and undecodable bytes."""
    if len(values) < width:
        raise InputError(
            f"{path.name}: row {number}: {len(values)} of {width} columns (truncated row?)"
        )
    cells = {field: values[i] for i, field in mapping.items()}
    texts = [v for v in cells.values() if isinstance(v, str)]
    if _BAD_CHARS.search("".join(texts)):  # one scan per row; find the column only if needed
        for field, value in cells.items():
            if isinstance(value, str) and _SURROGATE.search(value):
                _fail(
                    path, number, field, f"bytes that are not valid {enc} (garbled or truncated?)"
                )
            if isinstance(value, str) and "\x00" in value:
                _fail(path, number, field, "NUL bytes (is this a text file?)")
    return _Row(number, cells)


def _xlsx_rows(path: Path) -> Iterator[_Row]:
    """Rows of the first sheet, streamed (openpyxl read-only mode)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise InputError(f"{path.name}: not a readable XLSX workbook ({exc})") from exc
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if not header or not any(c not in (None, "") for c in header):
            raise InputError(f"{path.name}: empty sheet (no header row)")
        mapping = _header_map(path, list(header))
        number = 1
        for values in rows:
            number += 1
            if not any(v not in (None, "") for v in values):
                continue
            padded = list(values) + [None] * (len(header) - len(values))
            yield _row(path, number, padded, len(header), mapping, "xlsx")
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"{path.name}: XLSX workbook is damaged ({exc})") from exc
    finally:
        wb.close()


# --- validating ------------------------------------------------------------------------


def _fail(path: Path, number: int, field: str, what: str) -> None:
    """Raise the one-line error naming file, row and column."""
    raise InputError(f"{path.name}: row {number}, column {COLUMNS[field][0]}: {what}")


def _text(value: Any) -> str:
    """A cell as stripped text (numbers from XLSX become their digits)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _record(path: Path, row: _Row, checked: bool = False) -> dict[str, Any]:
    """Validate one row and return the column values of a Registration (`checked`: the
    validation pass already accepted the file, only convert)."""
    get = row.cells.get
    rec: dict[str, Any] = {f: _text(get(f)) for f in ("name", "legal_rep", "status", "address")}
    rec["scope"] = str(get("scope") or "").strip()
    if not rec["name"]:
        _fail(path, row.number, "name", "is empty")
    for field, limit in MAX_CHARS.items():
        if len(rec[field]) > limit:
            _fail(path, row.number, field, f"{len(rec[field])} characters, at most {limit}")
    code = _text(get("uscc"))
    rec["uscc"] = _compact_uscc(code) if checked else _uscc(path, row.number, code)
    rec["founded"] = _date(path, row.number, get("founded"))
    return rec


def _compact_uscc(raw: str) -> str:
    """An already validated code in its compact form (spaces and dashes out, upper case)."""
    return uscc.compact(raw)


def _uscc(path: Path, number: int, raw: str) -> str:
    """The compact USCC, validated by `pipelines.uscc` (the one GB 32100 check of greywatch)."""
    code = uscc.compact(raw)
    why = uscc.problem(code)
    if not why:
        return code
    if not raw:
        _fail(path, number, "uscc", "is empty")
    shown = raw if len(raw) <= 24 else raw[:24] + "…"
    if why.startswith("bad check"):
        what = "has a bad check character"
    elif why.startswith("bad length"):
        what = f"has {len(code)} characters, expected {uscc.LENGTH}"
    else:
        what = f"is not a valid USCC ({why})"
    _fail(path, number, "uscc", f"'{shown}' {what}")
    raise AssertionError("unreachable")


def _date(path: Path, number: int, value: Any) -> date | None:
    """成立日期 as a date: XLSX dates, 2019-03-12, 2019/3/12, 2019年3月12日, 20190312."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    m = _DATE.match(text) or _DATE8.match(text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    _fail(path, number, "founded", f"'{text[:30]}' is not a date (expected YYYY-MM-DD)")
    raise AssertionError("unreachable")
