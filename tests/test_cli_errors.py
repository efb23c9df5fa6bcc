"""Every mistake a user can make is one line naming the problem (and a hint), exit 2, never a
traceback; nothing printed carries terminal control characters or a URL's password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from rich.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from greywatch.console import SafeConsole, terminal_safe
from pipelines.analyze import analyze_text
from pipelines.errors import (
    ConfigError,
    DatabaseURLError,
    InputError,
    NotADatabaseError,
    PermissionDeniedError,
    StorageError,
)
from storage import repo
from storage.db import dispose_engines

runner = CliRunner()
AD = "征信修复 不成功不收费 深圳市鑫诚信息咨询有限公司 电话13800138000"
# Clear the screen, set the window title, and a C1 CSI (0x9b) that some terminals obey.
EVIL_TITLE = "\x1b[2J\x1b]0;owned\x07征信修复\x9b31m专业\x00处理\u2028"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greywatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | (env or {}),
    )


# --- output paths (item 9) and nothing to report (item 10) -----------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("leads", "export", "--min-score", "0.5", "--out", "{dir}"), "--out {dir}: is a folder"),
        (
            ("leads", "export", "--min-score", "0.5", "--out", "{file}/leads.csv"),
            "--out {file}/leads.csv: {file} is a file, not a folder",
        ),
        (("report", "12315", "--all-confirmed", "--out", "{file}"), "--out {file}: is a file"),
        (
            ("report", "12315", "--business", "x", "--out", "{file}/a"),
            "--out {file}/a: {file} is a file, not a folder",
        ),
    ],
)
def test_output_path_mistakes(sqlite_engine, tmp_path, args, message):
    names = {"dir": str(tmp_path / "folder"), "file": str(tmp_path / "plain.txt")}
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    argv = [a.format(**names) for a in args]
    result = runner.invoke(app, [*argv, "--db", _url(sqlite_engine)])
    assert type(result.exception) is InputError, result.output
    assert str(result.exception) == message.format(**names)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "greywatch-sqlite.db",
        "plain.txt",
    ]


def test_report_with_nothing_confirmed_fails_saying_so(sqlite_engine, tmp_path):
    proc = run("report", "12315", "--all-confirmed", "--out", str(tmp_path / "packs"),
               "--db", _url(sqlite_engine))  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: no business is reviewed as confirmed: no evidence pack to build",
        "hint: confirm one first: greywatch review business NAME --status confirmed",
    ]
    assert not (tmp_path / "packs").exists()


# --- sources files (item 9) -------------------------------------------------------------------

SOURCE = "sources:\n  - id: bbs\n    name: 论坛\n    preset: {preset}\n"
SOURCE += '    start_urls: ["https://bbs.example.cn/"]\n'


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '    fields: {title: "h1["}\n',
            "source 'bbs': field 'fields.title': invalid CSS selector",
        ),
        (
            '    fields: {author: "//a[@class="}\n',
            "source 'bbs': field 'fields.author': invalid XPath '//a[@class='",
        ),
        (
            '    links: {detail_links: ["ul > > li"]}\n',
            "source 'bbs': field 'links.detail_links': invalid CSS selector 'ul > > li'",
        ),
        (
            '    links: {next_page: ["(//a"]}\n',
            "source 'bbs': field 'links.next_page': invalid XPath '(//a'",
        ),
    ],
)
def test_sources_check_rejects_bad_selectors(tmp_path, extra, message):
    path = tmp_path / "sources.yaml"
    path.write_text(SOURCE.format(preset="listing" if "detail" in extra else "urls") + extra)
    result = runner.invoke(app, ["sources", "check", str(path)])
    assert type(result.exception) is ConfigError, result.output
    assert str(result.exception).startswith(f"{path}: {message}")
    assert "\n" not in str(result.exception)


def test_sources_check_good_selectors_pass(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        SOURCE.format(preset="urls")
        + '    fields: {title: "#thread_subject", body: "//div[@id=\'post\']//text()"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["sources", "check", str(path)])
    assert result.exit_code == 0, result.output


def test_sources_check_non_utf8_file_is_one_line(tmp_path):
    path = tmp_path / "sources.yaml"
    path.write_bytes(SOURCE.format(preset="urls").encode("gbk"))
    proc = run("sources", "check", str(path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: {path}: not UTF-8 text (byte 31)",
        "hint: save as UTF-8",
    ]


# --- database URLs and files (items 9, 12) --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("sqlite:///{tmp}/notes.txt", NotADatabaseError, "the file is not a SQLite database"),
        ("postgresql+psycopg2://u:pw@db.example:54x2/gw", DatabaseURLError, "port is not a number"),
        ("postgresql+psycopg2://gw:se@cr@t@127.0.0.1:1/gw", DatabaseURLError, "an '@' in the user"),
        ("mysql+nodriver://h/db", StorageError, "unsupported database URL"),
    ],
)
def test_database_url_mistakes(tmp_path, url, error, message):
    (tmp_path / "notes.txt").write_text("not a database\n" * 100, encoding="utf-8")
    result = runner.invoke(app, ["runs", "--db", url.format(tmp=tmp_path)])
    assert type(result.exception) is error, result.output
    assert message in str(result.exception)
    for secret in ("pw@", "se@cr", "cr@t", ":se"):
        assert secret not in str(result.exception)
    dispose_engines()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://gw:s3cr%40et@127.0.0.1:1/gw",  # unreachable: the driver's message
        "postgresql+psycopg2://gw:se@cr@t@127.0.0.1:1/gw",  # a raw @: refused before connecting
        "sqlite:///{tmp}/notes.txt",
    ],
)
def test_real_process_error_is_one_line_without_password(tmp_path, url):
    (tmp_path / "notes.txt").write_text("not a database\n" * 100, encoding="utf-8")
    proc = run("leads", "--db", url.format(tmp=tmp_path))
    assert proc.returncode in (1, 2) and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("error: ") and len(lines) <= 2 and "Traceback" not in proc.stderr
    for secret in ("s3cr", "%40et", "se@", "cr@t"):
        assert secret not in proc.stderr


@pytest.fixture(params=["no schema usage", "schema usage only"])
def no_privileges_url(engine: Engine, request: pytest.FixtureRequest) -> str:
    """The migrated PostgreSQL test database, as a role that may log in (and at most see the
    schema) but not read or create tables."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    role = f"gw_noperm_{uuid.uuid4().hex[:8]}"
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'p@ss:w/rd'"))
        if request.param == "schema usage only":
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
    url = make_url(_url(engine)).set(username=role, password="p@ss:w/rd")
    yield url.render_as_string(hide_password=False)
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("args", [("leads",), ("runs",), ("db", "upgrade")])
def test_postgres_permission_denied(no_privileges_url, args):
    result = runner.invoke(app, [*args, "--db", no_privileges_url])
    assert type(result.exception) is PermissionDeniedError, result.output
    assert "permission denied" in str(result.exception)
    assert "p@ss" not in str(result.exception) and "w/rd" not in str(result.exception)
    assert "grant" in result.exception.hint


