"""Database plumbing: which URL, one engine per URL, Alembic migrations, session scopes.

SQLite (a local file, the default) and PostgreSQL both work; the schema is `storage.models`
and is only ever created or changed by the Alembic migrations in `storage/migrations`.
"""

from __future__ import annotations

import os
import re
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from greywatch.errors import StorageError

ENV_URL = "GREYWATCH_DATABASE_URL"
ENV_HOME = "GREYWATCH_HOME"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT = "run `greywatch db upgrade` (add --db URL if you use another database)"

# How long SQLite waits for a writer holding the lock (the scheduler's crawls and a user's
# `greywatch reanalyze` can write at once); WAL lets readers go on meanwhile.
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option marking connections of `session_scope` (the write path), see _sqlite_begin.
_WRITER_OPTION = "greywatch_writer"

# Seconds to wait for a PostgreSQL server before saying it is unreachable (instead of hanging
# on a filtered port for minutes).
PG_CONNECT_TIMEOUT_S = 10

_engines: dict[str, Engine] = {}
_checked: weakref.WeakSet[Engine] = weakref.WeakSet()  # engines whose schema is verified
_lock = threading.Lock()


def data_dir() -> Path:
    """Where greywatch keeps its files: $GREYWATCH_HOME or ~/.local/share/greywatch."""
    home = os.environ.get(ENV_HOME)
    return Path(home).expanduser() if home else Path.home() / ".local" / "share" / "greywatch"


def database_url(url: str | None = None) -> str:
    """The database URL: explicit > $GREYWATCH_DATABASE_URL > SQLite file in `data_dir()`."""
    if url:
        return url
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL]
    return f"sqlite:///{data_dir() / 'greywatch.db'}"


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL for concurrent readers, enforced foreign keys, and a wait instead of 'locked'.

    The driver's own transaction handling is switched off (`_sqlite_begin` does it) so that
    savepoints and DDL are transactional, as SQLAlchemy's pysqlite notes recommend.
    """
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """BEGIN, or BEGIN IMMEDIATE for `session_scope` sessions: those take the write lock up
    front, so parallel crawls writing one file wait (busy_timeout) instead of failing when a
    read transaction upgrades to a write; plain readers never block writers (WAL)."""
    immediate = conn.get_execution_options().get(_WRITER_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(
            f"invalid database URL {url!r}",
            hint="use sqlite:///path/to/greywatch.db or postgresql+psycopg2://user@host/db",
        ) from exc
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            # One shared connection, or every session would see its own empty database.
            kwargs |= {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
            kwargs["connect_args"] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        raise StorageError(f"unsupported database URL {safe_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def get_engine(url: str | None = None) -> Engine:
    """The engine for `database_url(url)`, created once per URL and then reused."""
    resolved = database_url(url)
    with _lock:
        if resolved not in _engines:
            _engines[resolved] = _create_engine(resolved)
        return _engines[resolved]


def dispose_engines() -> None:
    """Close every cached engine (tests, and before dropping a database)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _checked.clear()


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "storage/migrations has no versions"
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for a database never migrated)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise _storage_error(engine, exc) from exc


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest migration, or to `revision` (Alembic `upgrade`, no
    alembic.ini)."""
    cfg = alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except DBAPIError as exc:
        err = _storage_error(engine, exc)
        if "already exists" in str(err):
            err.hint = (
                "the tables exist but the database has no migration record (made with "
                "create_all?): use a new database, or `alembic stamp head` if it matches"
            )
        raise err from exc
    _checked.discard(engine)


def check_schema(engine: Engine) -> None:
    """Raise StorageError (with the upgrade hint) unless the schema is at the newest migration.

    A database built with `Base.metadata.create_all` (no alembic_version) is accepted.
    """
    if engine in _checked:
        return
    current = current_revision(engine)
    head = head_revision()
    where = safe_url(str(engine.url))
    if current is None:
        try:
            tables = set(inspect(engine).get_table_names())
        except OperationalError as exc:
            raise _storage_error(engine, exc) from exc
        if "documents" not in tables:
            raise StorageError(f"database {where} has no greywatch tables", hint=UPGRADE_HINT)
    elif current != head:
        raise StorageError(
            f"database {where} is at schema revision {current}, this greywatch needs {head}",
            hint=UPGRADE_HINT,
        )
    _checked.add(engine)


def _storage_error(engine: Engine, exc: SQLAlchemyError) -> StorageError:
    """A one-line StorageError for a driver error (connection refused, locked, no table)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    hint = None
    if re.search(r'database "[^"]*" does not exist', first):
        hint = "create the database first (e.g. `createdb greywatch`), then `greywatch db upgrade`"
    elif "no such table" in first or "does not exist" in first:
        hint = UPGRADE_HINT
    return StorageError(f"database {safe_url(str(engine.url))}: {first}", hint=hint)


@contextmanager
def session_scope(engine: Engine, write: bool = True) -> Iterator[Session]:
    """A session that commits on success and rolls back on error; checks the schema once.

    `write=False` for listings: on SQLite they then never wait for the write lock. Driver
    operational errors (unreachable server, locked file) become StorageError.
    """
    check_schema(engine)
    session = Session(engine.execution_options(**{_WRITER_OPTION: write}))
    try:
        yield session
        session.commit()
    except OperationalError as exc:
        session.rollback()
        raise _storage_error(engine, exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
