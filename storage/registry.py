"""Import enterprise-registration exports (CSV or XLSX) into the `registrations` table.

Analysts get these files from the national enterprise credit information system or data
vendors; header names, encodings (UTF-8 with or without BOM, GBK/GB18030) and date styles
vary. An import is all-or-nothing: one streaming pass checks every row and prepares it (the
matching columns derived once) into a spool file on disk, so a million rows fit in bounded
memory; only a file found good is then written, in one transaction, upserting by
统一社会信用代码 so a re-import updates rather than duplicates. The write is bulk: COPY into
a staging table and one INSERT … SELECT on PostgreSQL, one prepared executemany on SQLite.
"""

from __future__ import annotations

import codecs
import csv
import multiprocessing
import os
import pickle
import re
import tempfile
import unicodedata
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from pipelines import uscc
from pipelines.errors import InputError, StorageError
from pipelines.names import find_region, normalize_name, split_name, vocab
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

# Rows per spooled batch (one pickle, one executemany, one COPY chunk): large enough to
# amortize per-call costs, small enough that a batch is a few megabytes at most.
BATCH_ROWS = 5000

# Files below this size are prepared in-process: starting worker processes would cost more
# than they save (about 40,000 rows of a typical export).
PARALLEL_MIN_BYTES = 8 << 20
# Batches handed to each worker ahead of the one being spooled: keeps workers busy while
# holding only a few batches in memory.
AHEAD_PER_WORKER = 2

# Registration columns an import writes, in spool-tuple order (`id` is the database's).
_COLUMNS = (
    "uscc", "name", "name_norm", "brand_core", "region", "legal_rep", "status", "founded",
    "address", "scope", "source_file", "source_row", "imported_at",
)  # fmt: skip

# PostgreSQL: the per-session temporary table COPY fills before the one merge statement.
_STAGING = "greywatch_registry_import"
# Characters psycopg2 asks the COPY source for per read.
COPY_CHUNK = 1 << 20

