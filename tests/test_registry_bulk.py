"""The bulk registry import writes exactly the rows the old per-row import wrote.

The old path (validate, then derive and upsert 2,000-row batches through SQLAlchemy) lives on
only as the benchmark's baseline, `bench.registry_import.import_per_row`; here both import
the same generated exports — odd encodings and delimiters, blank lines and cells, spaced and
Traditional names, names sharing one spelling, scopes with tabs, newlines and backslashes,
every date style — into a fresh database, and every column of every row must agree, on
SQLite and PostgreSQL, with and without worker processes.
"""

from __future__ import annotations

import csv
import random
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bench.registry_import import import_per_row
from greywatch.errors import InputError
from pipelines import uscc
from storage.models import Registration
from storage.registry import import_registry

HEADER = ["企业名称", "统一社会信用代码", "法定代表人", "登记状态", "成立日期", "住所", "经营范围"]
# Header variants providers use, one per generated file.
PROVIDER_HEADER = ["公司名称", "信用代码", "法人", "经营状态", "注册日期", "注册地址", "业务范围"]
CITIES = ("深圳", "广州", "上海", "北京", "杭州", "吉林", "中山", "东莞", "成都", "武汉")
BRANDS = ("鑫诚", "鑫城", "金盾", "恒通", "安信", "正信", "华信永道", "博道", "飞兴", "誠信")
INDUSTRIES = ("信息咨询", "商务服务", "信用管理", "财税咨询", "法律咨询", "网络科技", "")
FORMS = ("有限公司", "有限责任公司", "股份有限公司", "服务部", "工作室", "中心")
SCOPES = (
    "信息咨询服务（不含许可类信息咨询服务）；企业管理咨询",
    "一般项目：信用管理服务\t(不含征信业务)",
    "财税咨询；代理记账\n税务服务",
    "网络技术开发 C:\\软件\\开发；计算机系统服务",
    '法律咨询（不含律师事务所业务）"引号"，逗号',
)
STATUSES = ("存续（在营、开业、在册）", "存续", "注销", "吊销，未注销", "迁出")


def _code(serial: int) -> str:
    body, n = "", serial
    for _ in range(9):
        body = uscc.ALPHABET[n % 31] + body
        n //= 31
    code = f"91440300{body}"
    return code + uscc.check_char(code)


def _name(rng: random.Random) -> str:
    city, brand = rng.choice(CITIES), rng.choice(BRANDS)
    industry, form = rng.choice(INDUSTRIES), rng.choice(FORMS)
    style = rng.random()
    if style < 0.4:
        return f"{city}市{brand}{industry}{form}"
    if style < 0.55:
        return f"{brand}（{city}）{industry}{form}"
    if style < 0.65:
        return f" {city} {brand}{industry} {form} "  # spaced, padded
    if style < 0.75:
        return f"{brand}{industry}{form}"  # region only in the address
    if style < 0.85:
        return f"廣東省{city}市{brand}諮詢服務{form}"  # Traditional
    return f"{city}{brand}{industry}{form}"


def _founded(rng: random.Random) -> str:
    y, m, d = rng.randrange(1995, 2025), rng.randrange(1, 13), rng.randrange(1, 29)
    return rng.choice(
        (f"{y}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y}年{m}月{d}日", f"{y}{m:02d}{d:02d}",
         f"{y}-{m:02d}-{d:02d} 00:00:00", "", "")
    )  # fmt: skip


