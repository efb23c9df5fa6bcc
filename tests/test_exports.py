"""Lead exports: read back with the csv module, openpyxl and json; refusals; the export log."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.errors import GreywatchError, InputError
from storage.exports import COLUMNS, atomic_file, export_leads, filter_is_empty
from storage.models import ExportLog
from storage.repo import LeadFilter, PageRecord, save_page
from tests.case_world import PAGES, XINCHENG, XINCHENG_USCC, analysis_of, at, build_world, html_of

HEADERS = [c.header for c in COLUMNS]
EVIL_TITLE = '=HYPERLINK("http://evil.test","点我")'


@pytest.fixture
def lite(sqlite_engine: Engine) -> Iterator[Session]:
    """A SQLite session, for table-driven tests whose subject is not the database."""
    with Session(sqlite_engine) as s:
        yield s


def test_csv_is_excel_ready(session: Session, tmp_path: Path) -> None:
    build_world(session)
    out = tmp_path / "leads.csv"
    result = export_leads(session, LeadFilter(min_score=0.5), "csv", out, user="analyst")

    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == HEADERS
    assert {"来源", "标题", "链接", "类别", "命中词", "审核状态", "页面SHA-256"} <= set(rows[0])
    data = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert len(data) == result.rows == 5  # promotions only: the news warning is not a lead
    top = data[0]
    assert top["企业"] == XINCHENG
    assert top["登记核验"] == f"{XINCHENG}：超出登记经营范围（{XINCHENG_USCC}，存续）"
    assert top["类别"] == "征信修复"
    assert top["命中词"] == "征信修复、消除逾期"
    assert top["联系方式"] == "电话 13800138000；微信 xinc888"
    assert top["抓取时间（北京时间）"] == "2026-11-03 10:30:00"  # labelled Beijing time
    assert top["审核状态"] == "待审核"
    # a line break inside a field stays inside its (quoted) cell
    assert top["理由"] == "命中词：征信修复、消除逾期\n判定：promotion"
    # a scraped title that looks like a formula is defused for Excel
    assert any(r["标题"] == "'" + EVIL_TITLE for r in data)


def test_xlsx_has_header_filter_links_numbers_and_dates(session: Session, tmp_path: Path) -> None:
    build_world(session)
    out = tmp_path / "leads.xlsx"
    result = export_leads(session, LeadFilter(categories=("credit_repair",)), "xlsx", out, "a")
    assert result.rows == 2

    ws = openpyxl.load_workbook(out).active
    assert [c.value for c in ws[1]] == HEADERS
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(HEADERS))}3"
    col = {h: i for i, h in enumerate(HEADERS, start=1)}
    link = ws.cell(row=2, column=col["链接"])
    assert link.hyperlink is not None
    assert link.hyperlink.target == link.value == "http://forum.demo.test/t/101"
    score = ws.cell(row=2, column=col["评分"]).value
    assert isinstance(score, float) and score == pytest.approx(0.93)
    fetched = ws.cell(row=2, column=col["抓取时间（北京时间）"]).value
    assert fetched == datetime(2026, 11, 3, 10, 30)  # China time, as an Excel date
    assert ws.cell(row=2, column=col["线索ID"]).data_type == "n"
    titles = [ws.cell(row=r, column=col["标题"]) for r in (2, 3)]
    evil = next(c for c in titles if c.value == EVIL_TITLE)
    assert evil.data_type == "s"  # text, never a formula
    assert ws.column_dimensions["C"].width >= 20


def test_json_has_english_keys_and_raw_chinese(session: Session, tmp_path: Path) -> None:
    build_world(session)
    out = tmp_path / "leads.json"
    export_leads(session, LeadFilter(sources=("demo-forum",), min_score=0.85), "json", out, "a")
    raw = out.read_bytes()
    assert "深圳市".encode() in raw  # ensure_ascii=False
    data = json.loads(raw)
    assert [d["url"] for d in data] == [
        "http://forum.demo.test/t/101",
        "http://forum.demo.test/t/303",
        "http://forum.demo.test/t/202",
    ]
    first = data[0]
    assert {"source", "title", "url", "fetched_at", "categories", "score", "contacts"} <= set(first)
    assert first["fetched_at"] == "2026-11-03T10:30:00+08:00"
    assert first["contacts"][0] == {
        "kind": "phone",
        "value": "+8613800138000",
        "raw": "13800138000",
    }
    assert first["evidence"][0]["term"] == "征信修复"
    # which registry row backs the business, and why it is that firm's
    assert first["registry"] == [
        {
            "business": XINCHENG,
            "verdict": "out_of_scope",
            "registered_name": XINCHENG,
            "uscc": XINCHENG_USCC,
            "status": "存续",
            "reason": f"与登记名称完全一致：{XINCHENG}",
            "registry_row": "registry-2026-11.csv:2",
        }
    ]


@pytest.mark.parametrize(
    ("f", "empty"),
    [
        (LeadFilter(), True),
        (LeadFilter(kinds=("promotion",)), True),
        (LeadFilter(limit=10), True),
        (LeadFilter(since=at(1)), False),
        (LeadFilter(kinds=("warning",)), False),
        (LeadFilter(min_score=0.5), False),
        (LeadFilter(review=("confirmed",)), False),
        (LeadFilter(actor_id=1), False),
    ],
)
def test_filter_is_empty(f: LeadFilter, empty: bool) -> None:
    assert filter_is_empty(f) is empty


def test_export_without_filter_is_refused(session: Session, tmp_path: Path) -> None:
    build_world(session)
    out = tmp_path / "all.csv"
    with pytest.raises(GreywatchError) as err:
        export_leads(session, LeadFilter(), "csv", out, "analyst")
    assert "--since" in (err.value.hint or "") and "--min-score" in (err.value.hint or "")
    assert not out.exists()
    assert session.scalars(select(ExportLog)).all() == []


def test_unknown_format_is_refused(lite: Session, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pdf"):
        export_leads(lite, LeadFilter(min_score=0.1), "pdf", tmp_path / "x.pdf", "a")


def test_every_export_is_logged(session: Session, tmp_path: Path) -> None:
    build_world(session)
    f = LeadFilter(since=at(4), min_score=0.5)
    paths = [tmp_path / "a.csv", tmp_path / "b.json"]
    for path in paths:
        export_leads(session, f, path.suffix[1:], path, user="wang")
    session.commit()
    logs = session.scalars(select(ExportLog).order_by(ExportLog.id)).all()
    assert [(log.user, log.what, log.format, log.rows) for log in logs] == [
        ("wang", "leads", "csv", 4),
        ("wang", "leads", "json", 4),
    ]
    for log, path in zip(logs, paths, strict=True):
        assert log.path == str(path.resolve())
        assert log.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert log.filters["min_score"] == 0.5
        assert log.filters["since"].startswith("2026-11-04")


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "leads.csv"
    out.write_text("previous export", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_file(out) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("disk full")
    assert out.read_text(encoding="utf-8") == "previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leads.csv"]


# --- CLI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "rows"),
    [
        (["--category", "征信修复"], 2),
        (["--category", "debt_relief", "--category", "refund_agency"], 2),
        (["--source", "demo-forum", "--min-score", "0.85"], 3),
        (["--since", "2026-11-05", "--until", "2026-11-10"], 3),
        (["--kind", "warning"], 1),
        (["--review", "new", "--format", "json"], 5),
    ],
)
def test_cli_export_filters(
    sqlite_engine: Engine, tmp_path: Path, args: list[str], rows: int
) -> None:
    from greywatch.cli import app

    with Session(sqlite_engine) as session:
        build_world(session)
    out = tmp_path / "leads.csv"
    env = {"GREYWATCH_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(
        app, ["leads", "export", "--out", str(out), "--user", "li", *args], env=env
    )
    assert result.exit_code == 0, result.output
    assert f"exported {rows} leads" in result.output
    with Session(sqlite_engine) as session:
        log = session.scalars(select(ExportLog)).one()
    assert (log.user, log.rows) == ("li", rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "refusing to export every lead"),
        (["--category", "贷款"], "unknown category '贷款'"),
        (["--since", "yesterday"], "--since: cannot read 'yesterday' as a date"),
        (["--min-score", "0.5", "--format", "pdf"], "cannot export as 'pdf'"),
    ],
)
def test_cli_export_errors_are_one_line(
    sqlite_engine: Engine, tmp_path: Path, args: list[str], message: str
) -> None:
    from greywatch.cli import app

    out = tmp_path / "leads.csv"
    env = {"GREYWATCH_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(app, ["leads", "export", "--out", str(out), *args], env=env)
    assert isinstance(result.exception, GreywatchError)
    assert message in str(result.exception)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--review", "done"], "--review: unknown value 'done'"),
        (["--kind", "advert"], "--kind: unknown value 'advert'"),
        (["--min-score", "1.5"], "--min-score"),
    ],
)
def test_cli_export_rejects_bad_choices(
    sqlite_engine: Engine, tmp_path: Path, args: list[str], message: str
) -> None:
    """A bad value is one InputError (exit 2 in a real process) naming it; nothing written."""
    from greywatch.cli import app

    out = tmp_path / "leads.csv"
    env = {"GREYWATCH_DATABASE_URL": sqlite_engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(app, ["leads", "export", "--out", str(out), *args], env=env)
    assert isinstance(result.exception, InputError), result.output
    assert message in str(result.exception)
    assert not out.exists()


def test_cli_refusal_prints_error_and_hint(
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the real entry point: one `error:` line, one `hint:` line, exit code 2."""
    from greywatch.cli import main

    url = sqlite_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GREYWATCH_DATABASE_URL", url)
    monkeypatch.setattr(
        sys, "argv", ["greywatch", "leads", "export", "-o", str(tmp_path / "x.csv")]
    )
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("error: refusing to export every lead")
    assert lines[1].startswith("hint:") and "--since" in lines[1]


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ([{"kind": "term", "term": "逾期上岸", "raw": "帮你上岸"}], ["帮你上岸"]),
        ([{"kind": "term", "term": "征信修复", "raw": "徵信修復"}], ["徵信修復"]),
        (
            [
                {"kind": "term", "term": "征信修复", "raw": "征信修复"},
                {"kind": "promotion_cue", "term": "不成功全额退款", "raw": "不成功全额退款"},
                {"kind": "term", "term": "征信修复", "raw": "征信修复"},
            ],
            ["征信修复"],
        ),
    ],
)
def test_matched_words_quote_the_page_not_the_lexicon(evidence, expected) -> None:
    from storage.exports import matched_words

    assert matched_words(evidence) == expected


def test_a_reposted_ad_is_one_row_with_all_its_urls(session: Session, tmp_path: Path) -> None:
    """The same ad copied to a second URL later is one row: both URLs, first and last seen."""
    build_world(session)
    page = PAGES[0]
    copy = PageRecord(
        url="http://mirror.demo.test/p/9",
        body=html_of(page),
        fetched_at=at(20),
        source_id=page.source,
        title=page.title,
        text=page.text,
        encoding=page.encoding,
    )
    save_page(session, copy, analysis_of(page), "test-1")
    session.commit()
    out = tmp_path / "leads.csv"
    export_leads(session, LeadFilter(min_score=0.5), "csv", out, user="analyst")
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if page.url in r["全部链接"]]
    assert len(rows) == 1
    row = rows[0]
    assert set(row["全部链接"].split("\n")) == {page.url, copy.url}
    assert row["首次发现（北京时间）"] == "2026-11-03 10:30:00"
    assert row["最后发现（北京时间）"] == "2026-11-20 10:30:00"
