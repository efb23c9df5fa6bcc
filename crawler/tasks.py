"""Distributed crawling on Celery with Redis as broker: crawl runs as queue tasks.

`crawl_source` is one run of a source: it takes the source's lease (storage/lease.py; the
same one `greywatch crawl` takes, so one run per source across every machine), records the
run, asks for `shards - 1` helper tasks (`crawl_member`) and crawls as the first member in a
subprocess. Members share the source's frontier and duplicate filter in Redis
(crawler/frontier.py) and its per-domain rate (crawler/politeness.py); when the queue is
drained, the task sums the members' stats into the run row and gives the lease back.

Tasks are at-least-once (acks_late + reject_on_worker_lost: a killed worker's task returns to
the queue), so a second delivery of a live run meets the lease and waits or is refused, and
saves are idempotent by URL. `python -m crawler.tasks member …` is the crawl subprocess.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from crawler.frontier import (
    DEFAULT_REDIS,
    ENV_BROKER,
    RUN_MARK,
    Frontier,
    FrontierConfig,
    connect,
    wait_for_members,
)
from pipelines.errors import ConfigError

log = logging.getLogger(__name__)

ENV_QUEUE = "GREYWATCH_QUEUE"
ENV_BUSY = "GREYWATCH_BUSY"  # retry | refuse: what a task does when its source is being crawled
ENV_BUSY_RETRY = "GREYWATCH_BUSY_RETRY"
ENV_VISIBILITY = "GREYWATCH_VISIBILITY_TIMEOUT"
ENV_DISTRIBUTED = "GREYWATCH_DISTRIBUTED"  # 1: `greywatch schedule` enqueues instead of crawling
DEFAULT_QUEUE = "crawl"
# A busy source's task is tried again this much later (seconds).
BUSY_RETRY_S = 60.0
# Redis transport: a task not acknowledged this long after delivery is delivered again (a
# killed worker's task comes back after it). Longer than a long crawl, or a running crawl's
# task is delivered twice (harmless: the copy meets the lease), shorter than anyone's patience.
VISIBILITY_TIMEOUT_S = 3600
# After its own crawl ended, the run waits this long for its other members to finish.
MEMBERS_BOUND_S = 300.0
# A task that finished its run is remembered this long, so a late second delivery of it (the
# broker's visibility timeout passed during a long crawl) does not crawl the source again.
DONE_TTL_S = 7 * 24 * 3600


class DuplicateDelivery(Exception):
    """The broker delivered a task again that is running or has run: nothing to do."""


def _done_key(qs: QueueSettings, task_id: str) -> str:
    return f"{qs.frontier.prefix}:done:{task_id}"


@dataclass(frozen=True)
class QueueSettings:
    """Distributed mode's environment: broker, queue name, busy policy, visibility timeout."""

    broker_url: str = DEFAULT_REDIS
    queue: str = DEFAULT_QUEUE
    busy: str = "retry"
    busy_retry_s: float = BUSY_RETRY_S
    visibility_s: int = VISIBILITY_TIMEOUT_S
    distributed: bool = False
    frontier: FrontierConfig = field(default_factory=FrontierConfig)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> QueueSettings:
        """Read and check the GREYWATCH_* variables of distributed mode (ConfigError names one)."""
        env = dict(os.environ if env is None else env)
        broker = env.get(ENV_BROKER) or DEFAULT_REDIS
        if not broker.startswith(("redis://", "rediss://")):
            raise ConfigError(
                f"{ENV_BROKER}: {broker!r} is not a redis:// URL",
                hint="greywatch's queue runs on Redis, e.g. redis://127.0.0.1:6379/0",
            )
        busy = (env.get(ENV_BUSY) or "retry").strip().lower()
        if busy not in ("retry", "refuse"):
            raise ConfigError(f"{ENV_BUSY}: {busy!r} is not retry or refuse", f"fix {ENV_BUSY}")
        return cls(
            broker_url=broker,
            queue=env.get(ENV_QUEUE) or DEFAULT_QUEUE,
            busy=busy,
            busy_retry_s=_number(env, ENV_BUSY_RETRY, BUSY_RETRY_S),
            visibility_s=int(_number(env, ENV_VISIBILITY, VISIBILITY_TIMEOUT_S)),
            distributed=(env.get(ENV_DISTRIBUTED) or "").strip().lower() in ("1", "true", "yes"),
            frontier=FrontierConfig.from_env(env),
        )

    def to_env(self) -> dict[str, str]:
        """The variables a crawl subprocess needs to join the frontier."""
        return {
            ENV_BROKER: self.broker_url,
            "GREYWATCH_FRONTIER_URL": self.frontier.url,
            "GREYWATCH_FRONTIER_PREFIX": self.frontier.prefix,
            "GREYWATCH_MEMBER_TTL": str(self.frontier.member_ttl_s),
        }


