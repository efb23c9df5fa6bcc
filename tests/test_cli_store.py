"""`greywatch leads|runs|reanalyze|schedule|db upgrade`: in-process runner and real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from greywatch.errors import DatabaseURLError, InputError, NoDatabaseError, StorageError
from pipelines.analyze import analyze_text, lexicon_version
from storage import repo
from storage.db import head_revision
from storage.models import Finding

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
POSTS = {
    # url: (source, days after T0, text)
    "https://bbs.example.cn/thread-1": (
        "bbs",
        0,
        "征信修复 专业处理逾期 不成功不收费\n深圳市鑫诚信息咨询有限公司承接征信修复、消除逾期记录，"
        "百分百成功。电话13800138000，微信xinc888。",
    ),
    "https://tieba.example.cn/p/2": (
        "tieba",
        2,
        "信用卡逾期还不上？停息挂账 协商还款 专业办理\n广州市安信商务服务有限公司帮你停息挂账，"
        "协商还款，减免利息。联系电话13912345678。",
    ),
    "https://news.example.cn/a/3": (
        "news",
        1,
        "警惕“征信修复”骗局\n监管部门提醒：征信修复、代理退保均为骗局，不良记录不能花钱消除，"
        "请勿轻信所谓代理机构。",
    ),
}

runner = CliRunner()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _populate(engine: Engine, version: str = "old-lexicon") -> None:
    with Session(engine) as s:
        for url, (source, days, body) in POSTS.items():
            title = body.split("\n", 1)[0]
            page = repo.PageRecord(
                url=url,
                body=f"<html><title>{title}</title><p>{body}</p></html>".encode(),
                fetched_at=T0 + timedelta(days=days),
                source_id=source,
                title=title,
            )
            # Rules only: these tests are about filtering, not about the learned model's scores.
            analysis = analyze_text(body, doc_id=url, title=title, model=False)
            repo.save_page(s, page, analysis, version)
        s.commit()


def invoke(*args: str, env: dict[str, str] | None = None):
    result = runner.invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greywatch", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (("leads",), "--min-score"),
        (("runs",), "--source"),
        (("reanalyze",), "--all"),
        (("schedule",), "--sources"),
        (("db",), "upgrade"),
        (("db", "upgrade"), "GREYWATCH_DATABASE_URL"),
    ],
)
def test_help(path, words):
    result = invoke(*path, "--help")
    assert result.exit_code == 0 and words in result.output


def test_db_upgrade_creates_then_reports_head(db_url):
    head = head_revision()
    first = invoke("db", "upgrade", "--db", db_url)
    assert first.exit_code == 0 and f"upgraded from empty to revision {head} (head)" in first.output
    again = invoke("db", "upgrade", "--db", db_url)
    assert again.exit_code == 0 and f"already at revision {head} (head)" in again.output


def test_leads_table(engine):
    _populate(engine)
    result = invoke("leads", "--db", _url(engine), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2 leads" in result.output
    assert "征信修复 专业处理逾期 不成功不收费" in result.output
    assert "https://bbs.example.cn/thread-1" in result.output  # the URL under the title
    assert "电话 13800138000" in result.output and "警惕" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), ["bbs", "tieba"]),
        (("--category", "debt_relief"), ["bbs", "tieba"]),  # 消除逾期 counts as debt relief
        (("--category", "credit_repair"), ["bbs"]),
        (("--category", "refund_agency", "--kind", "warning"), ["news"]),
        (("--min-score", "0.9"), ["bbs"]),
        (("--source", "bbs", "--source", "news"), ["bbs"]),
        (("--kind", "warning"), ["news"]),
        (("--kind", "warning", "--kind", "promotion", "--limit", "0"), ["bbs", "tieba", "news"]),
        (("--since", "2026-11-02"), ["tieba"]),
        (("--min-score", "1.0"), []),
        (("--review", "confirmed"), []),
        (("--limit", "1"), ["bbs"]),
    ],
)
def test_leads_filters_json(engine, args, expected):
    _populate(engine)
    result = invoke("leads", "--json", *args, env={"GREYWATCH_DATABASE_URL": _url(engine)})
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert sorted(r["source_id"] for r in rows) == sorted(expected)
    if "bbs" in expected:
        lead = next(r for r in rows if r["source_id"] == "bbs")
        assert lead["contacts"][0] == {
            "kind": "phone",
            "value": "+8613800138000",
            "raw": "13800138000",
        }
        assert lead["fetched_at"] == "2026-11-01T08:00:00+00:00"
        assert "征信修复" in lead["excerpt"] and lead["evidence"]


def test_runs_table(sqlite_engine):
    with Session(sqlite_engine) as s:
        ok = repo.start_run(s, "bbs", "schedule")
        repo.finish_run(s, ok, "finished", {}, pages=17, items=12, errors=2)
        bad = repo.start_run(s, "bbs", "schedule")
        repo.finish_run(s, bad, "failed", {}, 0, 0, 1, "crawl exit code 3: 连接被拒绝\nmore")
        repo.start_run(s, "news")
        s.commit()
    result = invoke("runs", "--db", _url(sqlite_engine), "--source", "bbs", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "bbs" in ln]
    assert len(lines) == 2 and "news" not in result.output
    assert (
        "failed" in lines[0]
        and "crawl exit code 3: 连接被拒绝" in lines[0]
        and "more" not in lines[0]
    )
    assert "finished" in lines[1] and " 17 " in lines[1]
    limited = invoke("runs", "--db", _url(sqlite_engine), "--limit", "1", env={"COLUMNS": "200"})
    assert "news" in limited.output and "running" in limited.output and "bbs" not in limited.output


def test_runs_empty(sqlite_engine):
    result = invoke("runs", "--db", _url(sqlite_engine))
    assert result.exit_code == 0 and "no crawl runs yet" in result.output


def test_reanalyze_stale_then_all(engine):
    _populate(engine, version="old-lexicon")
    url = _url(engine)
    version = lexicon_version()
    first = invoke("reanalyze", "--db", url)
    assert first.exit_code == 0, first.output
    assert f"re-analyzed 3 documents with an older lexicon (lexicon {version})" in first.output
    assert "re-analyzed 0 documents" in invoke("reanalyze", "--db", url).output
    assert "re-analyzed 3 documents (lexicon" in invoke("reanalyze", "--all", "--db", url).output
    with Session(engine) as s:
        findings = list(s.scalars(select(Finding)))
    assert {f.lexicon_version for f in findings} == {version}
    assert sorted(f.kind for f in findings) == ["promotion", "promotion", "warning"]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("leads",), NoDatabaseError, "no database yet at {tmp}/empty.db"),
        (("runs",), NoDatabaseError, "no database yet at"),
        (("reanalyze",), NoDatabaseError, "no database yet at"),
        (
            ("leads", "--since", "last week"),
            InputError,
            "--since: cannot read 'last week' as a date",
        ),
        (
            ("runs", "--db", "postgresql+psycopg2://postgres@127.0.0.1:1/none"),
            StorageError,
            "database postgresql+psycopg2://***@127.0.0.1:1/none: ",
        ),
        (("db", "upgrade", "--db", "sqlite"), DatabaseURLError, "invalid database URL 'sqlite'"),
    ],
)
def test_errors_are_greywatch_errors(tmp_path, args, error, message):
    result = runner.invoke(
        app, [*args, *(() if "--db" in args else ("--db", f"sqlite:///{tmp_path}/empty.db"))]
    )
    assert type(result.exception) is error, result.output
    assert message.format(tmp=tmp_path) in str(result.exception)
    assert "\n" not in str(result.exception)
    if error is NoDatabaseError:
        assert "greywatch crawl SOURCE" in result.exception.hint
        assert not (tmp_path / "empty.db").exists()


def test_bad_option_value_is_one_error_naming_the_valid_ones(tmp_path):
    result = runner.invoke(app, ["leads", "--review", "maybe"])
    assert isinstance(result.exception, InputError)
    assert str(result.exception) == "--review: unknown value 'maybe'"
    assert result.exception.hint == "use one of: new, confirmed, dismissed, reported"


@pytest.mark.parametrize(
    ("args", "code", "lines"),
    [
        (
            ("leads",),
            2,
            [
                "error: no database yet at {tmp}/empty.db",
                "hint: any command that writes creates it: `greywatch demo`, `greywatch crawl "
                "SOURCE`, `greywatch registry import FILE` or `greywatch db upgrade` (add --db "
                "URL for another one)",
            ],
        ),
        (
            ("leads", "--since", "last week"),
            2,
            [
                "error: --since: cannot read 'last week' as a date",
                "hint: use 2026-11-01, 2026-11-01T08:00, or a span like 7d, 24h, 2w",
            ],
        ),
    ],
)
def test_real_process_prints_one_line_and_exits_with_the_code(tmp_path, args, code, lines):
    proc = run(*args, "--db", f"sqlite:///{tmp_path}/empty.db")
    assert proc.returncode == code
    assert proc.stderr.splitlines() == [ln.format(tmp=tmp_path) for ln in lines]


SOURCES_YAML = """
sources:
  - id: tieba-watch
    name: 贴吧监控
    preset: urls
    start_urls: ["http://127.0.0.1:9/a.html"]
    schedule: "0 */6 * * *"
  - id: news-watch
    name: 新闻（不定时）
    preset: urls
    start_urls: ["http://127.0.0.1:9/b.html"]
