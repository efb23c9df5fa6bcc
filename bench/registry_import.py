"""Benchmark the registry import: rows/s into SQLite and PostgreSQL, against the old path.

    .venv/bin/python bench/registry_import.py                     # 1,000,000-row CSV
    .venv/bin/python bench/registry_import.py --rows 200000 --baseline-rows 20000 --no-pg

The export is generated from a fixed seed by `bench/match.py`'s generator (名称 styles of real
exports, valid USCCs, dates, addresses, scopes; UTF-8 with BOM). Each import runs in a forked
child on a new database, so its peak RSS (VmHWM) is its own; worker processes report their
own peak. The baseline is the import as it was before issue #13 (validate pass, then a second
read that derives and upserts row batches through SQLAlchemy) — `import_per_row` below, kept
only here and in tests/test_registry_bulk.py's comparison. It is slow, so it runs on the
first `--baseline-rows` rows, and the new path runs on that same file too: the ratio is
between the two on the same rows, in the same run.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlalchemy.orm import Session

from bench.child import run_in_child
from storage.models import Registration

PG_ADMIN = os.environ.get(
    "GREYWATCH_TEST_PG_URL", "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres"
)
PG_BENCH_DB = "greywatch_bench_registry"
OLD_BATCH_ROWS = 2000


# --- the old path (before issue #13), the baseline ----------------------------------------


def import_per_row(target: Session | Engine, path: Path) -> tuple[int, int, int]:
    """The import as it was: validate every row, then read again, derive and upsert in
    batches of 2,000 (a SELECT of the existing codes per batch). Returns (rows, new, old)."""
    from storage import registry as reg

    seen: dict[str, int] = {}
    total = 0
    for row in reg._read_rows(path):
        rec = reg._record(path, row)
        first = seen.setdefault(rec["uscc"], row.number)
        if first != row.number:
            reg._fail(path, row.number, "uscc", f"'{rec['uscc']}' duplicates row {first}")
        total += 1
    if total == 0:
        raise reg.InputError(f"{path.name}: no data rows below the header")
    if isinstance(target, Session):
        return _old_write(target.connection(), path)
    from storage.db import session_scope

    with session_scope(target) as session:
        return _old_write(session.connection(), path)


def _old_write(conn: Connection, path: Path) -> tuple[int, int, int]:
    from pipelines.names import find_region, normalize_name, split_name
    from storage import registry as reg

    write = _old_upsert(conn)
    now = datetime.now(UTC)
    inserted = updated = done = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal inserted, updated, done
        codes = [r["uscc"] for r in batch]
        where = Registration.uscc.in_(codes)
        existing = set(conn.scalars(select(Registration.uscc).where(where)))
        write(batch)
        inserted += len(batch) - len(existing)
        updated += len(existing)
        done += len(batch)
        batch.clear()

    for row in reg._read_rows(path):
        rec = reg._record(path, row)
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
        if len(batch) >= OLD_BATCH_ROWS:
            flush()
    if batch:
        flush()
    return done, inserted, updated


def _old_upsert(conn: Connection) -> Callable[[list[dict[str, Any]]], None]:
    """The old batch writer: SQLAlchemy executemany on PostgreSQL, the compiled statement
    through the driver's executemany on SQLite."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Registration.__table__
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["uscc"],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in ("id", "uscc")},
    )
    if conn.dialect.name != "sqlite":
        return lambda batch: conn.execute(stmt, batch) and None
    columns = [c.name for c in table.c if c.name != "id"]
    compiled = stmt.compile(dialect=conn.dialect, column_keys=columns)
    order = list(compiled.positiontup or ())
    sql = str(compiled)

    def write(batch: list[dict[str, Any]]) -> None:
        conn.exec_driver_sql(sql, [tuple(r[k] for k in order) for r in batch])

    return write


