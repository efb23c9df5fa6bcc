"""Distributed mode, the quick parts: settings, the PostgreSQL rule, the Redis frontier's
queue / in-flight / give-back logic and the shared per-domain schedule, on the real Redis at
127.0.0.1:6379 (keys under a prefix of their own, deleted afterwards)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy.exc import IntegrityError, OperationalError

from crawler.frontier import Frontier
from crawler.politeness import DomainRate
from crawler.schedule import SimpleSource, build_scheduler
from crawler.store import is_transient, retry_storage
from crawler.tasks import QueueSettings, require_postgres
from pipelines.errors import ConfigError, PermissionDeniedError, StorageError

REDIS_URL = os.environ.get("GREYWATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(REDIS_URL)
    try:
        r.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} unusable: {exc}")
    yield r
    r.close()


@pytest.fixture
def prefix(client: redis.Redis) -> Iterator[str]:
    name = f"gwtest-{uuid.uuid4().hex[:8]}"
    yield name
    keys = list(client.scan_iter(match=f"{name}*"))
    if keys:
        client.delete(*keys)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("postgresql+psycopg2://u:p@db.example/greywatch", True),
        ("postgresql://127.0.0.1/greywatch", True),
        ("sqlite:///tmp/greywatch.db", False),
        ("sqlite://", False),
    ],
)
def test_distributed_mode_needs_postgres(url: str, ok: bool) -> None:
    if ok:
        require_postgres(url)
        return
    with pytest.raises(ConfigError) as err:
        require_postgres(url)
    assert str(err.value).startswith("distributed mode needs PostgreSQL, not sqlite")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GREYWATCH_BROKER_URL": "amqp://guest@127.0.0.1//"}, "GREYWATCH_BROKER_URL: "),
        ({"GREYWATCH_BUSY": "wait"}, "GREYWATCH_BUSY: 'wait' is not retry or refuse"),
        ({"GREYWATCH_BUSY_RETRY": "soon"}, "GREYWATCH_BUSY_RETRY: 'soon' is not a positive"),
        ({"GREYWATCH_VISIBILITY_TIMEOUT": "-1"}, "GREYWATCH_VISIBILITY_TIMEOUT: '-1' is not"),
        ({"GREYWATCH_FRONTIER_URL": "http://x"}, "GREYWATCH_FRONTIER_URL: 'http://x' is not"),
        ({"GREYWATCH_MEMBER_TTL": "0.1"}, "GREYWATCH_MEMBER_TTL: '0.1' is not a number"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        QueueSettings.from_env(env)
    assert str(err.value).startswith(message)


def test_settings_defaults_and_frontier_follows_the_broker() -> None:
    qs = QueueSettings.from_env({"GREYWATCH_BROKER_URL": "redis://10.0.0.5:6380/2"})
    assert (qs.queue, qs.busy, qs.distributed) == ("crawl", "retry", False)
    assert qs.frontier.url == "redis://10.0.0.5:6380/2"
    assert QueueSettings.from_env({"GREYWATCH_DISTRIBUTED": "1"}).distributed


def test_scheduler_that_enqueues_refuses_sqlite(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs PostgreSQL"):
        build_scheduler(
            [SimpleSource("a", schedule="0 * * * *")],
            "",
            f"sqlite:///{tmp_path / 'g.db'}",
            enqueue=True,
        )


@pytest.mark.parametrize(
    "command", [["worker"], ["enqueue", "bbs-demo"], ["schedule", "--enqueue"]]
)
def test_cli_refuses_sqlite_in_one_line(command: list[str], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'g.db'}"
    out = subprocess.run(
        [sys.executable, "-m", "greywatch", *command, "--db", db],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"GREYWATCH_HOME": str(tmp_path)},
        timeout=120,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("error: distributed mode needs PostgreSQL, not sqlite")
    assert lines[1].startswith("hint: ")
    assert not (tmp_path / "g.db").exists()  # nothing written


def test_frontier_filters_duplicates_and_keeps_what_it_hands_out(client, prefix) -> None:
    a = Frontier(client, prefix, "src", member="a")
    a.join(30)
    assert a.push(b"req-1", -1, b"fp1")
    assert not a.push(b"req-1 again", -1, b"fp1")  # seen
    assert a.push(b"retry-of-1", -1, None)  # a retry is never filtered
    assert a.push(b"req-2", 0, b"fp2")
    assert a.pop() == b"req-1"  # higher priority (lower score) first
    assert a.counts() == (a.counts().__class__(pending=2, inflight=1, capped=False))
    a.ack([b"req-1"])
    assert a.counts().inflight == 0


def test_dead_members_requests_go_back_to_the_queue(client, prefix) -> None:
    alive, dead = Frontier(client, prefix, "src", "alive"), Frontier(client, prefix, "src", "dead")
    alive.join(30)
    dead.join(1)
    for n in range(3):
        alive.push(f"r{n}".encode(), 0, f"f{n}".encode())
    held = [dead.pop(), dead.pop()]
    assert alive.reap() == 0  # still beating
    client.delete(dead.k("alive:dead"))  # its heartbeat expired: the process is gone
    assert alive.reap() == 2
    back = sorted(alive.pop() for _ in range(3))
    assert back == sorted([*held, b"r2"]) and alive.pop() is None
    assert alive.live_members() == ["alive"]


def test_a_closing_member_hands_back_what_it_did_not_finish(client, prefix) -> None:
    a = Frontier(client, prefix, "src", "a")
    a.join(30)
    a.push(b"r", 0, b"f")
    assert a.pop() == b"r"
    assert a.leave() == 1
    assert a.counts().pending == 1 and a.live_members() == []


def test_max_pages_holds_across_members(client, prefix) -> None:
    a, b = Frontier(client, prefix, "src", "a"), Frontier(client, prefix, "src", "b")
    for n in range(5):
        a.push(f"r{n}".encode(), 0, f"f{n}".encode())
    got = [a.pop(cap=3), b.pop(cap=3), a.pop(cap=3), b.pop(cap=3)]
    assert got[3] is None and all(got[:3])
    assert a.counts(cap=3).capped


def test_stats_of_members_add_up(client, prefix) -> None:
    a, b = Frontier(client, prefix, "src", "a"), Frontier(client, prefix, "src", "b")
    a.add_stats(
        {"response_received_count": 3, "elapsed_time_seconds": 1.5, "x": "text"}, "finished"
    )
    b.add_stats({"response_received_count": 4, "elapsed_time_seconds": 2.0}, "shutdown")
    stats, reasons = a.summed_stats()
    assert stats == {"response_received_count": 7, "elapsed_time_seconds": 3.5}
    assert reasons == {"a": "finished", "b": "shutdown"}
    a.reset()
    assert a.summed_stats() == ({}, {})


def test_domain_schedule_is_shared_between_clients(client, prefix) -> None:
    one = DomainRate(client, 10.0, prefix=prefix)
    two = DomainRate(redis.Redis.from_url(REDIS_URL), 10.0, prefix=prefix)
    waits = [one.book("bbs.example.cn"), two.book("bbs.example.cn"), one.book("bbs.example.cn")]
    assert waits[0] == pytest.approx(0.0, abs=0.5)
    assert waits[1] == pytest.approx(10.0, abs=0.5)  # booked after the first, by another client
    assert waits[2] == pytest.approx(20.0, abs=0.5)
    assert one.book("other.example.cn") == pytest.approx(0.0, abs=0.5)  # per domain


def _operational() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection"))


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (_operational(), True),
        (StorageError("database x: server closed the connection"), False),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (PermissionDeniedError("permission denied"), False),
        (ValueError("bad page"), False),
    ],
)
def test_only_connection_failures_are_retried(exc: Exception, transient: bool) -> None:
    assert is_transient(exc) is transient


def test_storage_error_caused_by_a_lost_connection_is_retried() -> None:
    try:
        try:
            raise _operational()
        except OperationalError as cause:
            raise StorageError("database x: server closed the connection") from cause
    except StorageError as exc:
        assert is_transient(exc)


def test_retry_storage_waits_out_an_outage_and_gives_up_on_real_errors() -> None:
    calls: list[int] = []
    pauses: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _operational()
        return "saved"

    assert retry_storage(flaky, sleep=pauses.append) == "saved"
    assert len(calls) == 3 and len(pauses) == 2

    def broken() -> None:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        retry_storage(broken, sleep=pauses.append)
    with pytest.raises(OperationalError):  # an outage longer than the deadline
        retry_storage(lambda: (_ for _ in ()).throw(_operational()), deadline_s=0, sleep=print)


@pytest.mark.parametrize(("enqueue", "job"), [(True, "enqueue_source"), (False, "run_source")])
def test_scheduler_jobs_enqueue_in_distributed_mode(pg_session_url: str, enqueue, job) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = build_scheduler(
        [SimpleSource("a", schedule="0 * * * *"), SimpleSource("b")],
        "/srv/sources.yaml",
        pg_session_url,
        scheduler_cls=BackgroundScheduler,
        enqueue=enqueue,
    )
    (only,) = scheduler.get_jobs()
    assert only.func.__name__ == job
    assert only.args[:2] == ("a", "/srv/sources.yaml")


def test_distributed_setting_makes_the_scheduler_enqueue(pg_session_url, monkeypatch) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    monkeypatch.setenv("GREYWATCH_DISTRIBUTED", "1")
    scheduler = build_scheduler(
        [SimpleSource("a", schedule="0 * * * *")],
        "",
        pg_session_url,
        scheduler_cls=BackgroundScheduler,
    )
    assert scheduler.get_jobs()[0].func.__name__ == "enqueue_source"
