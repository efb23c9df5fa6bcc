"""storage.lease on SQLite and PostgreSQL: one holder at a time, stale holders only when their
process is provably gone, atomic taking under contention, waiting with a timeout."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert

from storage import lease
from storage.lease import Holder, Lease, SourceBusyError
from storage.models import CrawlLease, utcnow


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _plant(engine: Engine, *, pid: int, host: str, age_s: float = 0.0, run_id: int = 41) -> None:
    """A lease row as another process would have left it."""
    beat = utcnow() - timedelta(seconds=age_s)
    with engine.begin() as conn:
        conn.execute(
            insert(CrawlLease).values(
                source_id="bbs",
                token="theirs",
                run_id=run_id,
                owner_pid=pid,
                owner_host=host,
                acquired_at=beat,
                heartbeat_at=beat,
            )
        )


def test_one_holder_at_a_time(engine: Engine) -> None:
    mine = lease.acquire(engine, "bbs")
    assert isinstance(mine, Lease) and mine.took_over is None
    lease.attach_run(engine, mine, 7)
    other = lease.try_acquire(engine, "bbs")
    assert isinstance(other, Holder) and (other.run_id, other.host) == (7, lease.this_host())
    with pytest.raises(SourceBusyError) as busy:
        lease.acquire(engine, "bbs")
    message = str(busy.value)
    assert message.startswith("source bbs is already being crawled (run 7, pid ")
    assert "\n" not in message and busy.value.exit_code == 1
    assert isinstance(lease.try_acquire(engine, "news"), Lease)  # other sources are free
    lease.release(engine, mine)
    assert lease.current_holder(engine, "bbs") is None
    assert isinstance(lease.try_acquire(engine, "bbs"), Lease)


@pytest.mark.parametrize(
    ("host", "pid", "age_s", "stale"),
    [
        ("this", "dead", 0, True),  # our host, process gone: interrupted
        ("this", "alive", 0, False),  # our host, process running: busy
        ("crawl-2", "dead", 0, False),  # another host: its pids mean nothing here
        ("crawl-2", "dead", lease.LEASE_TTL_S + 5, True),  # …but a silent heartbeat does
        ("this", "alive", lease.LEASE_TTL_S + 5, True),  # a hung holder too
    ],
)
def test_stale_holders_are_taken_over(
    engine: Engine, host: str, pid: str, age_s: float, stale: bool
) -> None:
    owner_pid = _dead_pid() if pid == "dead" else 1
    _plant(engine, pid=owner_pid, host=lease.this_host() if host == "this" else host, age_s=age_s)
    got = lease.try_acquire(engine, "bbs")
    if stale:
        assert isinstance(got, Lease) and got.took_over is not None
        assert (got.took_over.run_id, got.took_over.pid) == (41, owner_pid)
        assert lease.current_holder(engine, "bbs").token == got.token
    else:
        assert isinstance(got, Holder) and got.token == "theirs"


def test_a_lease_taken_over_is_no_longer_refreshed_or_released(engine: Engine) -> None:
    _plant(engine, pid=_dead_pid(), host=lease.this_host())
    ghost = Lease("bbs", "theirs")
    new = lease.try_acquire(engine, "bbs")
    assert isinstance(new, Lease)
    assert lease.heartbeat(engine, ghost) is False
    lease.release(engine, ghost)  # the old owner's release must not free the new holder
    assert lease.current_holder(engine, "bbs").token == new.token
    assert lease.heartbeat(engine, new) is True


@pytest.mark.parametrize("planted", [False, True])
def test_exactly_one_of_many_takers_wins(engine: Engine, planted: bool) -> None:
    """Eight threads at once, on a free lease or over a dead holder: one winner."""
    if planted:
        _plant(engine, pid=_dead_pid(), host=lease.this_host())
    barrier = threading.Barrier(8)
    results: list[Lease | Holder] = []

    def take() -> None:
        barrier.wait()
        results.append(lease.try_acquire(engine, "bbs"))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if isinstance(r, Lease)]
    assert len(results) == 8 and len(winners) == 1
    assert lease.current_holder(engine, "bbs").token == winners[0].token


def test_waiting_takes_the_lease_once_the_holder_releases(engine: Engine) -> None:
    first = lease.acquire(engine, "bbs")
    waits: list[float] = []

    def holder_finishes(seconds: float) -> None:  # stands in for time passing
        waits.append(seconds)
        if len(waits) == 2:
            lease.release(engine, first)

    second = lease.acquire(engine, "bbs", wait_s=600, retry_s=0.01, sleep=holder_finishes)
    assert len(waits) == 2 and second.token != first.token


def test_waiting_gives_up_after_the_timeout(engine: Engine) -> None:
    lease.acquire(engine, "bbs")
    with pytest.raises(SourceBusyError, match=r"after waiting 0\.2 s"):
        lease.acquire(engine, "bbs", wait_s=0.2, retry_s=0.05)


def test_keeper_refreshes_and_notices_a_lost_lease(engine: Engine) -> None:
    mine = lease.acquire(engine, "bbs")
    before = lease.current_holder(engine, "bbs").heartbeat_at
    keeper = lease.LeaseKeeper(engine, [mine, Lease("gone", "x")], interval=0.05).start()
    try:
        deadline = threading.Event()
        for _ in range(200):
            if keeper.lost and lease.current_holder(engine, "bbs").heartbeat_at > before:
                break
            deadline.wait(0.05)
    finally:
        keeper.stop()
    assert keeper.lost == ["gone"]
    assert lease.current_holder(engine, "bbs").heartbeat_at > before
