"""`greywatch worker` and `greywatch enqueue`: distributed crawling on Celery + Redis.

Thin commands over crawler/tasks.py. Distributed mode needs PostgreSQL (every machine writes
to one database) and Redis (broker, shared frontier, per-domain rate); both are checked
before anything starts, each with a one-line error.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from greywatch.console import make_console
from greywatch.errors import ConfigError
from greywatch.options import DbOption

_out = make_console()
_err = make_console(stderr=True)

# How long `enqueue` and `worker` wait for Redis to answer before saying it is unreachable.
BROKER_CHECK_S = 5.0


def _check_redis(url: str, what: str) -> None:
    """A one-line ConfigError if Redis at `url` does not answer a PING."""
    import redis

    from storage.db import safe_url

    try:
        redis.Redis.from_url(url, socket_connect_timeout=BROKER_CHECK_S).ping()
    except redis.RedisError as exc:
        raise ConfigError(
            f"cannot reach the {what} at {safe_url(url)}: {str(exc).splitlines()[0]}",
            hint="start Redis (redis-server) or set GREYWATCH_BROKER_URL / GREYWATCH_FRONTIER_URL",
        ) from None


def _postgres(db: str | None) -> str:
    """The database URL, refused unless PostgreSQL; its schema made or checked."""
    from crawler.tasks import require_postgres
    from greywatch.options import open_engine
    from storage.db import database_url

    url = database_url(db)
    require_postgres(url)
    open_engine(url, create=True)
    return url


def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Crawls this worker runs at once (each is a crawl process; 1-2 per core).",
        ),
    ] = 2,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            "-Q",
            help="Comma-separated queues to take work from (default: $GREYWATCH_QUEUE or crawl).",
        ),
    ] = None,
    db: DbOption = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics (runs, pages, leads, "
            "analysis time, queue depth; see docs/grafana-greywatch.json). Off by default.",
        ),
    ] = None,
) -> None:
    """Run a crawl worker: take queued runs of sources (`greywatch enqueue`, or `greywatch
    schedule` with GREYWATCH_DISTRIBUTED=1) and crawl them, until SIGTERM or Ctrl-C.

    Start one per machine (or several); they share the work through Redis
    (GREYWATCH_BROKER_URL, default redis://127.0.0.1:6379/0) and store into one PostgreSQL
    database (--db or GREYWATCH_DATABASE_URL). A worker killed mid-crawl loses nothing: its
    task and its pages in hand go back to the queue. Exit code: Celery's (0 after a clean stop).
    """
    from crawler.tasks import QueueSettings, app

    url = _postgres(db)
    from storage.db import dispose_engines

    dispose_engines()  # the pool forks next: no connection of this process may leak into it
    qs = QueueSettings.from_env()
    _check_redis(qs.broker_url, "broker")
    _check_redis(qs.frontier.url, "frontier")
    os.environ["GREYWATCH_DATABASE_URL"] = url  # the tasks' database; never on a command line
    names = [q.strip() for q in (queues or qs.queue).split(",") if q.strip()]
    if metrics_port is not None:  # before the pool forks: its processes record runs
        from crawler.metrics import start_worker_metrics

        start_worker_metrics(metrics_port)
    from crawler.alert_delivery import rules_path_from_env, summary_hook
    from crawler.tasks import RUN_HOOKS

    if rules_path_from_env() is not None:  # alert rules run after each run this worker ends
        RUN_HOOKS.append(summary_hook)
    celery_worker = app.Worker(
        concurrency=concurrency,
        queues=names,
        loglevel=loglevel.upper(),
        hostname=f"greywatch-{os.getpid()}@{socket.gethostname()}",
        # Prefork: a killed pool process is noticed, and its task (acks_late,
        # reject_on_worker_lost) goes back to the queue.
        pool="prefork",
    )
    celery_worker.start()
    raise typer.Exit(celery_worker.exitcode or 0)


def enqueue(
    source_ids: Annotated[list[str], typer.Argument(help="Ids of the sources to crawl.")],
    sources: Annotated[
        Path | None,
        typer.Option(
            "--sources",
            help="Sources YAML, at the same path on every worker (default: the workers' own "
            "$GREYWATCH_SOURCES, ./sources.yaml, or the bundled demo).",
        ),
    ] = None,
    shards: Annotated[
        int,
        typer.Option(
            min=1,
            help="Crawl processes sharing each source's queue (for a large source; they may run "
            "on different workers).",
        ),
    ] = 1,
    queue: Annotated[str | None, typer.Option(help="Queue name (default: crawl).")] = None,
    db: DbOption = None,
) -> None:
    """Queue one run of each source now, for `greywatch worker` to crawl; prints the task ids.

    A source already being crawled is tried again later (GREYWATCH_BUSY=retry, the default)
    or refused (GREYWATCH_BUSY=refuse). Exit 2 on an unknown source, SQLite, or no Redis.
    """
    from crawler.sources import default_sources_path, load_sources
    from crawler.tasks import QueueSettings
    from crawler.tasks import enqueue as put

    path = sources or default_sources_path()
    config = load_sources(path)
    missing = [sid for sid in source_ids if config.get(sid) is None]
    if missing:
        known = ", ".join(s.id for s in config.sources) or "none"
        raise ConfigError(f"{path}: no source '{missing[0]}' (known: {known})")
    _postgres(db)
    qs = QueueSettings.from_env()
    _check_redis(qs.broker_url, "broker")
    sources_arg = str(Path(sources).resolve()) if sources else ""
    for sid in dict.fromkeys(source_ids):
        task_id = put(sid, sources_arg, shards=shards, queue=queue)
        _out.print(f"queued {sid}: task {task_id}", markup=False)


def register(app: typer.Typer) -> None:
    """Add `worker` and `enqueue` to the root app."""
    app.command("worker")(worker)
    app.command("enqueue")(enqueue)
