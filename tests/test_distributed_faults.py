"""Distributed mode under faults, with real processes and servers on 127.0.0.1: Celery
workers (`greywatch worker`), Redis, PostgreSQL and a generated site (bench/scale.py).

- a worker killed with SIGKILL mid-run: its pages in hand go back to the shared queue, its
  task is delivered again, and every page is stored exactly once;
- the broker restarting: the worker reconnects and takes the next run;
- PostgreSQL unreachable for a few seconds (a TCP proxy we cut): batches are retried and
  nothing is lost.

Slow (each starts crawl processes): marked `slow`; about 2-3 minutes together.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from bench.scale import SiteServer, fresh_postgres, sources_yaml
from tests.proc_util import children, wait_gone

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("GREYWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PG_ADMIN = os.environ.get(
    "GREYWATCH_TEST_PG_URL", "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres"
)
RUN_BOUND_S = 240.0
# Pages a killed member can hold: its requests in flight (16) plus a batch not yet saved (50).
REFETCH_BOUND = 16 + 50
MEMBER_RECEIVED = r"greywatch\.crawl_member\[([0-9a-f-]+)\] received"


@pytest.fixture
def pg_db() -> Iterator[str]:
    try:
        with fresh_postgres(PG_ADMIN) as url:
            yield url
    except Exception as exc:  # unreachable server
        if "could not connect" in str(exc) or "Connection refused" in str(exc):
            pytest.skip(f"PostgreSQL unusable: {str(exc).splitlines()[0]}")
        raise


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"gwfault-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)


def wait_for(check: Callable[[], bool], bound_s: float, what: str) -> None:
    deadline = time.monotonic() + bound_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound_s:.0f} s: {what}")
        time.sleep(0.5)


def query(db: str, sql: str) -> list[tuple]:
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def runs(db: str) -> list[tuple]:
    return query(db, "SELECT id, status, message, stats FROM crawl_runs ORDER BY id")


def all_runs_over(db: str, n: int) -> Callable[[], bool]:
    def check() -> bool:
        rows = runs(db)
        return len(rows) >= n and all(r[1] in ("finished", "failed") for r in rows)

    return check


def environment(tmp: Path, db: str, broker: str, prefix: str) -> dict[str, str]:
    return os.environ | {
        "GREYWATCH_HOME": str(tmp / "home"),
        "GREYWATCH_DATABASE_URL": db,
        "GREYWATCH_BROKER_URL": broker,
        "GREYWATCH_QUEUE": prefix,
        "GREYWATCH_FRONTIER_PREFIX": prefix,
        "GREYWATCH_MEMBER_TTL": "5",
        "GREYWATCH_VISIBILITY_TIMEOUT": "5",
        "GREYWATCH_BUSY_RETRY": "2",
        "GREYWATCH_ANALYSIS_WORKERS": "0",  # fewer processes on a small test machine
        "GREYWATCH_LOG_LEVEL": "INFO",
    }


class Worker:
    """`greywatch worker -c 1` in a subprocess, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "greywatch", "worker", "-c", "1", "--loglevel", "INFO"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )

    def tree(self) -> list[int]:
        """The worker and all its descendants (pool process, crawl process)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children(pid))
        return found

    def kill9(self) -> list[int]:
        pids = self.tree()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)
        return pids

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        pids = self.tree()
        self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)
        for pid in wait_gone(pids, 5):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def enqueue(env: dict[str, str], sources: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "greywatch", "enqueue", *args, "--sources", str(sources)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def stored(db: str) -> tuple[int, int]:
    ((count, distinct),) = query(db, "SELECT count(*), count(DISTINCT url) FROM documents")
    return int(count), int(distinct)


def test_a_killed_worker_loses_no_page_and_stores_none_twice(tmp_path, pg_db, prefix) -> None:
    items = 200
    with SiteServer(items) as site:
        sources = tmp_path / "sources.yaml"
        # 25 requests/s to the site across all workers (crawler/politeness.py): slow enough
        # to kill a worker mid-run.
        sources.write_text(sources_yaml(site.base, delay=0.04), encoding="utf-8")
        env = environment(tmp_path, pg_db, REDIS_URL, prefix)
        workers = [Worker(env, tmp_path / f"worker-{n}.log") for n in range(2)]
        try:
            enqueue(env, sources, "bench", "--shards", "2")
            wait_for(lambda: stored(pg_db)[0] >= 60, RUN_BOUND_S, "60 pages stored")
            ((leader,),) = query(pg_db, "SELECT owner_pid FROM crawl_leases")
            victim = next(w for w in workers if leader not in w.tree())
            member_task = re.search(
                r"greywatch\.crawl_member\[([0-9a-f-]+)\] received", victim.text()
            )
            assert member_task, "the member task ran on the other worker"
            assert len(victim.tree()) >= 3  # worker, pool process, crawl process
            gone = victim.kill9()
            assert not wait_gone(gone, 10)
            workers.append(Worker(env, tmp_path / "worker-new.log"))  # takes the task again
            wait_for(all_runs_over(pg_db, 1), RUN_BOUND_S, "the run recorded")
            # The member task comes back (visibility timeout 5 s) to a surviving worker.
            redelivered = f"greywatch.crawl_member[{member_task.group(1)}] received"
            survivors = [w for w in workers if w is not victim]
            wait_for(
                lambda: any(redelivered in w.text() for w in survivors), 60, "task redelivered"
            )
        finally:
            for worker in workers:
                worker.stop()
        ((_run_id, status, message, _stats),) = runs(pg_db)
        assert status == "finished", message
        assert stored(pg_db) == (items, items)  # every page, none twice
        urls = {row[0] for row in query(pg_db, "SELECT url FROM documents")}
        assert urls == {f"{site.base}/item/{n}.html" for n in range(items)}
        assert all(n for (n,) in query(pg_db, "SELECT run_id FROM documents"))
        # Only what the killed worker held was fetched again (a member that came after the
        # run was recorded did not start the source over).
        again = sum(n - 1 for path, n in site.hits.items() if path.startswith("/item/"))
        assert again <= REFETCH_BOUND, again
        assert site.hits.get("/index.html") == 1


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut: open connections dropped, new ones closed."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_postgres_cut_for_seconds_loses_nothing(tmp_path, pg_db, prefix, monkeypatch) -> None:
    from sqlalchemy.engine import make_url

    from crawler.tasks import QueueSettings, lead_run
    from storage.db import dispose_engines

    items = 200
    url = make_url(pg_db)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    env = environment(tmp_path, via_proxy, REDIS_URL, prefix)
    for name in ("GREYWATCH_HOME", "GREYWATCH_FRONTIER_PREFIX", "GREYWATCH_ANALYSIS_WORKERS"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.setenv("GREYWATCH_MEMBER_TTL", "5")
    result: list = []
    try:
        with SiteServer(items) as site:
            sources = tmp_path / "sources.yaml"
            sources.write_text(sources_yaml(site.base, delay=0.04), encoding="utf-8")
            qs = QueueSettings.from_env(env)
            run = threading.Thread(
                target=lambda: result.append(lead_run("bench", str(sources), via_proxy, qs))
            )
            run.start()
            wait_for(lambda: stored(pg_db)[0] >= 40, RUN_BOUND_S, "40 pages stored")
            proxy.cut()
            time.sleep(4)  # the outage: the crawl keeps fetching, its saves wait
            cut_at = stored(pg_db)[0]
            proxy.up = True
            run.join(RUN_BOUND_S)
            assert not run.is_alive()
    finally:
        proxy.close()
        dispose_engines()
    assert cut_at < items  # the outage really hit the crawl mid-way
    (summary,) = result
    assert summary.status == "finished", summary.message
    assert summary.stats.get("greywatch/storage/retries", 0) > 0  # batches were retried
    assert "greywatch/errors/storage" not in summary.stats  # no page given up on
    assert stored(pg_db) == (items, items)


def test_workers_reconnect_after_the_broker_restarts(tmp_path, pg_db, prefix) -> None:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not installed")
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]

    def start_redis() -> subprocess.Popen:
        proc = subprocess.Popen(
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=port)
        wait_for(lambda: _pings(client), 10, "redis-server up")
        return proc

    broker = start_redis()
    worker = None
    try:
        with SiteServer(30) as site:
            sources = tmp_path / "sources.yaml"
            yaml = sources_yaml(site.base, source_id="before")
            yaml += sources_yaml(site.base, source_id="after").split("sources:\n", 1)[1]
            sources.write_text(yaml, encoding="utf-8")
            env = environment(tmp_path, pg_db, f"redis://127.0.0.1:{port}/0", prefix)
            worker = Worker(env, tmp_path / "worker.log")
            enqueue(env, sources, "before")
            wait_for(all_runs_over(pg_db, 1), RUN_BOUND_S, "the first run recorded")
            broker.terminate()  # the broker restarts (and, without persistence, forgets all)
            broker.wait(10)
            time.sleep(2)
            broker = start_redis()
            enqueue(env, sources, "after")
            wait_for(all_runs_over(pg_db, 2), RUN_BOUND_S, "a run after the restart")
            assert worker.proc.poll() is None  # the same worker process, reconnected
    finally:
        if worker is not None:
            worker.stop()
        broker.terminate()
        broker.wait(10)
    statuses = [(r[1], r[2]) for r in runs(pg_db)]
    assert [s for s, _ in statuses] == ["finished", "finished"], statuses


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_a_plain_crawl_waits_out_a_postgres_cut(tmp_path, pg_db) -> None:
    """`greywatch crawl` (no queue) retries its batches while PostgreSQL is unreachable."""
    from sqlalchemy.engine import make_url

    items = 150
    url = make_url(pg_db)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    via_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        with SiteServer(items) as site:
            sources = tmp_path / "sources.yaml"
            sources.write_text(sources_yaml(site.base, delay=0.04), encoding="utf-8")
            crawl = subprocess.Popen(
                [sys.executable, "-m", "greywatch", "crawl", "bench", "--sources", str(sources)],
                cwd=ROOT,
                env=os.environ
                | {"GREYWATCH_HOME": str(tmp_path), "GREYWATCH_DATABASE_URL": via_proxy},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

            def forty_stored() -> bool:
                assert crawl.poll() is None, crawl.communicate()[0]  # ended before the cut
                return stored(pg_db)[0] >= 40

            wait_for(forty_stored, RUN_BOUND_S, "40 pages stored")
            proxy.cut()
            time.sleep(4)  # the outage: the crawl keeps fetching, its saves wait
            cut_at = stored(pg_db)[0]
            proxy.up = True
            output, _ = crawl.communicate(timeout=RUN_BOUND_S)
    finally:
        proxy.close()
    assert crawl.returncode == 0, output
    assert cut_at < items  # the outage really hit the crawl mid-way
    assert stored(pg_db) == (items, items)
    ((stats,),) = query(pg_db, "SELECT stats FROM crawl_runs")
    assert stats.get("greywatch/storage/retries", 0) > 0
    assert "greywatch/errors/storage" not in stats