"""


def test_schedule_runs_until_sigterm(sqlite_engine, tmp_path):
    engine = sqlite_engine
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML, encoding="utf-8")
    url = _url(engine)
    proc = subprocess.Popen(
        [sys.executable, "-m", "greywatch", "schedule", "--sources", str(sources), "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no job stored in time"
            with engine.connect() as conn:
                tables = conn.dialect.get_table_names(conn)
                if "apscheduler_jobs" in tables:
                    ids = set(conn.scalars(text("SELECT id FROM apscheduler_jobs")))
                    if ids:
                        break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert ids == {"crawl:tieba-watch"}
    assert "crawl:tieba-watch" in out and "0 */6 * * *" in out and "scheduler stopped" in out
    with Session(engine) as s:
        from storage.models import Source

        names = dict(s.execute(select(Source.id, Source.name)).all())
    assert names == {"tieba-watch": "贴吧监控", "news-watch": "新闻（不定时）"}


def test_schedule_without_scheduled_sources_is_an_error(sqlite_engine, tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML.replace('    schedule: "0 */6 * * *"\n', ""), encoding="utf-8")
    proc = run("schedule", "--sources", str(sources), "--db", _url(sqlite_engine))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {sources}: no source has a schedule")


def test_store_commands_are_registered():
    names = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert {"leads", "runs", "reanalyze", "schedule", "db"} <= names