def _rows(n: int, seed: int, first_serial: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        city = rng.choice(CITIES)
        code = _code(first_serial + k)
        out.append(
            [
                _name(rng),
                rng.choice((code, code, code.lower(), f"{code[:8]} {code[8:]}")),
                rng.choice(("陈志强", "", "林 晓梅", "黄建华")),
                rng.choice(STATUSES),
                _founded(rng),
                rng.choice((f"{city}市福田区福华三路{k}号", f"广东省{city}市某区", "", "某街道")),
                rng.choice(SCOPES),
            ]
        )
    return out


def _write(path: Path, rows: list[list[str]], encoding: str, delimiter: str, header: list[str]):
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(header)
        for k, row in enumerate(rows):
            if k % 97 == 0:
                fh.write("\r\n" if k % 2 else delimiter * 6 + "\n")  # blank lines, as exports have
            w.writerow(row)
    return path


def _exports(tmp: Path) -> list[Path]:
    """A first export, then an update: half its rows changed, a third new, in GBK with tabs."""
    first = _rows(1500, seed=1)
    update = [r[:] for r in first[::2]]
    for r in update:
        r[3] = "注销"
        r[5] = r[5] + "（新址）"
    update += _rows(700, seed=2, first_serial=5000)
    random.Random(3).shuffle(update)
    gbk = [r for r in update if _encodable(r, "gb18030")]
    return [
        _write(tmp / "first.csv", first, "utf-8-sig", ",", HEADER),
        _write(tmp / "update.tsv", gbk, "gb18030", "\t", PROVIDER_HEADER),
    ]


def _encodable(row: list[str], encoding: str) -> bool:
    try:
        "".join(row).encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _reset(engine: Engine) -> None:
    """Empty registrations and restart its ids, so both paths number rows from 1."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE registrations RESTART IDENTITY CASCADE"))
        else:
            conn.execute(text("DELETE FROM registrations"))


def _table(engine: Engine) -> list[tuple[Any, ...]]:
    """Every column of every row but imported_at (the clock), in id order."""
    cols = [c for c in Registration.__table__.c if c.name != "imported_at"]
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(*cols).order_by(Registration.id))]


def _old(engine: Engine, path: Path) -> tuple[int, int, int]:
    return import_per_row(engine, path)


def _new(workers: int) -> Any:
    def run(engine: Engine, path: Path) -> tuple[int, int, int]:
        r = import_registry(engine, path, workers=workers)
        return r.rows, r.inserted, r.updated

    return run


def test_bulk_import_writes_the_rows_the_old_import_wrote(engine: Engine, tmp_path: Path) -> None:
    files = _exports(tmp_path)
    tables, counts = {}, {}
    for label, run in (("old", _old), ("new", _new(0)), ("new, 2 workers", _new(2))):
        _reset(engine)
        counts[label] = [run(engine, f) for f in files]
        tables[label] = _table(engine)
    assert counts["old"][0] == (1500, 1500, 0)
    assert counts["old"][1][2] > 500  # the update did update
    assert counts["new"] == counts["old"] == counts["new, 2 workers"]
    assert len(tables["old"]) == 1500 + counts["old"][1][1]
    for label in ("new", "new, 2 workers"):
        differ = [(o, n) for o, n in zip(tables["old"], tables[label], strict=True) if o != n]
        assert not differ, f"{label}: {len(differ)} rows differ, first: {differ[0]}"
    # the odd cells survived the trip (COPY escaping on PostgreSQL)
    names = [c.name for c in Registration.__table__.c if c.name != "imported_at"]
    scope, founded = names.index("scope"), names.index("founded")
    assert set(SCOPES) <= {row[scope] for row in tables["new"]}
    dates = [row[founded] for row in tables["new"]]
    assert None in dates and min(d for d in dates if d) >= date(1995, 1, 1)


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_row_at_the_end_of_a_big_file_writes_nothing(
    engine: Engine, tmp_path: Path, workers: int
) -> None:
    rows = _rows(12_000, seed=4)
    rows[-1][4] = "2019-02-30"
    path = _write(tmp_path / "big.csv", rows, "utf-8", ",", HEADER)
    with pytest.raises(InputError) as err:
        import_registry(engine, path, workers=workers)
    assert str(err.value).startswith("big.csv: row ")
    assert str(err.value).endswith(
        ", column 成立日期: '2019-02-30' is not a date (expected YYYY-MM-DD)"
    )
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Registration)) == 0


def test_duplicate_code_far_apart_is_named_with_workers(engine: Engine, tmp_path: Path) -> None:
    rows = _rows(11_000, seed=5)
    rows[-1][1] = rows[3][1]
    path = _write(tmp_path / "dup.csv", rows, "utf-8", ",", HEADER)
    with pytest.raises(InputError, match=r"dup\.csv: row \d+, column 统一社会信用代码: '.*' "
                       r"duplicates row 6$"):  # fmt: skip
        import_registry(engine, path, workers=2)


def test_phases_reported_in_order(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path / "p.csv", _rows(12_000, seed=6), "utf-8", ",", HEADER)
    seen: list[tuple[str, int, int | None]] = []
    import_registry(engine, path, progress=lambda *a: seen.append(a), workers=0)
    phases = list(dict.fromkeys(p for p, _, _ in seen))
    expected = ["validate", "write", "merge"] if engine.dialect.name == "postgresql" else None
    assert phases == (expected or ["validate", "write"])
    assert seen[-1] == ("write", 12_000, 12_000)
    done = [d for p, d, _ in seen if p == "validate"]
    assert done == sorted(done) and done[-1] == 12_000


def test_cli_import_with_workers(sqlite_engine: Engine, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from greywatch.cli import app

    path = _write(tmp_path / "cli.csv", _rows(3000, seed=8), "utf-8", ",", HEADER)
    url = str(sqlite_engine.url)
    result = CliRunner().invoke(
        app, ["registry", "import", str(path), "--workers", "2", "--db", url]
    )
    assert result.exit_code == 0, result.output
    assert "imported cli.csv: 3000 rows (3000 inserted, 0 updated)" in result.output
    result = CliRunner().invoke(
        app, ["registry", "import", str(path), "--workers", "-1", "--db", url]
    )
    assert result.exit_code == 2  # a negative worker count is refused by the option itself