# --- GREYWATCH_* variables (items 9, 19) ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GREYWATCH_DOWNLOAD_TIMEOUT", "soon", "'soon' is not a whole number of seconds"),
        ("GREYWATCH_ANALYSIS_WORKERS", "-1", "'-1' is not a whole number (0 or more)"),
        ("GREYWATCH_MAX_DOC_MB", "big", "'big' is not a positive number of MB"),
        ("GREYWATCH_LOG_LEVEL", "LOUD", "'LOUD' is not one of DEBUG, INFO"),
        ("GREYWATCH_DEMO_URL", "127.0.0.1:8765", "'127.0.0.1:8765' is not an http(s) URL"),
    ],
)
def test_bad_environment_value_is_one_line(tmp_path, name, value, message):
    proc = run("leads", "--db", f"sqlite:///{tmp_path}/x.db", env={name: value})
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"error: {name}: {message}")
    assert lines[1:] == [f"hint: fix or unset {name}"]
    assert not (tmp_path / "x.db").exists()


# --- terminal escapes (item 11) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "plain", "json"),
    [
        ("a\x1b[2Jb", "a[2Jb", "a\\u001b[2Jb"),
        ("t\x1b]0;x\x07", "t]0;x", "t\\u001b]0;x\\u0007"),
        ("c\x9b1m", "c1m", "c\\u009b1m"),
        ("keep\tand\nnewline", "keep\tand\nnewline", "keep\tand\nnewline"),
        ("del\x7f\r\u2028", "del", "del\\u007f\\u000d\\u2028"),
        ("征信修复", "征信修复", "征信修复"),
    ],
)
def test_terminal_safe(raw, plain, json):
    assert terminal_safe(raw) == plain
    assert terminal_safe(raw, json=True) == json