# SQLite page cache during an import (PRAGMA cache_size, negative = KiB): 128 MiB keeps the
# hot index pages of a million-row table in memory and the import well under 1 GB in all.
SQLITE_IMPORT_CACHE_KIB = -131_072

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
    target: Session | Engine,
    path: str | Path,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImportResult:
    """Validate the whole file, then upsert every row by USCC in one transaction.

    Raises InputError naming file, row and column on the first bad row; nothing is written.
    One pass reads, checks and prepares each row into a spool file on disk; the database is
    touched only once the whole file is known to be good (bulk COPY / executemany).
    `workers`: processes deriving the matching columns (None: one per CPU for big files).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with tempfile.TemporaryFile(prefix="greywatch-registry-") as spool:
        count = _prepare(path, spool, progress, _worker_count(path, workers))
        spool.seek(0)
        if isinstance(target, Session):
            return _write(target.connection(), spool, count, progress)
        from storage.db import session_scope

        with session_scope(target) as session:
            return _write(session.connection(), spool, count, progress)


def _worker_count(path: Path, workers: int | None) -> int:
    """Worker processes for `path`: as asked, else one per CPU when the file is big enough
    to repay starting them (and there is more than one CPU)."""
    if workers is not None:
        return max(workers, 0)
    cpus = os.cpu_count() or 1
    return cpus if cpus > 1 and path.stat().st_size >= PARALLEL_MIN_BYTES else 0


def _prepare(path: Path, spool: BinaryIO, progress: Progress | None, workers: int) -> int:
    """Read every row once: check it, derive its matching columns (in `workers` processes,
    batches kept in file order), and pickle batches of ready rows (tuples in `_COLUMNS`
    order) to `spool`; returns the number of data rows."""
    source = str(path)[:1024]
    now = datetime.now(UTC)
    pending: deque[tuple[list[tuple[int, dict[str, Any]]], Future[list[Derived]]]] = deque()

    def spool_oldest() -> None:
        batch, derived = pending.popleft()
        rows = [
            _row_tuple(rec, d, source, n, now)
            for (n, rec), d in zip(batch, derived.result(), strict=True)
        ]
        pickle.dump(rows, spool, pickle.HIGHEST_PROTOCOL)

    count = 0
    pool = _pool(workers)
    try:
        for batch in _checked_batches(path, progress):
            pairs = [(rec["name"], rec["address"]) for _, rec in batch]
            pending.append((batch, pool.submit(derive_columns, pairs)))
            count += len(batch)
            while len(pending) > max(workers, 1) * AHEAD_PER_WORKER:
                spool_oldest()
        while pending:
            spool_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if progress:
        progress("validate", count, count)
    return count


def _pool(workers: int) -> Executor:
    """Worker processes (forked after the name vocabularies are loaded, so each starts warm),
    or an executor running each batch at once in this process."""
    if workers <= 0:
        return _InProcess()
    vocab()
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


class _InProcess(Executor):
    """An Executor that runs the call when submitted: the single-process path."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def _checked_batches(
    path: Path, progress: Progress | None
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Batches of (row number, validated record); raises InputError on the first bad row."""
    seen: dict[str, int] = {}  # USCC → first row: a duplicate would make the upsert ambiguous
    batch: list[tuple[int, dict[str, Any]]] = []
    count = 0
    for row in _read_rows(path):
        rec = _record(path, row)
        first = seen.setdefault(rec["uscc"], row.number)
        if first != row.number:
            _fail(path, row.number, "uscc", f"'{rec['uscc']}' duplicates row {first}")
        batch.append((row.number, rec))
        count += 1
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
            if progress:
                progress("validate", count, None)
    if count == 0:
        raise InputError(f"{path.name}: no data rows below the header")
    if batch:
        yield batch


Derived = tuple[str, str, str]  # name_norm, brand_core, region


def derive_columns(pairs: list[tuple[str, str]]) -> list[Derived]:
    """The matching columns of (name, address) pairs: normalized name, brand core, region
    (from the name, else from the address). Top-level so worker processes can run it."""
    out: list[Derived] = []
    for name, address in pairs:
        parts = split_name(name)
        region = parts.region or find_region(address)
        out.append((normalize_name(name), parts.brand_core[:100], region))
    # Registered names are all different: the splitter's memo only grows (a quarter of a
    # million entries each) without ever hitting, so it is emptied after every batch.
    for memoized in (split_name, normalize_name):
        if clear := getattr(memoized, "cache_clear", None):
            clear()
    return out


def _row_tuple(
    rec: dict[str, Any], derived: Derived, source: str, number: int, now: datetime
) -> tuple[Any, ...]:
    """One validated record and its derived columns as a registrations row (`_COLUMNS`)."""
    return (
        rec["uscc"],
        rec["name"],
        *derived,
        rec["legal_rep"],
        rec["status"],
        rec["founded"],
        rec["address"],
        rec["scope"],
        source,
        number,
        now,
    )


def _batches(spool: BinaryIO) -> Iterator[list[tuple[Any, ...]]]:
    """The pickled batches `_prepare` wrote, in file order."""
    while True:
        try:
            yield pickle.load(spool)
        except EOFError:
            return


def _write(
    conn: Connection, spool: BinaryIO, total: int, progress: Progress | None
) -> ImportResult:
    """Second step: upsert the spooled rows on the caller's connection (one transaction)."""
    name = conn.dialect.name
    if name == "postgresql":
        inserted = _write_postgresql(conn, spool, total, progress)
    elif name == "sqlite":
        inserted = _write_sqlite(conn, spool, total, progress)
    else:
        raise StorageError(f"registry import supports SQLite and PostgreSQL, not {name}")
    if progress:
        progress("write", total, total)
    return ImportResult(rows=total, inserted=inserted, updated=total - inserted)


def _count(conn: Connection) -> int:
    return conn.scalar(select(func.count()).select_from(Registration)) or 0


