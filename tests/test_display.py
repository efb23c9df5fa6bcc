"""What people read: contacts as written in the ad, times in Beijing time and labelled.

Contacts: the leads table and the CSV/XLSX 联系方式 column show landlines with their area code
and hyphen, mobiles as 11 digits, 400/800 numbers grouped; JSON keeps E.164. Times: tables
and sheets in Beijing time with the label, JSON in ISO 8601 with its offset, a date-only
publish date stays a date.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from pipelines.analyze import analyze_text, lexicon_version
from pipelines.display import beijing, display_contact, iso, published
from pipelines.timeutil import CHINA_TZ
from storage.exports import contact_text, export_leads
from storage.repo import LeadFilter, PageRecord, save_pages

runner = CliRunner()


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("phone", "+862162881234", "021-62881234"),  # Shanghai: 3-digit area code
        ("phone", "+861062881234", "010-62881234"),  # Beijing
        ("phone", "+8675586001234", "0755-86001234"),  # Shenzhen: 4-digit area code
        ("phone", "+8657188001234", "0571-88001234"),  # Hangzhou
        ("phone", "+8689866001234", "0898-66001234"),  # Haikou
        ("phone", "+8613800138000", "13800138000"),  # mobile: 11 digits, no +86
        ("phone", "13800138000", "13800138000"),  # national digits read the same
        ("phone", "02162881234", "021-62881234"),
        ("phone", "+864008208820", "400-820-8820"),
        ("phone", "+868008101234", "800-810-1234"),
        ("phone", "+85221234567", "+852 2123 4567"),  # not Chinese: international form
        ("phone", "not a number", "not a number"),
        ("wechat", "xinc888", "xinc888"),
        ("qq", "12345678", "12345678"),
        ("email", "xinc888@163.com", "xinc888@163.com"),
        ("url", "xinc.example.cn", "xinc.example.cn"),
    ],
)
def test_display_contact(kind: str, value: str, shown: str) -> None:
    assert display_contact(kind, value) == shown


@pytest.mark.parametrize(
    ("contact", "text"),
    [
        ({"kind": "phone", "value": "+862162881234", "raw": "021-62881234"}, "电话 021-62881234"),
        ({"kind": "phone", "value": "+8613800138000", "raw": "138 0013 8000"}, "电话 13800138000"),
        ({"kind": "phone", "value": "+864008208820", "raw": "4008208820"}, "电话 400-820-8820"),
        ({"kind": "wechat", "value": "xinc888", "raw": "vx:xinc888"}, "微信 xinc888"),
    ],
)
def test_contact_text(contact: dict[str, str], text: str) -> None:
    assert contact_text(contact) == text


@pytest.mark.parametrize(
    ("value", "human", "machine"),
    [
        (datetime(2026, 11, 1, 8, 0), "2026-11-01 16:00 北京时间", "2026-11-01T16:00:00+08:00"),
        (
            datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
            "2026-11-01 16:00 北京时间",
            "2026-11-01T16:00:00+08:00",
        ),
        (
            datetime(2026, 11, 1, 23, 30, tzinfo=CHINA_TZ),
            "2026-11-01 23:30 北京时间",
            "2026-11-01T23:30:00+08:00",
        ),
        (date(2026, 11, 1), "2026-11-01", "2026-11-01"),
        (None, "", ""),
    ],
)
def test_beijing_and_iso(value: datetime | date | None, human: str, machine: str) -> None:
    assert beijing(value) == human
    assert iso(value) == machine


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        # a page that printed only 2026-10-12 is stored as midnight Beijing time (16:00 UTC)
        (datetime(2026, 10, 11, 16, 0), date(2026, 10, 12)),
        (datetime(2026, 10, 12, 0, 0, tzinfo=CHINA_TZ), date(2026, 10, 12)),
        (datetime(2026, 10, 12, 1, 31), datetime(2026, 10, 12, 1, 31)),
        (None, None),
    ],
)
def test_published_date_stays_a_date(stored: datetime | None, expected: Any) -> None:
    assert published(stored) == expected


# --- through the database, the exports and the CLI ----------------------------------------

SHANGHAI = (
    "上海专业征信修复，逾期记录消除，不成功不收费。"
    "电话 021-62881234 手机 13800138000 热线 400-820-8820"
)


def _seed(engine: Engine) -> None:
    """One Shanghai ad (landline, mobile, 400 number), analysed for real; published date-only."""
    analysis = analyze_text(SHANGHAI, doc_id="sh", title="上海专业征信修复")
    page = PageRecord(
        url="http://bbs.demo.test/t/1",
        body=SHANGHAI.encode(),
        fetched_at=datetime(2026, 11, 3, 2, 30, tzinfo=UTC),  # 10:30 Beijing time
        source_id="bbs",
        title="上海专业征信修复",
        text=SHANGHAI,
        published_at=datetime(2026, 11, 1, tzinfo=CHINA_TZ),  # the page said 2026-11-01
    )
    with Session(engine) as session:
        save_pages(session, [(page, analysis)], lexicon_version())
        session.commit()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


SHOWN = ("电话 021-62881234", "电话 13800138000", "电话 400-820-8820")


def test_leads_table_shows_contacts_and_dates_as_people_read_them(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    result = runner.invoke(
        app, ["leads", "--db", _url(sqlite_engine)], env={"COLUMNS": "250"}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for text in SHOWN:
        assert text in result.output
    assert "2162881234" not in result.output.replace("021-62881234", "")
    assert "北京时间" in result.output
    assert "2026-11-01" in result.output and "00:00" not in result.output


def test_leads_json_keeps_e164_and_iso(sqlite_engine: Engine) -> None:
    _seed(sqlite_engine)
    result = runner.invoke(app, ["leads", "--json", "--db", _url(sqlite_engine)])
    assert result.exit_code == 0, result.output
    lead = json.loads(result.stdout)[0]
    assert [c["value"] for c in lead["contacts"]][:1] == ["+862162881234"]
    assert datetime.fromisoformat(lead["fetched_at"]) == datetime(2026, 11, 3, 2, 30, tzinfo=UTC)
    assert lead["published_at"] == "2026-11-01"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_exports_show_contacts_and_beijing_time(
    sqlite_engine: Engine, tmp_path: Path, fmt: str
) -> None:
    _seed(sqlite_engine)
    out = tmp_path / f"leads.{fmt}"
    with Session(sqlite_engine) as session:
        export_leads(session, LeadFilter(sources=("bbs",)), fmt, out, user="analyst")
        session.commit()
    if fmt == "json":
        row = json.loads(out.read_text(encoding="utf-8"))[0]
        assert {c["value"] for c in row["contacts"]} == {
            "+862162881234",
            "+8613800138000",
            "+864008208820",
        }
        assert row["fetched_at"] == "2026-11-03T10:30:00+08:00"
        assert row["published_at"] == "2026-11-01"
        return
    if fmt == "csv":
        with out.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        sheet = dict(zip(rows[0], rows[1], strict=True))
    else:
        ws = openpyxl.load_workbook(out).active
        sheet = {c.value: v.value for c, v in zip(ws[1], ws[2], strict=True)}
    assert set(sheet["联系方式"].split("；")) == set(SHOWN)
    fetched, posted = sheet["抓取时间（北京时间）"], sheet["发布时间（北京时间）"]
    if fmt == "csv":
        assert (fetched, posted) == ("2026-11-03 10:30:00", "2026-11-01")
    else:
        assert fetched == datetime(2026, 11, 3, 10, 30)
        assert posted == datetime(2026, 11, 1)  # openpyxl reads a date cell back as datetime
        posted_cell = ws.cell(row=2, column=list(sheet).index("发布时间（北京时间）") + 1)
        assert posted_cell.number_format == "yyyy-mm-dd"
