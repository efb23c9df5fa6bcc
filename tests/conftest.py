"""Shared fixtures: real databases (a SQLite file, and PostgreSQL when it is reachable).

`db_url` is an empty database (parametrized sqlite/postgres), `engine` the same database
migrated to head, `session` a Session on it, `sqlite_engine` a migrated SQLite file for tests
that are not about the database. PostgreSQL runs in one database created for this test
session (dropped at the end); each test gets an empty `public` schema in it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage.db import current_revision, dispose_engines, get_engine, head_revision, migrate
from storage.models import Base

PG_DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def _pg_admin_url() -> str:
    return os.environ.get("GREYWATCH_TEST_PG_URL", PG_DEFAULT_URL)


def _drop_orphans(conn: Connection) -> None:
    """Drop test databases left by killed test sessions (their pid no longer runs here)."""
    if not Path("/proc/self").exists():  # no way to tell live sessions apart: leave them
        return
    names = conn.scalars(
        text("SELECT datname FROM pg_database WHERE datname LIKE 'greywatch\\_test\\_%'")
    )
    for name in list(names):
        pid = name.split("_")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """A PostgreSQL database created for this test session, dropped afterwards."""
    admin_url = make_url(_pg_admin_url())
    name = f"greywatch_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as conn:
            _drop_orphans(conn)
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # unreachable server, bad credentials
        admin.dispose()
        reason = f"PostgreSQL at {admin_url.render_as_string()} unusable: {exc}".splitlines()[0]
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; tests copy it instead of migrating again."""
    path = tmp_path_factory.mktemp("template") / "greywatch.db"
    engine = create_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def _pg_reset(url: str) -> None:
    """Drop everything in the test database's public schema."""
    reset = create_engine(url)
    with reset.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    reset.dispose()


def _pg_truncate(url: str) -> None:
    """Empty every table of a migrated test database (DELETE: far faster than TRUNCATE or
    migrating again for the few rows a test writes)."""
    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    eng.dispose()


# Whether the session's PostgreSQL database is currently migrated to head.
_pg_state = {"migrated": False}


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL: a new SQLite file, or an emptied PostgreSQL schema.

    (When the test also uses `engine`, PostgreSQL is emptied there, by truncation.)
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'greywatch.db'}"
    else:
        url = request.getfixturevalue("pg_session_url")
        if "engine" not in request.fixturenames:
            _pg_reset(url)
            _pg_state["migrated"] = False
        yield url
    dispose_engines()


@pytest.fixture
def engine(db_url: str, request: pytest.FixtureRequest) -> Engine:
    """The `db_url` database migrated to head (the cached engine greywatch itself uses)."""
    if db_url.startswith("sqlite:///"):
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), db_url[len("sqlite:///") :])
        return get_engine(db_url)
    if _pg_state["migrated"]:
        _pg_truncate(db_url)
        eng = get_engine(db_url)
        if current_revision(eng) == head_revision():
            return eng
    _pg_state["migrated"] = False
    _pg_reset(db_url)
    eng = get_engine(db_url)
    migrate(eng)
    _pg_state["migrated"] = True
    return eng


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the migrated database; the test commits what it wants to keep."""
    with Session(engine) as s:
        yield s


@pytest.fixture
def sqlite_engine(tmp_path: Path, _sqlite_template: Path) -> Iterator[Engine]:
    """A migrated SQLite file, for tests that need storage but are not about the database."""
    path = tmp_path / "greywatch-sqlite.db"
    shutil.copyfile(_sqlite_template, path)
    yield get_engine(f"sqlite:///{path}")
    dispose_engines()
