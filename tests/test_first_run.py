"""First use of a database: a new one gets its tables from any command; read-only commands
never create a SQLite file or folder; only an outdated or a newer schema is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from greywatch.cli import app
from pipelines.errors import NoDatabaseError, SchemaTooNewError, SchemaTooOldError
from storage import db

SAMPLE = Path(__file__).parents[1] / "storage" / "data" / "sample_registry.csv"
runner = CliRunner()

READ_ONLY = [
    ("leads",),
    ("leads", "--json"),
    ("runs",),
    ("reanalyze",),
    ("actors",),
    ("actor", "1"),
    ("templates",),
    ("template", "1"),
    ("review", "list"),
    ("review", "lead", "1", "--status", "confirmed"),
    ("leads", "export", "--out", "{tmp}/x.csv", "--min-score", "0.5"),
    ("report", "12315", "--all-confirmed", "--out", "{tmp}/packs"),
    ("registry", "match", "--db-entities"),
]


def invoke(tmp_path: Path, *args: str):
    return runner.invoke(app, [a.format(tmp=tmp_path) for a in args])


@pytest.mark.parametrize("args", READ_ONLY)
def test_read_only_command_on_a_missing_database_makes_nothing(tmp_path, args):
    url = f"sqlite:///{tmp_path}/not/yet/greywatch.db"
    result = invoke(tmp_path, *args, "--db", url)
    assert type(result.exception) is NoDatabaseError, result.output
    assert str(result.exception) == f"no database yet at {tmp_path}/not/yet/greywatch.db"
    assert "greywatch crawl SOURCE" in result.exception.hint
    assert not (tmp_path / "not").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("registry", "import", str(SAMPLE)), "imported sample_registry.csv"),
        (("db", "upgrade"), "upgraded from empty to revision"),
    ],
)
def test_writing_command_creates_database_folder_and_tables(tmp_path, args, says):
    path = tmp_path / "new" / "dir" / "greywatch.db"
    result = invoke(tmp_path, *args, "--db", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    assert says in result.output
    engine = db.get_engine(f"sqlite:///{path}")
    assert db.current_revision(engine) == db.head_revision()
    db.dispose_engines()


def test_crawl_creates_the_database_in_greywatch_home(tmp_path):
    """A real `greywatch crawl` (its site refuses connections) on a fresh GREYWATCH_HOME."""
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "sources:\n  - id: gone\n    name: gone\n    preset: urls\n"
        '    start_urls: ["http://127.0.0.1:9/a.html"]\n',
        encoding="utf-8",
    )
    home = tmp_path / "home with space"
    env = {"GREYWATCH_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "greywatch", "crawl", "gone", "--sources", str(sources)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    engine = db.get_engine(f"sqlite:///{home / 'greywatch.db'}", create=False)
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM crawl_runs WHERE source_id = 'gone'")) == 1
    db.dispose_engines()


@pytest.mark.parametrize("args", [("leads",), ("runs",), ("actors",), ("review", "list")])
def test_read_only_command_gives_an_empty_database_its_tables(db_url, args):
    """An empty database that exists (a new PostgreSQL database, a 0-byte file) is not an
    error: the first command creates the tables and finds nothing."""
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).touch()
    result = runner.invoke(app, [*args, "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "documents" in inspect(db.get_engine(db_url)).get_table_names()


def _stamp(url: str, revision: str) -> None:
    engine = db.get_engine(url)
    db.migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    db.dispose_engines()


@pytest.mark.parametrize(
    ("revision", "args", "error", "hint"),
    [
        ("0001", ("leads",), SchemaTooOldError, "run `greywatch db upgrade`"),
        ("0001", ("registry", "import", str(SAMPLE)), SchemaTooOldError, "greywatch db upgrade"),
        ("0099", ("leads",), SchemaTooNewError, "this greywatch is older than the database"),
        ("0099", ("db", "upgrade"), SchemaTooNewError, "this greywatch is older than the database"),
    ],
)
def test_outdated_or_newer_schema_is_refused_with_the_right_hint(
    db_url, revision, args, error, hint
):
    _stamp(db_url, revision)
    result = runner.invoke(app, [*args, "--db", db_url])
    assert type(result.exception) is error, result.output
    assert f"schema revision {revision}" in str(result.exception)
    assert hint in result.exception.hint
    if error is SchemaTooNewError:
        assert "db upgrade" not in result.exception.hint


def test_newer_schema_in_a_real_process_is_one_line_exit_2(tmp_path):
    url = f"sqlite:///{tmp_path}/gw.db"
    _stamp(url, "0099")
    proc = subprocess.run(
        [sys.executable, "-m", "greywatch", "db", "upgrade", "--db", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0].startswith(f"error: database {url} is at schema revision")
    assert proc.stderr.splitlines()[1].startswith("hint: this greywatch is older than the database")
    assert len(proc.stderr.splitlines()) == 2