def _number(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(f"{name}: {raw!r} is not a positive number", hint=f"fix or unset {name}")
    return value


def require_postgres(db_url: str) -> None:
    """Distributed mode shares one database between machines: PostgreSQL, never SQLite."""
    from sqlalchemy.engine import make_url

    from storage.db import safe_url

    try:
        backend = make_url(db_url).get_backend_name()
    except Exception:  # storage.db names bad URLs itself, later
        return
    if backend != "postgresql":
        raise ConfigError(
            f"distributed mode needs PostgreSQL, not {backend} ({safe_url(db_url)})",
            hint="give --db postgresql+psycopg2://user:pw@host/db or set GREYWATCH_DATABASE_URL",
        )


def make_app(qs: QueueSettings) -> Celery:
    """The Celery app: Redis broker, late acks, one task at a time per worker process."""
    celery = Celery("greywatch", set_as_current=False)
    celery.conf.update(
        broker_url=qs.broker_url,
        broker_transport_options={
            "visibility_timeout": qs.visibility_s,
            # Look for unacknowledged tasks of dead workers every few seconds, not every
            # ~100 s (kombu's default sweep): a killed worker's run comes back soon after
            # its visibility timeout.
            "unacked_restore_interval": max(1, min(10, qs.visibility_s // 2)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a restarting broker is waited for, forever
        task_default_queue=qs.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a crawl is long: never hold a second one back
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_ignore_result=True,  # results live in crawl_runs, not in the broker
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
    )
    return celery


settings_now = QueueSettings.from_env()
app = make_app(settings_now)


@worker_process_init.connect
def _own_connections(**_: Any) -> None:
    """A pool process starts with its own database connections, never the parent's: two
    processes on one PostgreSQL socket garble each other's replies."""
    from storage.db import forget_engines_after_fork

    forget_engines_after_fork()


# Called with each RunSummary once its run row is written (metrics, alerts: add yours).
RUN_HOOKS: list[Callable[[RunSummary], None]] = []


@dataclass
class RunSummary:
    """How one queued run of a source ended, as recorded in crawl_runs."""

    source_id: str
    run_id: int | None
    status: str
    message: str = ""
    pages: int = 0
    items: int = 0
    errors: int = 0
    members: int = 0
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


def _db_url() -> str:
    from storage.db import database_url

    url = database_url(None)
    require_postgres(url)
    return url


def _sources_path(sources_path: str) -> Path:
    from crawler.sources import default_sources_path

    return Path(sources_path) if sources_path else default_sources_path()


def member_command(source_id: str, run_id: int, sources_path: str) -> list[str]:
    """The crawl subprocess of one member (dies with the task process that started it)."""
    cmd = [sys.executable, "-m", "crawler.tasks", "member", source_id, "--run-id", str(run_id)]
    cmd += ["--parent", str(os.getpid())]
    return cmd + (["--sources", sources_path] if sources_path else [])


def run_member_process(
    source_id: str, run_id: int, sources_path: str, db_url: str, qs: QueueSettings
) -> tuple[int | None, Path]:
    """Crawl as a member in a subprocess; (exit code or None if it never started, log file)."""
    from crawler.paths import run_logs_dir

    logs = run_logs_dir(db_url)
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"run-{run_id}-{source_id}-{uuid.uuid4().hex[:6]}.log"
    env = {**os.environ, **qs.to_env(), "PYTHONIOENCODING": "utf-8"}
    env["GREYWATCH_DATABASE_URL"] = db_url  # in the environment: never shown by `ps`
    try:
        with log_path.open("wb") as out:
            proc = subprocess.run(
                member_command(source_id, run_id, sources_path),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        return proc.returncode, log_path
    except OSError as exc:
        log.error("run %s: cannot start the crawl process: %s", run_id, exc)
        return None, log_path


def _frontier(qs: QueueSettings, source_id: str) -> Frontier:
    return Frontier(connect(qs.frontier.url), qs.frontier.prefix, source_id, member="task")


def _prepare_frontier(frontier: Frontier, run_id: int) -> bool:
    """Resume what a run that never ended left behind, else start clean; True if resumed."""
    resumed = bool(frontier.r.exists(frontier.k(RUN_MARK))) and frontier.has_state()
    if not resumed:
        frontier.reset()
    frontier.r.set(frontier.k(RUN_MARK), run_id)
    return resumed


def _outcome(stats: dict[str, Any], reasons: dict[str, str], exit_code: int | None, tail: str):
    """(status, message) of the whole run from the members' summed stats and close reasons."""
    from crawler.extensions import OK_REASONS, run_outcome
    from crawler.schedule import describe_exit

    bad = sorted({r for r in reasons.values() if r not in OK_REASONS})
    reason = bad[0] if bad else (next(iter(reasons.values()), "finished"))
    status, message = run_outcome(stats, reason)
    if exit_code not in (0, None) and status == "finished":
        status, message = "failed", f"crawl {describe_exit(exit_code)}: {tail}".strip()
    elif exit_code is None and not reasons:
        status, message = "failed", "crawl not run"
    return status, f"{message}; {len(reasons)} crawl processes"


def lead_run(
    source_id: str,
    sources_path: str,
    db_url: str,
    qs: QueueSettings,
    *,
    shards: int = 1,
    trigger: str = "queue",
    add_member: Callable[[int], None] | None = None,
    task_id: str = "",
) -> RunSummary:
    """One run of a source, lease held throughout: record it, start the other members
    (`add_member(run_id)` per extra shard), crawl as a member, sum up, give the lease back.

    Raises SourceBusyError when another live run holds the source, DuplicateDelivery when
    the broker delivered task `task_id` again after it ran.
    """
    from crawler.schedule import _tail
    from crawler.sources import load_sources
    from storage.db import get_engine, session_scope
    from storage.lease import LeaseKeeper, acquire, attach_run, release
    from storage.repo import finish_run, mark_interrupted, start_run, upsert_source

    began = time.monotonic()
    engine = get_engine(db_url)
    frontier = _frontier(qs, source_id)
    if task_id and frontier.r.exists(_done_key(qs, task_id)):
        raise DuplicateDelivery(f"task {task_id} already ran its crawl of {source_id}")
    source = load_sources(_sources_path(sources_path)).get(source_id)
    if source is None:
        raise ConfigError(f"no source {source_id!r} in {_sources_path(sources_path)}")
    # Busy: the caller retries later or refuses. A second delivery of a task still running
    # lands here too; once that run is over its retry meets the "done" mark above.
    lease = acquire(engine, source_id)
    keeper = LeaseKeeper(engine, [lease]).start()
    try:
        with session_scope(engine) as session:
            upsert_source(session, source.id, source.name, source.model_dump(mode="json"))
            run_id = start_run(session, source_id, trigger)
            dead = lease.took_over
            if dead is not None and dead.run_id not in (None, run_id):
                mark_interrupted(session, dead.run_id, run_id)
        attach_run(engine, lease, run_id)
        if _prepare_frontier(frontier, run_id):
            log.warning(
                "run %s: resuming %s's frontier left by an unfinished run", run_id, source_id
            )
        for _ in range(max(shards, 1) - 1):
            if add_member is not None:
                add_member(run_id)
        code, log_path = run_member_process(source_id, run_id, sources_path, db_url, qs)
        wait_for_members(frontier, MEMBERS_BOUND_S)
        # Members opening from now on leave at once; one that joined just before is waited for.
        frontier.r.delete(frontier.k(RUN_MARK))
        still = wait_for_members(frontier, MEMBERS_BOUND_S)
        if still:
            log.warning(
                "run %s: members still alive after %.0f s: %s", run_id, MEMBERS_BOUND_S, still
            )
        stats, reasons = frontier.summed_stats()
        status, message = _outcome(stats, reasons, code, _tail(log_path))
        summary = RunSummary(
            source_id,
            run_id,
            status,
            message,
            pages=int(stats.get("response_received_count", 0)),
            items=int(stats.get("greywatch/pages_saved", 0)),
            errors=int(stats.get("greywatch/errors", 0)),
            members=len(reasons),
            seconds=time.monotonic() - began,
            stats=dict(stats),
        )
        with session_scope(engine) as session:
            finish_run(
                session,
                run_id,
                status,
                {**stats, "finish_reasons": reasons, "members": len(reasons)},
                pages=summary.pages,
                items=summary.items,
                errors=summary.errors,
                message=message,
            )
        frontier.reset()  # recorded: the next run starts clean
        if task_id:
            frontier.r.set(_done_key(qs, task_id), run_id, ex=DONE_TTL_S)
    finally:
        keeper.stop()
        release(engine, lease)
    for hook in RUN_HOOKS:
        try:
            hook(summary)
        except Exception:
            log.exception("run hook %r failed", hook)
    return summary


def join_run(source_id: str, sources_path: str, run_id: int, db_url: str, qs: QueueSettings) -> str:
    """Crawl as a further member of run `run_id` if it is still the source's live run."""
    from storage.db import get_engine
    from storage.lease import current_holder, is_stale
    from storage.models import utcnow

    holder = current_holder(get_engine(db_url), source_id)
    if holder is None or holder.run_id != run_id or is_stale(holder, utcnow()):
        log.info("run %s of %s is over: nothing to join", run_id, source_id)
        return "over"
    code, _ = run_member_process(source_id, run_id, sources_path, db_url, qs)
    return "done" if code == 0 else f"member exit {code}"


@app.task(bind=True, name="greywatch.crawl_source", acks_late=True, reject_on_worker_lost=True)
def crawl_source(self: Any, source_id: str, sources_path: str = "", shards: int = 1) -> dict:
    """Queue task: one run of `source_id` over `shards` crawl processes (see lead_run)."""
    from storage.lease import SourceBusyError

    qs = QueueSettings.from_env()

    def add_member(run_id: int) -> None:
        crawl_member.apply_async((source_id, sources_path, run_id), queue=qs.queue)

    try:
        summary = lead_run(
            source_id,
            sources_path,
            _db_url(),
            qs,
            shards=shards,
            add_member=add_member,
            task_id=str(self.request.id or ""),
        )
    except DuplicateDelivery as exc:
        log.info("%s: dropping this delivery", exc)
        return {"source": source_id, "status": "duplicate", "message": str(exc)}
    except SourceBusyError as exc:
        if qs.busy == "retry":
            log.info("%s; trying again in %.0f s", exc, qs.busy_retry_s)
            raise self.retry(countdown=qs.busy_retry_s, max_retries=None) from None
        log.warning("%s; refused (GREYWATCH_BUSY=refuse)", exc)
        return {"source": source_id, "status": "busy", "message": str(exc)}
    return {"source": source_id, "run": summary.run_id, "status": summary.status}


@app.task(bind=True, name="greywatch.crawl_member", acks_late=True, reject_on_worker_lost=True)
def crawl_member(self: Any, source_id: str, sources_path: str, run_id: int) -> str:
    """Queue task: help run `run_id` of `source_id` crawl its shared frontier."""
    return join_run(source_id, sources_path, run_id, _db_url(), QueueSettings.from_env())


def enqueue(
    source_id: str, sources_path: str = "", shards: int = 1, queue: str | None = None
) -> str:
    """Put one run of a source on the queue; returns the task id."""
    result = crawl_source.apply_async(
        (source_id, sources_path, shards), queue=queue or app.conf.task_default_queue
    )
    return str(result.id)


def _member_main(argv: list[str]) -> int:
    """`python -m crawler.tasks member SOURCE --run-id N [--sources F] [--parent PID]`."""
    parser = argparse.ArgumentParser(prog="python -m crawler.tasks member")
    parser.add_argument("source_id")
    parser.add_argument("--run-id", type=int, required=True)
    parser.add_argument("--sources", default="")
    parser.add_argument("--parent", type=int, default=0)
    args = parser.parse_args(argv)
    if args.parent:
        from crawler.lifeline import die_with_parent

        die_with_parent(args.parent)  # a killed worker takes its crawl with it
    from crawler.frontier import distributed_overrides
    from crawler.runner import crawl_settings, run_member
    from crawler.sources import load_sources
    from pipelines.settings import settings
    from storage.db import database_url

    db_url = database_url(None)
    source = load_sources(_sources_path(args.sources)).get(args.source_id)
    if source is None:
        print(f"error: no source {args.source_id!r}", file=sys.stderr)
        return 2
    config = FrontierConfig.from_env()
    overrides = distributed_overrides(crawl_settings(db_url), config)
    result = run_member(source, db_url, args.run_id, overrides, log_level=settings().log_level)
    print(f"member {result.source_id}: {result.status}: {result.message}", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["member"]:
        sys.exit(_member_main(sys.argv[2:]))
    print("usage: python -m crawler.tasks member SOURCE --run-id N", file=sys.stderr)
    sys.exit(2)
