"""Reviews flow from firms to their leads, and `greywatch businesses` lists the firms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from greywatch.errors import InputError
from storage.repo import LeadFilter, query_leads
from storage.review import list_businesses, review_business, review_leads
from tests.case_world import (
    ANXIN,
    ANXIN_USCC,
    HENGTONG,
    XINCHENG,
    XINCHENG_USCC,
    ZHENGXIN,
    ZHENGXIN_USCC,
    build_world,
)

runner = CliRunner()
T101, T202, T404 = (
    "http://forum.demo.test/t/101",
    "http://forum.demo.test/t/202",
    "http://forum.demo.test/t/404",
)


@pytest.mark.parametrize(
    ("firms", "own", "expected"),
    [
        # the firm's state shows on its leads …
        ({XINCHENG: "confirmed"}, {}, {T101: ("confirmed", [XINCHENG])}),
        ({XINCHENG_USCC: "reported"}, {}, {T101: ("reported", [XINCHENG])}),
        ({ANXIN: "dismissed"}, {}, {T202: ("dismissed", [ANXIN])}),
        # … unless the lead has a state of its own
        ({XINCHENG: "confirmed"}, {T101: "dismissed"}, {T101: ("dismissed", [])}),
        ({XINCHENG: "confirmed"}, {T404: "reported"}, {T101: ("confirmed", [XINCHENG])}),
        ({XINCHENG: "confirmed", ZHENGXIN: "new"}, {}, {T101: ("confirmed", [XINCHENG])}),
    ],
)
def test_business_state_shows_on_its_leads(engine: Engine, firms, own, expected) -> None:
    with Session(engine) as s:
        world = build_world(s)
        for ref, status in firms.items():
            review_business(s, ref, status, f"{ref} 已核实")
        for url, status in own.items():
            finding = next(r for r in query_leads(s, LeadFilter()) if r.url == url)
            review_leads(s, [finding.finding_id], status, "本条已核实")
        s.commit()
        rows = {r.url: r for r in query_leads(s, LeadFilter())}
        for status in ("confirmed", "dismissed", "reported"):
            found = {r.url for r in query_leads(s, LeadFilter(review=(status,)))}
            wanted = {u for u, (st, _) in expected.items() if st == status}
            wanted |= {u for u, st in own.items() if st == status}
            assert found == wanted, status
    assert world.doc_ids
    for url, (status, source) in expected.items():
        assert (rows[url].review_status, rows[url].review_from) == (status, source)
        if source:
            assert rows[url].review_note.endswith("已核实")
    untouched = set(rows) - set(expected) - set(own)
    assert {rows[u].review_status for u in untouched} == {"new"}


def test_export_review_confirmed_finds_the_firms_leads(sqlite_engine: Engine, tmp_path: Path):
    with Session(sqlite_engine) as s:
        build_world(s)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    out = tmp_path / "confirmed.json"
    args = ["leads", "export", "-o", str(out), "--review", "confirmed", "--db", url]
    assert "exported 0 leads" in runner.invoke(app, args).output
    runner.invoke(app, ["review", "business", XINCHENG, "-s", "confirmed", "--db", url])
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "exported 1 leads" in result.output, result.output
    [row] = json.loads(out.read_text(encoding="utf-8"))
    assert (row["url"], row["review_status"]) == (T101, "confirmed")


def test_list_businesses(engine: Engine) -> None:
    with Session(engine) as s:
        world = build_world(s)
        review_business(s, XINCHENG, "confirmed", "超出经营范围")
        s.commit()
        rows = {r.name: r for r in list_businesses(s)}
        confirmed = list_businesses(s, ["confirmed"])
    assert set(rows) == {XINCHENG, ANXIN, HENGTONG, ZHENGXIN}  # the USCC joins its firm
    got = {n: (r.uscc, r.checked, r.verdict, r.review_status, r.leads) for n, r in rows.items()}
    assert got == {
        # named on a promotion and on a warning: one lead
        XINCHENG: (XINCHENG_USCC, True, "out_of_scope", "confirmed", 1),
        ANXIN: (ANXIN_USCC, True, "inactive", "new", 1),
        HENGTONG: ("", True, "not_registered", "new", 1),
        ZHENGXIN: (ZHENGXIN_USCC, True, "in_scope", "new", 1),
    }
    assert rows[XINCHENG].id == world.entity_ids[XINCHENG]
    assert [r.name for r in confirmed] == [XINCHENG]


@pytest.mark.parametrize(
    ("args", "expected", "absent"),
    [
        ([], [XINCHENG, XINCHENG_USCC, "超出登记经营范围", "未查到登记", HENGTONG], []),
        (["--review", "confirmed"], [XINCHENG, "confirmed"], [ANXIN, HENGTONG]),
        (["--review", "reported"], ["no businesses in that review state"], [XINCHENG]),
    ],
)
def test_cli_businesses(sqlite_engine: Engine, args, expected, absent) -> None:
    with Session(sqlite_engine) as s:
        build_world(s)
        review_business(s, XINCHENG, "confirmed")
        s.commit()
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["businesses", *args, "--db", url], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert all(word in result.output for word in expected), result.output
    assert not any(word in result.output for word in absent)


def test_cli_businesses_json_and_bad_state(sqlite_engine: Engine) -> None:
    with Session(sqlite_engine) as s:
        build_world(s)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["businesses", "--json", "--db", url])
    rows = json.loads(result.output)
    assert [r["leads"] for r in rows] == [1, 1, 1, 1]
    assert {r["name"] for r in rows} == {XINCHENG, ANXIN, HENGTONG, ZHENGXIN}
    bad = runner.invoke(app, ["businesses", "--review", "done", "--db", url])
    assert isinstance(bad.exception, InputError) and "'done'" in str(bad.exception)
    assert "confirmed" in (bad.exception.hint or "")