# --- running -----------------------------------------------------------------------------


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _database(kind: str, where: Path) -> str:
    """A new, migrated database of `kind`; returns its URL."""
    from storage.db import migrate

    if kind == "sqlite":
        path = where / "bench.db"
        for p in where.glob("bench.db*"):
            p.unlink()
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{PG_BENCH_DB}"'))
        admin.dispose()
        url = str(create_engine(PG_ADMIN).url.set(database=PG_BENCH_DB).render_as_string(False))
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def _child(kind: str, where: str, path: str, old: bool, workers: int | None, q: Any) -> None:
    from storage.db import get_engine
    from storage.registry import import_registry

    engine = get_engine(_database(kind, Path(where)))
    t0, c0 = time.perf_counter(), time.process_time()
    if old:
        rows, inserted, _ = import_per_row(engine, Path(path))
    else:
        result = import_registry(engine, path, workers=workers)
        rows, inserted = result.rows, result.inserted
    wall = time.perf_counter() - t0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = time.process_time() - c0 + kids.ru_utime + kids.ru_stime
    q.put({"rows": rows, "inserted": inserted, "s": wall, "cpu": cpu, "peak_mb": _peak_mb(),
           "worker_peak_mb": kids.ru_maxrss / 1024})  # fmt: skip


def _run(*args: Any) -> dict[str, Any]:
    return run_in_child(_child, *args)


def _line(label: str, m: dict[str, Any], base: dict[str, Any] | None = None) -> str:
    rate = m["rows"] / m["s"]
    ratio = f"  {rate / (base['rows'] / base['s']):5.1f}× the old path" if base else ""
    return (
        f"  {label:<34} {m['rows']:>9,} rows {m['s']:7.1f}s = {rate:>8,.0f} rows/s wall, "
        f"{m['rows'] / m['cpu']:>7,.0f}/s per CPU-second, peak RSS {m['peak_mb']:,.0f} MB"
        f" (workers {m['worker_peak_mb']:,.0f} MB){ratio}"
    )


def _prefix(source: Path, target: Path, rows: int) -> None:
    with (
        source.open(encoding="utf-8-sig", newline="") as fh,
        target.open("w", encoding="utf-8-sig", newline="") as out,
    ):
        w = csv.writer(out)
        for n, row in enumerate(csv.reader(fh)):
            if n > rows:
                break
            w.writerow(row)


def _xlsx(source: Path, target: Path, rows: int) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    with source.open(encoding="utf-8-sig", newline="") as fh:
        for n, row in enumerate(csv.reader(fh)):
            if n > rows:
                break
            ws.append(row)
    wb.save(target)


def main() -> None:
    from bench.match import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=50_000)
    ap.add_argument("--xlsx-rows", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=None, help="import workers (default: auto)")
    ap.add_argument("--no-pg", action="store_true", help="SQLite only")
    ap.add_argument("--pg-only", action="store_true", help="PostgreSQL only")
    ap.add_argument("--dir", type=Path, default=None, help="keep files here (default: temp)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gw-bench-import-") as tmp:
        where = args.dir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        full, base, xlsx = where / "registry.csv", where / "baseline.csv", where / "registry.xlsx"
        t0 = time.perf_counter()
        if not full.exists() or sum(1 for _ in full.open("rb")) != args.rows + 1:
            generate(full, args.rows, 3000)
        _prefix(full, base, args.baseline_rows)
        _xlsx(full, xlsx, args.xlsx_rows)
        print(f"generated {args.rows:,} rows ({full.stat().st_size / 1e6:,.0f} MB CSV), a "
              f"{args.baseline_rows:,}-row baseline CSV and a {args.xlsx_rows:,}-row XLSX "
              f"in {time.perf_counter() - t0:.0f}s; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        kinds = ("sqlite",) if args.no_pg else ("postgresql",) if args.pg_only else None
        for kind in kinds or ("sqlite", "postgresql"):
            print(f"{kind}:")
            old = _run(kind, str(where), str(base), True, None)
            print(_line(f"old path, {base.name}", old))
            same = _run(kind, str(where), str(base), False, args.workers)
            print(_line(f"new path, {base.name}", same, old))
            one = _run(kind, str(where), str(base), False, 0)
            print(_line(f"new path, {base.name}, no workers", one, old))
            new = _run(kind, str(where), str(full), False, args.workers)
            print(_line(f"new path, {full.name}", new, old))
            x = _run(kind, str(where), str(xlsx), False, args.workers)
            print(_line(f"new path, {xlsx.name}", x))
        print(f"load average at the end {os.getloadavg()[0]:.1f} (machine shared: compare ratios)")


if __name__ == "__main__":
    main()
