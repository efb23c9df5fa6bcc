"""Scheduled crawls: one APScheduler job per source with a cron `schedule`.

Jobs live in the greywatch database (table `apscheduler_jobs`) so a restarted scheduler keeps
its timetable. Each run gets a `crawl_runs` row, then the crawl runs in its own process
(`greywatch crawl … --run-id N`), so a crashing or hanging crawl cannot take the scheduler or
the other sources down; if the process dies, the run row is marked failed with the reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from apscheduler.events import EVENT_SCHEDULER_START, SchedulerEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from crawler.paths import run_logs_dir
from pipelines.errors import ConfigError
from pipelines.settings import settings
from storage.db import get_engine, session_scope
from storage.repo import finish_run, get_run, start_run

log = logging.getLogger(__name__)

JOBS_TABLE = "apscheduler_jobs"
JOB_PREFIX = "crawl:"  # job ids are "crawl:<source id>"; other jobs in the table are left alone
ENV_DATABASE_URL = "GREYWATCH_DATABASE_URL"
ENV_CRAWL_CMD = "GREYWATCH_CRAWL_CMD"  # replaces `python -m greywatch crawl` (tests, wrappers)

# A run missed while the host slept or all workers were busy still starts if it is at most
# this late; older misses are dropped, and `coalesce` folds several missed runs into one.
MISFIRE_GRACE_S = 15 * 60
# Crawls run in parallel up to this many: each is a Scrapy process (maybe with Chromium), and
# the hosts we target have 2-4 cores.
MAX_PARALLEL_CRAWLS = 4
# After SIGTERM a crawl gets this long to close its spider and record its run, then SIGKILL.
CHILD_GRACE_S = 20.0
# How often a waiting job thread checks whether the scheduler is shutting down.
POLL_S = 0.5
# Lines of the crawl's output kept in a failed run's message: enough for the exception line.
TAIL_LINES = 8

_stop = threading.Event()  # set on SIGTERM/SIGINT: running crawls are terminated


class ScheduledSource(Protocol):
    """What the scheduler needs of a source (crawler.sources.SourceConfig fits)."""

    id: str
    name: str
    schedule: str | None


@dataclass(frozen=True)
class SimpleSource:
    """A minimal ScheduledSource (tests, callers without a sources file)."""

    id: str
    name: str = ""
    schedule: str | None = None


def crawl_command(
    source_id: str, run_id: int, sources_path: str, prefix: Sequence[str] | None = None
) -> list[str]:
    """The crawl subprocess command line; `prefix` or $GREYWATCH_CRAWL_CMD replaces
    `python -m greywatch crawl`. The database URL travels in the environment, not the command
    line, so a password in it never shows in `ps`."""
    if prefix is None:
        env = settings().crawl_cmd
        prefix = shlex.split(env) if env else [sys.executable, "-m", "greywatch", "crawl"]
    return [
        *prefix,
        *(source_id, "--trigger", "schedule", "--run-id", str(run_id)),
        *(["--sources", sources_path] if sources_path else []),
    ]


def describe_exit(returncode: int) -> str:
    """'exit code 3' or 'killed by signal SIGTERM' for a subprocess return code."""
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last non-empty lines of a log file (the crawl's stdout and stderr)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 16_384))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-lines:])


def _wait(proc: subprocess.Popen[bytes]) -> int:
    """Wait for the crawl; on scheduler shutdown terminate it, and kill it after the grace."""
    terminated_at: float | None = None
    while True:
        try:
            return proc.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            if not _stop.is_set():
                continue
            if terminated_at is None:
                log.info("terminating crawl pid %s", proc.pid)
                proc.terminate()
                terminated_at = time.monotonic()
            elif time.monotonic() - terminated_at > CHILD_GRACE_S:
                log.warning(
                    "killing crawl pid %s (no exit %.0fs after SIGTERM)", proc.pid, CHILD_GRACE_S
                )
                proc.kill()


def _record_exit(db_url: str, run_id: int, returncode: int | None, detail: str) -> None:
    """Close the run row after the crawl process ended, unless the crawl already did."""
    with session_scope(get_engine(db_url)) as session:
        run = get_run(session, run_id)
        if run is None:
            return
        counts = (run.stats or {}, run.pages, run.items, run.errors)
        if returncode == 0:
            if run.status == "running":
                finish_run(
                    session,
                    run_id,
                    "finished",
                    *counts,
                    message="crawl exited 0 without recording its results",
                )
            return
        why = f"crawl {describe_exit(returncode)}" if returncode is not None else "crawl not run"
        if run.status == "failed":
            run.message = f"{run.message}\n({why})".strip()
            return
        finish_run(
            session, run_id, "failed", *counts, message=f"{why}: {detail}" if detail else why
        )


def run_source(
    source_id: str, sources_path: str, db_url: str, command: Sequence[str] | None = None
) -> int | None:
    """The scheduled job: record a run, crawl `source_id` in a subprocess, close the run.

    Module-level so the job store can keep a reference to it. Returns the exit code (None if
    the crawl did not start). Output goes to `run-<id>-<source>.log` in the database's own
    log folder (`crawler.paths.run_logs_dir`).
    """
    if _stop.is_set():
        return None
    with session_scope(get_engine(db_url)) as session:
        run_id = start_run(session, source_id, trigger="schedule")
    logs = run_logs_dir(db_url)
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"run-{run_id}-{source_id}.log"
    cmd = crawl_command(source_id, run_id, sources_path, command)
    log.info("run %s: crawling %s (log %s)", run_id, source_id, log_path)
    returncode: int | None = None
    try:
        with log_path.open("wb") as out:
            # Own session: a terminal Ctrl-C reaches only the scheduler, which stops the
            # crawl itself (Scrapy treats a second signal as "kill now").
            proc = subprocess.Popen(
                cmd,
                # Chinese error text intact; the database URL kept off the command line.
                env={**os.environ, "PYTHONIOENCODING": "utf-8", ENV_DATABASE_URL: db_url},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            returncode = _wait(proc)
        detail = _tail(log_path)
    except OSError as exc:
        detail = f"cannot start {cmd[0]!r}: {exc.strerror or exc}"
    _record_exit(db_url, run_id, returncode, detail)
    after_run(db_url, source_id, run_id)
    log.info(
        "run %s: %s %s",
        run_id,
        source_id,
        describe_exit(returncode) if returncode is not None else "not started",
    )
    return returncode


def after_run(db_url: str, source_id: str, run_id: int) -> None:
    """Once a scheduled run is recorded: count it in the metrics, run the alert rules (when a
    rules file is found), then each function in AFTER_RUN. A failing step is only logged."""
    from crawler.alert_delivery import check_after_run
    from crawler.metrics import record_stored_run

    steps: list[Callable[[str, str, int], object]] = [
        lambda url, _source, run: record_stored_run(url, run),
        lambda url, _source, _run: check_after_run(url),
        *AFTER_RUN,
    ]
    for step in steps:
        try:
            step(db_url, source_id, run_id)
        except Exception:
            log.exception("after run %s of %s: a step failed", run_id, source_id)


# Further steps after each scheduled run: (database URL, source id, run id).
AFTER_RUN: list[Callable[[str, str, int], object]] = []


def enqueue_source(
    source_id: str, sources_path: str, db_url: str, command: Sequence[str] | None = None
) -> str | None:
    """The scheduled job in distributed mode (GREYWATCH_DISTRIBUTED=1): put one run of the
    source on the queue for `greywatch worker` (crawler/tasks.py); returns the task id.

    Same arguments as `run_source`, so the stored jobs keep their shape either way.
    """
    from crawler.tasks import enqueue

    if _stop.is_set():
        return None
    task_id = enqueue(source_id, sources_path)
    log.info("queued a run of %s (task %s)", source_id, task_id)
    return task_id


def cron_trigger(source: ScheduledSource, timezone: Any = None) -> CronTrigger:
    """The source's 5-field cron as a trigger; ConfigError naming the source if it is bad."""
    try:
        return CronTrigger.from_crontab(source.schedule or "", timezone=timezone)
    except ValueError as exc:
        raise ConfigError(f"source {source.id}: field schedule: {exc}") from None