def _write_sqlite(conn: Connection, spool: BinaryIO, total: int, progress: Progress | None) -> int:
    """executemany of one prepared upsert over the spooled batches; returns rows inserted.

    Every row either inserts or updates (the file has no repeated USCC), and the transaction
    holds SQLite's write lock, so the row count before and after gives the inserted ones.
    """
    cols = ", ".join(_COLUMNS)
    sets = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "uscc")
    sql = (
        f"INSERT INTO registrations ({cols}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
        f"ON CONFLICT (uscc) DO UPDATE SET {sets}"
    )
    before = _count(conn)
    saved = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    # A bigger page cache for this transaction only: index pages stay in memory instead of
    # spilling to the WAL mid-import. Restored on the pooled connection afterwards.
    conn.exec_driver_sql(f"PRAGMA cache_size = {SQLITE_IMPORT_CACHE_KIB}")
    try:
        done = 0
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for batch in _batches(spool):
                cursor.executemany(sql, batch)
                done += len(batch)
                if progress:
                    progress("write", done, total)
        finally:
            cursor.close()
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(saved)}")
    return _count(conn) - before


def _write_postgresql(
    conn: Connection, spool: BinaryIO, total: int, progress: Progress | None
) -> int:
    """COPY the spooled rows into a temporary staging table, then one INSERT … SELECT … ON
    CONFLICT into registrations (in file order, so new ids follow the rows); returns rows
    inserted (staged codes not yet registered, counted before the merge)."""
    cols = ", ".join(_COLUMNS)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "uscc")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_STAGING}")
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE {_STAGING} ON COMMIT DROP AS "
        f"SELECT {cols} FROM registrations WITH NO DATA"
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            f"COPY {_STAGING} ({cols}) FROM STDIN", _CopyText(spool, progress, total), COPY_CHUNK
        )
    finally:
        cursor.close()
    if progress:
        progress("merge", 0, None)
    conn.exec_driver_sql(f"ANALYZE {_STAGING}")
    existing = conn.exec_driver_sql(
        f"SELECT count(*) FROM {_STAGING} s JOIN registrations r ON r.uscc = s.uscc"
    ).scalar()
    conn.exec_driver_sql(
        f"INSERT INTO registrations ({cols}) SELECT {cols} FROM {_STAGING} ORDER BY source_row "
        f"ON CONFLICT (uscc) DO UPDATE SET {sets}"
    )
    conn.exec_driver_sql(f"DROP TABLE {_STAGING}")
    return total - int(existing or 0)


# COPY text format: backslash escapes for the characters that delimit fields and rows.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    return value.isoformat() if isinstance(value, date) else str(value)


class _CopyText:
    """A read()-able view of the spool as COPY text (psycopg2 pulls from it), one batch
    rendered at a time, reporting progress as batches go out."""

    def __init__(self, spool: BinaryIO, progress: Progress | None, total: int) -> None:
        self._batches = _batches(spool)
        self._progress = progress
        self._total = total
        self._done = 0
        self._text = ""
        self._pos = 0

    def read(self, size: int = -1) -> str:
        """The next at most `size` characters ("" at the end); -1 reads the next batch."""
        if self._pos >= len(self._text):
            batch = next(self._batches, None)
            if batch is None:
                return ""
            self._text = "".join(["\t".join([_copy_field(v) for v in r]) + "\n" for r in batch])
            self._pos = 0
            self._done += len(batch)
            if self._progress:
                self._progress("write", self._done, self._total)
        end = len(self._text) if size < 0 else self._pos + size
        out = self._text[self._pos : end]
        self._pos = end
        return out

    def readline(self, size: int = -1) -> str:
        """copy_expert only calls read(); here for file-like completeness."""
        return self.read(size)


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
    if isinstance(value, str):
        return " ".join(value.split())
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _record(path: Path, row: _Row) -> dict[str, Any]:
    """Validate one row and return the column values of a Registration."""
    get = row.cells.get
    rec: dict[str, Any] = {f: _text(get(f)) for f in ("name", "legal_rep", "status", "address")}
    rec["scope"] = str(get("scope") or "").strip()
    if not rec["name"]:
        _fail(path, row.number, "name", "is empty")
    for field, limit in MAX_CHARS.items():
        if len(rec[field]) > limit:
            _fail(path, row.number, field, f"{len(rec[field])} characters, at most {limit}")
    code = _text(get("uscc"))
    rec["uscc"] = _uscc(path, row.number, code)
    rec["founded"] = _date(path, row.number, get("founded"))
    return rec


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
