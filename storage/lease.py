"""One crawl per source at a time: a lease row per source, with owner and heartbeat.

A crawl takes the lease before it starts (`acquire`), refreshes it while it runs
(`LeaseKeeper`) and gives it back when it ends (`release`). Taking it is atomic on SQLite and
PostgreSQL alike: an INSERT that the primary key lets only one process win, or, over a stale
holder, an UPDATE that compares the old holder's `token` (compare-and-swap). A holder is stale
only when its process is provably gone: its heartbeat is older than the TTL, or it ran on
this host and its pid no longer exists. Only then is its run called "interrupted".

Built to carry distributed crawling later: the owner's host is recorded, a holder on another
host is judged by its heartbeat alone, and the token keeps two takers from both winning.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from pipelines.errors import GreywatchError
from pipelines.timeutil import as_utc
from storage.db import session_scope
from storage.models import CrawlLease, utcnow

# A holder that has not refreshed its heartbeat for this long is taken to be dead. Generous:
# a crawl whose database is briefly locked must not lose its lease.
LEASE_TTL_S = 120.0
# How often a running crawl refreshes its heartbeat (well inside the TTL).
HEARTBEAT_S = 15.0
# How often a waiting crawl tries again.
RETRY_S = 1.0

_LEASES = CrawlLease.__table__


class SourceBusyError(GreywatchError):
    """Another live crawl holds the source's lease: try again later (exit 1)."""

    exit_code = 1


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a source's lease."""

    source_id: str
    token: str
    run_id: int | None
    pid: int
    host: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        """'run 7, pid 4242 on host crawl-1, since 2026-12-01 14:00:03 UTC'."""
        run = f"run {self.run_id}, " if self.run_id is not None else ""
        since = self.acquired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"{run}pid {self.pid} on host {self.host}, since {since}"


@dataclass(frozen=True)
class Lease:
    """A lease this process holds; `took_over` is the dead holder it replaced, if any."""

    source_id: str
    token: str
    took_over: Holder | None = None


def this_host() -> str:
    """The name recorded as a lease owner's host."""
    return socket.gethostname()[:255]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def is_stale(holder: Holder, now: datetime, ttl_s: float = LEASE_TTL_S) -> bool:
    """A holder whose process is gone: heartbeat expired, or a dead pid on this host."""
    if now - as_utc(holder.heartbeat_at) > timedelta(seconds=ttl_s):
        return True
    return holder.host == this_host() and not pid_alive(holder.pid)


def _holder(row: Any) -> Holder:
    return Holder(
        row.source_id,
        row.token,
        row.run_id,
        row.owner_pid,
        row.owner_host,
        as_utc(row.acquired_at),
        as_utc(row.heartbeat_at),
    )


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction (on SQLite it takes the write lock up front: BEGIN IMMEDIATE)."""
    with session_scope(engine) as session:
        yield session.connection()


def _row(conn: Connection, source_id: str) -> Holder | None:
    row = conn.execute(select(_LEASES).where(_LEASES.c.source_id == source_id)).first()
    return _holder(row) if row is not None else None


def current_holder(engine: Engine, source_id: str) -> Holder | None:
    """The lease on `source_id` as stored (live or stale), or None."""
    with engine.connect() as conn:
        return _row(conn, source_id)


def try_acquire(engine: Engine, source_id: str, ttl_s: float = LEASE_TTL_S) -> Lease | Holder:
    """Take the lease if it is free or stale: the Lease, else the live Holder in the way."""
    token, now = uuid.uuid4().hex, utcnow()
    mine = {"token": token, "owner_pid": os.getpid(), "owner_host": this_host()}
    mine |= {"run_id": None, "acquired_at": now, "heartbeat_at": now}
    try:
        with engine.begin() as conn:
            conn.execute(insert(_LEASES).values(source_id=source_id, **mine))
        return Lease(source_id, token)
    except IntegrityError:
        pass  # held, maybe by a dead process
    with _writing(engine) as conn:
        old = _row(conn, source_id)
        if old is None:  # released meanwhile: the next attempt inserts
            return try_acquire(engine, source_id, ttl_s)
        if not is_stale(old, now, ttl_s):
            return old
        swapped = conn.execute(
            update(_LEASES)
            .where(_LEASES.c.source_id == source_id, _LEASES.c.token == old.token)
            .values(**mine)
        )
    if swapped.rowcount == 1:
        return Lease(source_id, token, took_over=old)
    return try_acquire(engine, source_id, ttl_s)  # another taker won the swap: look again


def acquire(
    engine: Engine,
    source_id: str,
    wait_s: float = 0.0,
    *,
    ttl_s: float = LEASE_TTL_S,
    retry_s: float = RETRY_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Lease:
    """Take the source's lease, waiting up to `wait_s` seconds for a live holder to finish.

    Raises SourceBusyError (one line naming the holder) if it is still held after that.
    """
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        got = try_acquire(engine, source_id, ttl_s)
        if isinstance(got, Lease):
            return got
        if time.monotonic() >= deadline:
            waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
            raise SourceBusyError(
                f"source {source_id} is already being crawled ({got.describe()}){waited}",
                hint="wait for that crawl to end, or pass --wait SECONDS to queue behind it",
            )
        sleep(min(retry_s, max(deadline - time.monotonic(), 0.0)) or retry_s)


def _mine(lease: Lease) -> ColumnElement[bool]:
    return (_LEASES.c.source_id == lease.source_id) & (_LEASES.c.token == lease.token)


def attach_run(engine: Engine, lease: Lease, run_id: int) -> None:
    """Record which run holds the lease (the run row exists only once the crawl opens)."""
    with _writing(engine) as conn:
        conn.execute(update(_LEASES).where(_mine(lease)).values(run_id=run_id))


def heartbeat(engine: Engine, lease: Lease) -> bool:
    """Refresh the lease; False if it is no longer ours (taken over as stale)."""
    with _writing(engine) as conn:
        done = conn.execute(update(_LEASES).where(_mine(lease)).values(heartbeat_at=utcnow()))
    return done.rowcount == 1


def release(engine: Engine, lease: Lease) -> None:
    """Give the lease back (only if still ours)."""
    with _writing(engine) as conn:
        conn.execute(delete(_LEASES).where(_mine(lease)))


class LeaseKeeper:
    """A daemon thread refreshing a set of leases every `interval` seconds until stopped.

    A thread, not a reactor timer: a reactor busy for a minute must not cost the lease.
    """

    def __init__(self, engine: Engine, leases: list[Lease], interval: float = HEARTBEAT_S):
        self.engine, self.leases, self.interval = engine, list(leases), interval
        self.lost: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)

    def start(self) -> LeaseKeeper:
        """Start refreshing; returns self."""
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for lease in self.leases:
                try:
                    ok = heartbeat(self.engine, lease)
                except (
                    SQLAlchemyError,
                    GreywatchError,
                ):  # database briefly unusable: try again next beat
                    continue
                if not ok and lease.source_id not in self.lost:
                    self.lost.append(lease.source_id)

    def stop(self) -> None:
        """Stop refreshing (the leases stay until released)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
