"""Review states of leads and businesses: transitions, notes, errors that name the culprit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.errors import InputError
from storage.models import Document, Entity, Finding
from storage.review import list_reviews, resolve_business, review_business, review_leads
from tests.case_world import (
    ANXIN,
    XINCHENG,
    XINCHENG_USCC,
    ZHENGXIN,
    build_world,
)

AD_URL = "http://forum.demo.test/t/101"


@pytest.fixture
def lite(sqlite_engine: Engine) -> Iterator[Session]:
    """A SQLite session, for table-driven tests whose subject is not the database."""
    with Session(sqlite_engine) as s:
        yield s


def finding_id(session: Session, doc_id: int) -> int:
    return session.scalars(select(Finding.id).where(Finding.document_id == doc_id)).one()


@pytest.mark.parametrize(
    "steps",
    [
        ["confirmed"],
        ["confirmed", "reported"],
        ["dismissed", "new"],
        ["confirmed", "dismissed", "confirmed"],
    ],
)
def test_lead_transitions_keep_status_note_and_time(lite: Session, steps: list[str]) -> None:
    world = build_world(lite)
    fid = finding_id(lite, world.doc_ids[AD_URL])
    previous = "new"
    for i, status in enumerate(steps):
        [item] = review_leads(lite, [fid], status, note=f"第{i + 1}次：已核实页面")
        assert (item.previous, item.status) == (previous, status)
        previous = status
    lite.commit()
    finding = lite.get(Finding, fid)
    assert finding is not None
    assert finding.review_status == steps[-1]
    assert finding.review_note == f"第{len(steps)}次：已核实页面"
    assert finding.reviewed_at is not None


def test_unknown_lead_ids_are_named_and_nothing_changes(session: Session) -> None:
    world = build_world(session)
    fid = finding_id(session, world.doc_ids[AD_URL])
    with pytest.raises(InputError, match="no lead with id 9998, 9999"):
        review_leads(session, [fid, 9998, 9999], "confirmed")
    assert session.get(Finding, fid).review_status == "new"


@pytest.mark.parametrize("status", ["approved", "Confirmed", ""])
def test_unknown_status_is_named(lite: Session, status: str) -> None:
    world = build_world(lite)
    fid = finding_id(lite, world.doc_ids[AD_URL])
    with pytest.raises(InputError, match=repr(status)) as err:
        review_leads(lite, [fid], status)
    assert "confirmed" in (err.value.hint or "")
    with pytest.raises(InputError, match=repr(status)):
        review_business(lite, XINCHENG, status)


@pytest.mark.parametrize("how", ["name", "uscc", "entity_id", "padded"])
def test_business_by_name_uscc_or_id_reaches_all_its_entities(session: Session, how: str) -> None:
    world = build_world(session)
    ref = {
        "name": XINCHENG,
        "uscc": XINCHENG_USCC.lower(),
        "entity_id": str(world.entity_ids[XINCHENG]),
        "padded": f" {XINCHENG}\t",
    }[how]
    items = review_business(session, ref, "confirmed", "广告宣传征信修复，超出经营范围")
    session.commit()
    # the advertised name and the USCC printed on the page are the same firm
    assert {(i.what, i.label) for i in items} == {
        ("business", XINCHENG),
        ("business", f"USCC {XINCHENG_USCC}"),
    }
    target = resolve_business(session, ref)
    assert target.name == XINCHENG and target.uscc == XINCHENG_USCC
    assert target.match is not None and target.match.verdict == "out_of_scope"
    for entity in target.entities:
        assert entity.review_status == "confirmed"
        assert entity.review_note == "广告宣传征信修复，超出经营范围"
    # a near-miss name is not touched
    other = session.scalars(select(Entity).where(Entity.key == ANXIN)).one()
    assert other.review_status == "new"


@pytest.mark.parametrize("ref", ["深圳市鑫城企业管理咨询有限公司", "91440300MA5FX0L120", "424242"])
def test_unknown_business_is_named(lite: Session, ref: str) -> None:
    build_world(lite)
    with pytest.raises(InputError, match=ref):
        review_business(lite, ref, "confirmed")


def test_list_reviews_defaults_to_reviewed_items(session: Session) -> None:
    world = build_world(session)
    fid = finding_id(session, world.doc_ids[AD_URL])
    review_leads(session, [fid], "reported", "已提交12315")
    review_business(session, ZHENGXIN, "dismissed", "经营范围包含法律咨询")
    reviewed = list_reviews(session)
    assert [(i.what, i.status) for i in reviewed] == [
        ("lead", "reported"),
        ("business", "dismissed"),
    ]
    assert reviewed[0].note == "已提交12315"
    assert [i.what for i in list_reviews(session, ["dismissed"])] == ["business"]
    new_leads = [i for i in list_reviews(session, ["new"]) if i.what == "lead"]
    assert len(new_leads) == 4  # promotions only; warnings are not leads
    with pytest.raises(InputError, match="'done'"):
        list_reviews(session, ["done"])


# --- CLI -----------------------------------------------------------------------------------


def test_cli_review_lead_business_and_list(sqlite_engine: Engine) -> None:
    from greywatch.cli import app

    with Session(sqlite_engine) as session:
        world = build_world(session)
        fid = finding_id(session, world.doc_ids[AD_URL])
    env = {"GREYWATCH_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False)}
    runner = CliRunner()
    lead = runner.invoke(
        app, ["review", "lead", str(fid), "--status", "confirmed", "--note", "电话已核实"], env=env
    )
    assert lead.exit_code == 0, lead.output
    assert f"lead {fid}: new → confirmed" in lead.output
    biz = runner.invoke(app, ["review", "business", XINCHENG_USCC, "-s", "reported"], env=env)
    assert biz.exit_code == 0, biz.output
    assert XINCHENG in biz.output
    listed = runner.invoke(app, ["review", "list", "--status", "confirmed"], env=env)
    assert listed.exit_code == 0
    assert "电话已核实" in listed.output and XINCHENG not in listed.output
    bad = runner.invoke(app, ["review", "lead", "424242", "--status", "confirmed"], env=env)
    assert isinstance(bad.exception, InputError) and "424242" in str(bad.exception)


# --- review import: decisions made in the exported sheet -----------------------------------

T202, T303 = "http://forum.demo.test/t/202", "http://forum.demo.test/t/303"


def _export_sheet(engine: Engine, path: Path) -> str:
    """The XLSX an analyst gets: every promotion, after confirming 鑫诚 as a firm."""
    from greywatch.cli import app

    url = engine.url.render_as_string(hide_password=False)
    with Session(engine) as session:
        build_world(session)
        review_business(session, XINCHENG, "confirmed", "超出经营范围")
        session.commit()
    args = ["leads", "export", "-o", str(path), "--min-score", "0.1", "--db", url]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return url


def _edit(path: Path, edits: dict[str, dict[str, Any]], drop: str = "") -> dict[str, int]:
    """Write `edits` (URL -> {header: value}) into the sheet; the row number of each URL."""
    from openpyxl import load_workbook

    book = load_workbook(path)
    sheet = book.active
    header = {cell.value: cell.column for cell in sheet[1]}
    rows = {sheet.cell(r, header["链接"]).value: r for r in range(2, sheet.max_row + 1)}
    for url, cells in edits.items():
        row = rows.get(url) or sheet.max_row + 1
        for name, value in cells.items():
            sheet.cell(row, header[name], value)
    if drop:
        sheet.cell(1, header[drop], "状态")
    book.save(path)
    return rows


def _states(engine: Engine) -> dict[str, tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Document.url, Finding.review_status, Finding.review_note).join(Finding)
        ).all()
    return {url: (status, note) for url, status, note in rows}


@pytest.mark.parametrize(
    ("edits", "changed"),
    [
        ({}, {}),  # the sheet as exported: nothing to import (a firm's state stays the firm's)
        (
            {
                T202: {"审核状态": "已排除", "审核备注": "企业已注销"},
                T303: {"审核状态": "confirmed"},
            },
            {T202: ("dismissed", "企业已注销"), T303: ("confirmed", "")},
        ),
        (
            {AD_URL: {"审核状态": "已举报", "审核备注": "超出经营范围"}},
            {AD_URL: ("reported", "超出经营范围")},
        ),
        ({AD_URL: {"审核备注": "电话已核实"}}, {AD_URL: ("confirmed", "电话已核实")}),
    ],
)
def test_review_import_applies_the_decisions(
    engine: Engine, tmp_path: Path, edits: dict[str, dict[str, Any]], changed: dict
) -> None:
    from greywatch.cli import app

    sheet = tmp_path / "leads.xlsx"
    url = _export_sheet(engine, sheet)
    before = _states(engine)
    _edit(sheet, edits)
    result = CliRunner().invoke(app, ["review", "import", str(sheet), "--db", url])
    assert result.exit_code == 0, result.output
    assert f"imported {len(changed)} decisions" in result.output
    assert _states(engine) == before | changed


@pytest.mark.parametrize(
    ("edits", "message"),
    [
        ({T202: {"审核状态": "确认了"}}, "row {T202}, 审核状态: unknown review state '确认了'"),
        ({T202: {"审核状态": ""}}, "row {T202}, 审核状态: unknown review state ''"),
        (
            {"new-row": {"线索ID": "abc", "审核状态": "已确认"}},
            "row {new}, 线索ID: 'abc' is not a lead id",
        ),
        (
            {"new-row": {"线索ID": 99999, "审核状态": "已确认"}},
            "row {new}, 线索ID: no lead with id 99999",
        ),
    ],
)
def test_review_import_checks_every_row_first(
    engine: Engine, tmp_path: Path, edits: dict[str, dict[str, Any]], message: str
) -> None:
    from greywatch.cli import app

    sheet = tmp_path / "leads.xlsx"
    url = _export_sheet(engine, sheet)
    before = _states(engine)
    # a good decision on another row: not imported either (all or nothing)
    rows = _edit(sheet, {T303: {"审核状态": "已确认"}, **edits})
    result = CliRunner().invoke(app, ["review", "import", str(sheet), "--db", url])
    assert isinstance(result.exception, InputError), result.output
    expected = message.format(T202=rows[T202], new=len(rows) + 2)
    assert expected in str(result.exception) and "\n" not in str(result.exception)
    assert "nothing was imported" in (result.exception.hint or "")
    assert _states(engine) == before


def test_review_import_names_a_lead_on_two_rows(sqlite_engine: Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from greywatch.cli import app

    sheet = tmp_path / "leads.xlsx"
    url = _export_sheet(sqlite_engine, sheet)
    rows = _edit(sheet, {T202: {"审核状态": "已确认"}})
    book = load_workbook(sheet)
    ws = book.active
    ws.append([c.value for c in ws[rows[T202]]])
    ws.cell(ws.max_row, [c.value for c in ws[1]].index("审核状态") + 1, "已排除")
    book.save(sheet)
    result = CliRunner().invoke(app, ["review", "import", str(sheet), "--db", url])
    assert isinstance(result.exception, InputError)
    assert f"row {ws.max_row}: lead" in str(result.exception)
    assert f"is also on row {rows[T202]}" in str(result.exception)


@pytest.mark.parametrize("case", ["csv", "missing", "no-column"])
def test_review_import_rejects_other_files(sqlite_engine: Engine, tmp_path: Path, case) -> None:
    from greywatch.cli import app

    sheet = tmp_path / "leads.xlsx"
    url = _export_sheet(sqlite_engine, sheet)
    target, message = {
        "csv": (tmp_path / "leads.csv", "cannot read it as an XLSX workbook"),
        "missing": (tmp_path / "nope.xlsx", "no such file"),
        "no-column": (sheet, "no column 审核状态"),
    }[case]
    if case == "csv":
        target.write_text("线索ID,审核状态\n1,已确认\n", encoding="utf-8")
    if case == "no-column":
        _edit(sheet, {}, drop="审核状态")
    result = CliRunner().invoke(app, ["review", "import", str(target), "--db", url])
    assert isinstance(result.exception, InputError), result.output
    assert message in str(result.exception) and str(target) in str(result.exception)
