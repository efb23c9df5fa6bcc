"""One definition of the lead filters: `leads` and `leads export` select the same leads for
the same flags, and a bad value is one error naming the valid ones, in both commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from greywatch.errors import InputError
from tests.case_world import XINCHENG_USCC, build_world

runner = CliRunner()

T101, P7, T202, T303, A1, T404 = (
    "http://forum.demo.test/t/101",
    "http://blog.demo.test/p/7",
    "http://forum.demo.test/t/202",
    "http://forum.demo.test/t/303",
    "http://news.demo.test/a/1",
    "http://forum.demo.test/t/404",
)


def _world(engine: Engine) -> tuple[str, int]:
    with Session(engine) as s:
        world = build_world(s)
    return engine.url.render_as_string(hide_password=False), world.actor_id


def _leads(url: str, args: list[str]) -> set[str]:
    result = runner.invoke(app, ["leads", "--json", "--limit", "0", *args, "--db", url])
    assert result.exit_code == 0, result.output
    return {row["url"] for row in json.loads(result.output)}


def _exported(url: str, args: list[str], out: Path) -> set[str]:
    result = runner.invoke(app, ["leads", "export", "-o", str(out), *args, "--db", url])
    assert result.exit_code == 0, result.output
    return {row["url"] for row in json.loads(out.read_text(encoding="utf-8"))}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--category", "征信修复"], {T101, P7}),
        (["--category", "credit_repair"], {T101, P7}),
        (["--category", "债务减免", "--category", "refund_agency"], {T202, T303}),
        (["--kind", "warning"], {A1}),
        (["--kind", "Warning", "--kind", "promotion", "--min-score", "0.9"], {T101, T303}),
        (["--since", "2026-11-08T00:00+00:00", "--until", "2026-11-10T00:00+00:00"], {T202, T303}),
        (["--until", "2026-11-04T00:00+00:00"], {T101}),
        (["--source", "demo-blog"], {P7}),
        (["--review", "new", "--source", "demo-blog"], {P7}),
        (["--actor", "{actor}"], {T101, P7}),
        (["--contact", "138 0013 8000"], {T101, P7}),  # however it was written
        (["--contact", "+86-138-0013-8000"], {T101, P7}),
        (["--contact", "XINC888"], {T101}),  # an id as typed, case forgiven
        (["--contact", "微信zhengxin_law"], {T404}),
        (["--contact", "13000000000"], set()),
        (["--keyword", "停息挂账"], {T202}),
        (["--keyword", "HYPERLINK"], {P7}),  # in the title
        (["--keyword", "徵信"], {T101, P7}),  # Traditional, found as Simplified
        (["--firm", "鑫诚"], {T101}),  # the warning naming it is not a promotion
        (["--firm", XINCHENG_USCC.lower()], {T101}),
        (["--firm", "正信法律"], {T404}),
        (["--firm", "恒通"], {T303}),  # not registered: by the advertised name
        (["--firm", "不存在的公司"], set()),
    ],
)
def test_leads_and_export_select_the_same(engine: Engine, tmp_path: Path, args, expected) -> None:
    url, actor = _world(engine)
    args = [a.format(actor=actor) for a in args]
    assert _leads(url, args) == expected
    assert _exported(url, args, tmp_path / "leads.json") == expected


ERRORS = [
    (["--category", "信用修复"], "--category: unknown category '信用修复'", "credit_repair (征信"),
    (["--kind", "advert"], "--kind: unknown value 'advert'", "promotion, warning, other"),
    (["--review", "done"], "--review: unknown value 'done'", "new, confirmed, dismissed, reported"),
    (["--source", "tieba"], "--source: unknown source 'tieba'", "demo-blog, demo-forum"),
    (["--actor", "999"], "--actor: no actor with id 999", "greywatch actors"),
    (["--min-score", "1.5"], "--min-score: 1.5 is not between 0 and 1", ""),
    (["--since", "2026-11-09", "--until", "2026-11-08"], "is not before --until", "--since"),
    (["--until", "next week"], "--until: cannot read 'next week' as a date", "2026-11-01"),
    (["--keyword", " "], "--keyword: empty value", ""),
    (["--contact", ""], "--contact: empty value", "13800138000"),
]


@pytest.mark.parametrize("command", [["leads"], ["leads", "export", "-o", "{out}"]])
@pytest.mark.parametrize(("args", "message", "hint"), ERRORS)
def test_bad_filter_is_one_error_naming_the_valid_values(
    sqlite_engine: Engine, tmp_path: Path, command, args, message, hint
) -> None:
    url, _ = _world(sqlite_engine)
    out = tmp_path / "leads.csv"
    cmd = [c.format(out=out) for c in command]
    result = runner.invoke(app, [*cmd, *args, "--db", url])
    assert isinstance(result.exception, InputError), result.output
    assert message in str(result.exception) and "\n" not in str(result.exception)
    assert hint in (result.exception.hint or "")
    assert not out.exists()


def test_real_process_one_line_exit_2(sqlite_engine: Engine) -> None:
    url, _ = _world(sqlite_engine)
    proc = subprocess.run(
        [sys.executable, "-m", "greywatch", "leads", "--category", "征信", "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0] == "error: --category: unknown category '征信'"
    assert lines[1].startswith("hint: use one of: credit_repair (征信修复)") and len(lines) == 2


def test_no_match_names_the_filter(sqlite_engine: Engine) -> None:
    url, _ = _world(sqlite_engine)
    result = runner.invoke(app, ["leads", "--firm", "不存在的公司", "--db", url])
    assert result.exit_code == 0 and "no leads match (firm 不存在的公司)" in result.output


def test_table_shows_url_and_date(sqlite_engine: Engine) -> None:
    url, _ = _world(sqlite_engine)
    result = runner.invoke(
        app, ["leads", "--source", "demo-blog", "--db", url], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert P7 in result.output and "2026-11-05" in result.output