def test_console_strips_controls_from_table_cells_but_keeps_its_styles(capsys):
    console = SafeConsole(force_terminal=True, color_system="standard", width=80)
    table = Table("title")
    table.add_row(EVIL_TITLE)
    console.print(table, style="bold")
    out = capsys.readouterr().out
    assert "\x1b[1m" in out  # rich's bold
    assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out
    assert "\x9b" not in out and "\x00" not in out and "征信修复" in out


@pytest.fixture
def evil_db(sqlite_engine: Engine) -> str:
    with Session(sqlite_engine) as s:
        page = repo.PageRecord(
            url="https://bbs.example.cn/t/1",
            body=f"<html><p>{AD}</p></html>".encode(),
            fetched_at=datetime(2026, 11, 1, tzinfo=UTC),
            source_id="bbs\x1b[2J",
            title=EVIL_TITLE,
        )
        repo.save_page(s, page, analyze_text(AD, doc_id="1", title=EVIL_TITLE), "v1")
        s.commit()
    return _url(sqlite_engine)


@pytest.mark.parametrize("args", [("leads",), ("leads", "--json")])
def test_leads_never_print_raw_controls(evil_db, args):
    proc = run(*args, "--db", evil_db)
    assert proc.returncode == 0, proc.stderr
    assert "征信修复" in proc.stdout
    for control in ("\x1b", "\x07", "\x9b", "\x00", "\u2028"):
        assert control not in proc.stdout


# --- input size cap (item 13) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("in.jsonl", '{"id": 1, "text": "%s"}\n' % ("征" * 2000), "in.jsonl: line 1 is larger"),
        ("in.jsonl", '\n{"id": 2, "text": "%s"}\n' % ("信" * 2000), "in.jsonl: line 2 is larger"),
        ("in.txt", "修复\n" * 1000, "in.txt: the document is larger"),
        ("in.html", "<p>" + "复" * 3000 + "</p>", "in.html: the document is larger"),
    ],
)
def test_analyze_caps_lines_and_pages(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    proc = run("analyze", str(path), env={"GREYWATCH_MAX_DOC_MB": "0.001"})  # 1,048 characters
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {tmp_path}/{message} than 0.001 MB (the cap set by GREYWATCH_MAX_DOC_MB)",
        "hint: split it, or raise the cap: GREYWATCH_MAX_DOC_MB=20",
    ]


def test_analyze_keeps_good_lines_around_an_over_long_one(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [{"id": "a", "text": AD}, {"id": "b", "text": "征" * 2000}, {"id": "c", "text": AD}]
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    proc = run("analyze", str(path), env={"GREYWATCH_MAX_DOC_MB": "0.001"})
    assert proc.returncode == 2
    assert [json.loads(ln)["id"] for ln in proc.stdout.splitlines()] == ["a", "c"]
    assert proc.stderr.startswith(f"error: {path}: line 2 is larger than 0.001 MB")
