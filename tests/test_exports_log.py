"""`greywatch exports`: the export log listed newest first, as a table or JSON, read-only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from greywatch.errors import NoDatabaseError
from storage.exports import filter_text
from storage.models import ExportLog

runner = CliRunner()

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _log(engine: Engine) -> None:
    """Three exports: a CSV on Nov 1, an XLSX on Nov 3, a report on Nov 2 (UTC times)."""
    with Session(engine) as session:
        session.add_all(
            [
                ExportLog(
                    at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
                    user="alice",
                    what="leads",
                    format="csv",
                    filters={"categories": ["credit_repair"], "min_score": 0.5, "since": None},
                    rows=5,
                    path="/tmp/leads.csv",
                    sha256=SHA_A,
                ),
                ExportLog(
                    at=datetime(2026, 11, 3, 1, 15, tzinfo=UTC),
                    user="bob",
                    what="leads",
                    format="xlsx",
                    filters={"sources": ["bbs"], "review": []},
                    rows=2,
                    path="/tmp/leads.xlsx",
                    sha256=SHA_B,
                ),
                ExportLog(
                    at=datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
                    user="carol",
                    what="report",
                    format="12315",
                    filters={"business": "深圳市鑫诚信息咨询有限公司"},
                    rows=3,
                    path="/tmp/pack",
                    sha256=SHA_C,
                ),
            ]
        )
        session.commit()


def _run(*args: str) -> Any:
    return runner.invoke(app, ["exports", *args], env={"COLUMNS": "250"})


@pytest.mark.parametrize(
    ("args", "users"),
    [
        ((), ["bob", "carol", "alice"]),  # newest first
        (("--limit", "2"), ["bob", "carol"]),
        (("--limit", "0"), ["bob", "carol", "alice"]),
    ],
)
def test_exports_json_newest_first(sqlite_engine: Engine, args: tuple[str, ...], users: list[str]):
    _log(sqlite_engine)
    result = _run("--json", "--db", _url(sqlite_engine), *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [d["user"] for d in data] == users
    first = data[0]
    assert first["at"] == "2026-11-03T09:15:00+08:00"  # ISO 8601 with its offset
    assert first["rows"] == 2 and first["sha256"] == SHA_B and first["format"] == "xlsx"
    assert first["filters"] == {"sources": ["bbs"], "review": []}


def test_exports_table(sqlite_engine: Engine) -> None:
    _log(sqlite_engine)
    result = _run("--db", _url(sqlite_engine))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "3 exports" in out and "北京时间" in out
    assert out.index("bob") < out.index("carol") < out.index("alice")
    assert "2026-11-03 09:15" in out  # 01:15 UTC in Beijing time
    assert "categories=credit_repair min_score=0.5" in out
    for sha in (SHA_A, SHA_B, SHA_C):
        assert sha in out.replace("\n", "").replace("│", "").replace(" ", "")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "no exports recorded yet"),
        (("--json",), "[]"),
    ],
)
def test_exports_when_there_are_none(
    sqlite_engine: Engine, args: tuple[str, ...], expected: str
) -> None:
    result = _run("--db", _url(sqlite_engine), *args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith(expected)


@pytest.mark.parametrize("args", [(), ("--json",)])
def test_exports_never_create_a_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere" / "greywatch.db"
    result = _run("--db", f"sqlite:///{missing}", *args)
    assert isinstance(result.exception, NoDatabaseError)
    assert "no database yet" in str(result.exception)
    assert not missing.exists() and not missing.parent.exists()


@pytest.mark.parametrize(
    ("filters", "text"),
    [
        ({"categories": ["credit_repair", "debt_relief"]}, "categories=credit_repair,debt_relief"),
        ({"since": None, "min_score": 0.0, "review": [], "kinds": ["promo"]}, "kinds=promo"),
        ({"min_score": 0.7, "actor_id": 3}, "min_score=0.7 actor_id=3"),
        ({}, "-"),
    ],
)
def test_filter_text(filters: dict[str, Any], text: str) -> None:
    assert filter_text(filters) == text
