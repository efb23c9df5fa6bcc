"""Registry import: encodings, XLSX, header variants, all-or-nothing errors, upsert by USCC."""

from __future__ import annotations

import csv
import shutil
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from greywatch.errors import InputError
from storage.models import Registration
from storage.registry import import_registry

DATA = Path(__file__).parent / "data" / "registry"
SAMPLE = Path(__file__).parents[1] / "storage" / "data" / "sample_registry.csv"
HEADER = ["企业名称", "统一社会信用代码", "法定代表人", "登记状态", "成立日期", "住所", "经营范围"]


def _sample_rows() -> list[list[str]]:
    with SAMPLE.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))[1:]


def _count(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(Registration)) or 0


def _by_name(engine: Engine, name: str) -> Registration:
    with Session(engine) as s:
        reg = s.scalars(select(Registration).where(Registration.name == name)).one()
        s.expunge(reg)
        return reg


def test_sample_registry_imports_and_reimport_updates(engine: Engine) -> None:
    first = import_registry(engine, SAMPLE)
    assert (first.rows, first.inserted, first.updated) == (45, 45, 0)
    again = import_registry(engine, SAMPLE)
    assert (again.rows, again.inserted, again.updated) == (45, 0, 45)
    assert _count(engine) == 45
    reg = _by_name(engine, "金盾(上海)信用管理有限公司")
    assert (reg.brand_core, reg.region, reg.status) == ("金盾", "上海", "存续")
    assert reg.name_norm == "金盾(上海)信用管理有限公司"
    assert reg.founded == date(2017, 9, 6)
    assert reg.source_row == 6 and reg.source_file.endswith("sample_registry.csv")
    assert "不含征信业务" in reg.scope


def test_reimport_updates_changed_rows(engine: Engine, tmp_path: Path) -> None:
    import_registry(engine, SAMPLE)
    rows = _sample_rows()[:3]
    rows[0][3] = "注销"
    rows[1][5] = "深圳市南山区新地址1号"
    changed = tmp_path / "update.csv"
    with changed.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    result = import_registry(engine, changed)
    assert (result.inserted, result.updated) == (0, 3)
    assert _count(engine) == 45
    assert _by_name(engine, rows[0][0]).status == "注销"
    assert _by_name(engine, rows[1][0]).address == "深圳市南山区新地址1号"


def test_gbk_file_with_provider_headers(engine: Engine) -> None:
    result = import_registry(engine, DATA / "good_gbk.csv")
    assert (result.rows, result.inserted) == (5, 5)
    assert _by_name(engine, "深圳市鑫诚信息咨询有限公司").founded == date(2019, 3, 12)
    assert _by_name(engine, "深圳市鑫城企业管理咨询有限公司").founded == date(2018, 7, 25)
    assert _by_name(engine, "广州市安信商务服务有限公司").founded == date(2016, 11, 2)
    assert _by_name(engine, "金盾(北京)信用管理有限公司").founded is None
    assert _by_name(engine, "广州市安信商务服务有限公司").legal_rep == "黄建华"


def test_xlsx_import_streams_the_first_sheet(engine: Engine, tmp_path: Path) -> None:
    rows = _sample_rows()[:4]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(
        ["名称", "统一社会信用代码", "负责人", "企业状态", "注册日期", "经营场所", "经营范围"]
    )
    for name, code, rep, status, founded, address, scope in rows:
        when = datetime.strptime(founded, "%Y-%m-%d")
        ws.append([name, code, rep, status, when, address, scope])
    ws.append([None] * 7)  # trailing empty row, as Excel leaves them
    path = tmp_path / "导出.xlsx"
    wb.save(path)
    result = import_registry(engine, path)
    assert (result.rows, result.inserted, result.updated) == (4, 4, 0)
    reg = _by_name(engine, "广州市安信商务服务有限公司")
    assert (reg.status, reg.founded, reg.region) == ("注销", date(2016, 11, 2), "广州")


def test_xlsx_bad_cell_names_row_and_column(engine: Engine, tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["深圳市鑫诚信息咨询有限公司", "91440300UX0AEH7Y1", "陈志强", "存续", "", "", "x"])
    path = tmp_path / "short.xlsx"
    wb.save(path)
    with pytest.raises(InputError) as err:
        import_registry(engine, path)
    assert str(err.value) == (
        "short.xlsx: row 2, column 统一社会信用代码: '91440300UX0AEH7Y1' has 17 characters, "
        "expected 18"
    )
    assert _count(engine) == 0


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        (
            "missing_column.csv",
            "missing_column.csv: missing column 统一社会信用代码 (also accepted: 信用代码, "
            "统一信用代码, 社会信用代码); header has: 企业名称, 法定代表人, 登记状态, 成立日期, "
            "住所, 经营范围",
        ),
        (
            "bad_uscc.csv",
            "bad_uscc.csv: row 3, column 统一社会信用代码: '91440300GC5MFQ39Y0' has a bad check "
            "character",
        ),
        (
            "bad_date.csv",
            "bad_date.csv: row 4, column 成立日期: '2019-13-45' is not a date "
            "(expected YYYY-MM-DD)",
        ),
        (
            "garbage.csv",
            "garbage.csv: row 3, column 住所: bytes that are not valid utf-8 "
            "(garbled or truncated?)",
        ),
        ("truncated.csv", "truncated.csv: row 6: 2 of 7 columns (truncated row?)"),
        ("empty.csv", "empty.csv: empty file (no header row)"),
        ("header_only.csv", "header_only.csv: no data rows below the header"),
        (
            "duplicate_uscc.csv",
            "duplicate_uscc.csv: row 6, column 统一社会信用代码: '91440300UX0AEH7Y1P' duplicates "
            "row 2",
        ),
        ("broken.xlsx", "broken.xlsx: not a readable XLSX workbook (File is not a zip file)"),
    ],
)
def test_broken_files_import_nothing(engine: Engine, fixture: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        import_registry(engine, DATA / fixture)
    assert str(err.value) == message
    assert _count(engine) == 0


def test_bad_row_late_in_file_leaves_earlier_import_untouched(
    engine: Engine, tmp_path: Path
) -> None:
    import_registry(engine, SAMPLE)
    rows = _sample_rows()
    rows[0][3] = "注销"  # would change row 2 …
    rows[-1][1] = rows[-1][1][:-1] + ("0" if rows[-1][1][-1] != "0" else "1")  # … but row 46 is bad
    path = tmp_path / "registry.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    with pytest.raises(InputError, match=r"registry\.csv: row 46, column 统一社会信用代码"):
        import_registry(engine, path)
    assert _by_name(engine, rows[0][0]).status.startswith("存续")


def test_import_inside_a_caller_session(engine: Engine, tmp_path: Path) -> None:
    copy = tmp_path / "copy.csv"
    shutil.copyfile(SAMPLE, copy)
    with Session(engine) as session:
        result = import_registry(session, copy)
        session.rollback()  # the caller owns the transaction
    assert result.inserted == 45
    assert _count(engine) == 0


def test_progress_reports_both_passes(sqlite_engine: Engine) -> None:
    seen: list[tuple[str, int, int | None]] = []
    import_registry(sqlite_engine, SAMPLE, progress=lambda *a: seen.append(a))
    assert ("validate", 45, 45) in seen
    assert seen[-1] == ("write", 45, 45)


def test_missing_file(sqlite_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        import_registry(sqlite_engine, tmp_path / "nope.csv")