def build_scheduler(
    sources: Iterable[ScheduledSource],
    sources_path: str | Path,
    db_url: str,
    *,
    scheduler_cls: type[BaseScheduler] = BlockingScheduler,
    trigger_for: Callable[[ScheduledSource], BaseTrigger | None] | None = None,
    command: Sequence[str] | None = None,
    enqueue: bool | None = None,
) -> BaseScheduler:
    """A scheduler with one job per scheduled source, stored in the greywatch database.

    Jobs of sources no longer configured (or no longer scheduled) are removed when it starts.
    `trigger_for` overrides the cron trigger (tests); `command` the crawl command prefix.
    `enqueue` (default: GREYWATCH_DISTRIBUTED) makes each job only queue a run for the
    workers (PostgreSQL required) instead of crawling here.
    """
    from crawler.tasks import QueueSettings, require_postgres

    if enqueue is None:
        enqueue = QueueSettings.from_env().distributed
    if enqueue:
        require_postgres(db_url)
    job = enqueue_source if enqueue else run_source
    engine = get_engine(db_url)
    scheduler = scheduler_cls(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)},
        executors={"default": ThreadPoolExecutor(MAX_PARALLEL_CRAWLS)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
    )
    wanted: set[str] = set()
    for source in sources:
        trigger = trigger_for(source) if trigger_for else None
        if trigger is None and source.schedule:
            trigger = cron_trigger(source, scheduler.timezone)
        if trigger is None:
            continue
        job_id = JOB_PREFIX + source.id
        scheduler.add_job(
            job,
            trigger=trigger,
            id=job_id,
            name=f"crawl {source.id}",
            args=[source.id, str(sources_path), db_url, list(command) if command else None],
            replace_existing=True,
        )
        wanted.add(job_id)

    def prune(_event: SchedulerEvent) -> None:
        for job in scheduler.get_jobs():
            if job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                log.info("removing job %s: source no longer scheduled", job.id)
                scheduler.remove_job(job.id)

    scheduler.add_listener(prune, EVENT_SCHEDULER_START)
    return scheduler


