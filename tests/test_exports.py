"""Lead exports: read back with the csv module, openpyxl and json; refusals; the export log."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from greywatch.errors import GreywatchError, InputError
from storage.exports import COLUMNS, atomic_file, export_leads, filter_is_empty
from storage.models import ExportLog
from storage.repo import LeadFilter
from tests.case_world import XINCHENG, at, build_world

HEADERS = [c.header for c in COLUMNS]
EVIL_TITLE = '=HYPERLINK("http://evil.test","点我")'


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
    assert top["类别"] == "征信修复"
    assert top["命中词"] == "征信修复、消除逾期"
    assert top["联系方式"] == "电话 13800138000；微信 xinc888"
    assert top["抓取时间"] == "2026-11-03 10:30:00"  # China time
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
    fetched = ws.cell(row=2, column=col["抓取时间"]).value
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


def test_unknown_format_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="pdf"):
        export_leads(session, LeadFilter(min_score=0.1), "pdf", tmp_path / "x.pdf", "a")


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
