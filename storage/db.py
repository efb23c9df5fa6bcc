"""Database plumbing: which URL, one engine per URL, Alembic migrations, session scopes.

SQLite (a local file, the default) and PostgreSQL both work; the schema is `storage.models`
and is only ever created or changed by the Alembic migrations in `storage/migrations`.
"""

from __future__ import annotations

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
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from pipelines.errors import (
    DatabaseURLError,
    NoDatabaseError,
    NotADatabaseError,
    PermissionDeniedError,
    SchemaTooNewError,
    SchemaTooOldError,
    StorageError,
    mask_userinfo,
)
from pipelines.settings import settings

ENV_URL = "GREYWATCH_DATABASE_URL"
ENV_HOME = "GREYWATCH_HOME"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
UPGRADE_HINT = "run `greywatch db upgrade` (add --db URL if you use another database)"
NEWER_HINT = (
    "this greywatch is older than the database: install the greywatch that migrated it "
    "(or a newer one); never downgrade the database"
)
CREATE_HINT = (
    "any command that writes creates it: `greywatch demo`, `greywatch crawl SOURCE`, "
    "`greywatch registry import FILE` or `greywatch db upgrade` (add --db URL for another one)"
)
URL_HINT = "use sqlite:///path/to/greywatch.db or postgresql+psycopg2://user@host:5432/db"

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
    return settings().home


def database_url(url: str | None = None) -> str:
    """The database URL: explicit > $GREYWATCH_DATABASE_URL > SQLite file in `data_dir()`."""
    return url or settings().database_url or f"sqlite:///{settings().default_database_path}"


def safe_url(url: str) -> str:
    """The URL with its whole userinfo (user and password) masked, for messages and logs."""
    return mask_userinfo(url)


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names (~ expanded), or None (in-memory, or not SQLite)."""
    parsed = _parse_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return Path(database).expanduser()


def _parse_url(url: str) -> Any:
    """make_url, with a one-line DatabaseURLError for text that is not a database URL."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(f"invalid database URL {safe_url(url)!r}", hint=URL_HINT) from None
    except ValueError as exc:  # int() of the port is the only ValueError make_url raises
        why = "the port is not a number" if "int()" in str(exc) else str(exc)
        raise DatabaseURLError(f"invalid database URL {safe_url(url)!r}: {why}", URL_HINT) from None
    if "@" in (parsed.host or ""):  # the driver would quote the password's tail as the host
        raise DatabaseURLError(
            f"invalid database URL {safe_url(url)!r}: an '@' in the user or password",
            hint="write each @ in the user or password as %40",
        )
    return parsed


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
    parsed = _parse_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is None:
            # One shared connection, or every session would see its own empty database.
            kwargs |= {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        else:
            parsed = parsed.set(database=str(path))
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


def get_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """The engine for `database_url(url)`, created once per URL and then reused.

    A SQLite file that does not exist yet is made (with its folder) on first use, unless
    `create` is False (read-only commands): then NoDatabaseError says how to make one.
    """
    resolved = database_url(url)
    path = sqlite_path(resolved)
    if path is not None and not path.exists():
        if not create:
            raise NoDatabaseError(f"no database yet at {path}", hint=CREATE_HINT)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PermissionDeniedError(
                f"cannot create the database folder {path.parent}: {exc.strerror}",
                hint="set GREYWATCH_HOME to a writable folder, or give --db URL",
            ) from None
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


def forget_engines_after_fork() -> None:
    """In a freshly forked process: drop the parent's engines without closing their
    connections (they belong to the parent), so this process opens its own."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)
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


def known_revisions() -> set[str]:
    """Every migration this code has (older databases can be upgraded from each)."""
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for a database never migrated)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise _storage_error(engine, exc) from exc


def _refuse_newer(engine: Engine, current: str | None) -> None:
    """SchemaTooNewError when the database is at a migration this code does not know."""
    if current is not None and current not in known_revisions():
        raise SchemaTooNewError(
            f"database {safe_url(str(engine.url))} is at schema revision {current}, newer than "
            f"this greywatch knows (its newest is {head_revision()})",
            hint=NEWER_HINT,
        )


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest migration, or to `revision` (Alembic `upgrade`, no
    alembic.ini); a database migrated by a newer greywatch is refused."""
    _refuse_newer(engine, current_revision(engine))
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


def check_schema(engine: Engine, *, create: bool = True) -> None:
    """Make sure the schema is at the newest migration: a brand-new (empty) database gets its
    tables here when `create`; an outdated or newer schema raises SchemaTooOld/NewError.

    A database built with `Base.metadata.create_all` (no alembic_version) is accepted.
    """
    if engine in _checked:
        return
    current = current_revision(engine)
    _refuse_newer(engine, current)
    where = safe_url(str(engine.url))
    if current is None:
        try:
            tables = set(inspect(engine).get_table_names())
        except DBAPIError as exc:
            raise _storage_error(engine, exc) from exc
        if "documents" not in tables:
            if not create:
                raise SchemaTooOldError(f"database {where} has no greywatch tables", UPGRADE_HINT)
            migrate(engine)
    elif current != head_revision():
        raise SchemaTooOldError(
            f"database {where} is at schema revision {current}, "
            f"this greywatch needs {head_revision()}",
            hint=UPGRADE_HINT,
        )
    _checked.add(engine)


_PERMISSION = re.compile(
    r"permission denied|readonly database|must be owner|no schema has been selected", re.I
)


def _storage_error(engine: Engine, exc: DBAPIError) -> StorageError:
    """A one-line StorageError (of the subclass that fits) for a driver error."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    where = f"database {safe_url(str(engine.url))}"
    if "file is not a database" in first:
        return NotADatabaseError(
            f"{where}: the file is not a SQLite database",
            hint="point --db at a greywatch database, or at a new file name to start one",
        )
    if _PERMISSION.search(first):
        said = first if "permission denied" in first.lower() else f"permission denied ({first})"
        return PermissionDeniedError(
            f"{where}: {said}",
            hint="grant this database user rights on the greywatch tables (and the schema, to "
            "create them), or connect as their owner",
        )
    if re.search(r'database "[^"]*" does not exist', first):
        return NoDatabaseError(
            f"{where}: {first}",
            hint="create the database first (e.g. `createdb greywatch`); its tables are made "
            "on first use",
        )
    hint = UPGRADE_HINT if "no such table" in first or "does not exist" in first else None
    return StorageError(f"{where}: {first}", hint=hint)


def _is_storage_problem(err: StorageError, exc: DBAPIError) -> bool:
    """Whether a driver error is about the database itself (not a bug in a query)."""
    return isinstance(exc, OperationalError) or type(err) is not StorageError


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
    except DBAPIError as exc:
        session.rollback()
        err = _storage_error(engine, exc)
        if not _is_storage_problem(err, exc):
            raise
        raise err from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