def run_forever(scheduler: BaseScheduler, on_start: Callable[[], None] | None = None) -> None:
    """Run a BlockingScheduler until SIGTERM/SIGINT, then shut it down cleanly.

    On a signal: no new crawls start, running ones are terminated (killed after
    CHILD_GRACE_S) and their runs marked failed, and `scheduler.shutdown(wait=True)` returns
    once every job has recorded its end.
    """
    from crawler.metrics import serve_from_env
    from crawler.tasks import QueueSettings

    _stop.clear()
    stopper: list[threading.Thread] = []
    # GREYWATCH_METRICS_PORT: /metrics of this scheduler (queue depth too in distributed mode)
    metrics_server = serve_from_env(queues=QueueSettings.from_env().distributed)

    def on_signal(signum: int, _frame: object) -> None:
        if stopper:
            return
        log.info("%s received: stopping the scheduler", signal.Signals(signum).name)
        _stop.set()
        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.pause()  # no new runs while the running ones wind down
        # shutdown(wait=True) joins the job threads: not from inside a signal handler.
        thread = threading.Thread(
            target=scheduler.shutdown, kwargs={"wait": True}, name="scheduler-shutdown"
        )
        stopper.append(thread)
        thread.start()

    if on_start:
        scheduler.add_listener(lambda _e: on_start(), EVENT_SCHEDULER_START)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        scheduler.start()
    finally:
        for thread in stopper:
            thread.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if metrics_server is not None:
            metrics_server.shutdown()
