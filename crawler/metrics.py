"""Prometheus metrics of crawl runs, served by `greywatch schedule` and `greywatch worker`.

Crawls run in subprocesses (a scheduler job's `greywatch crawl`, a worker's member process),
so the crawl itself exports nothing: when a run ends, the process that started it records the
figures from the run's stored Scrapy stats (the crawl_runs row, or the summed stats of a
distributed run). That keeps the numbers identical to what `greywatch runs` shows, costs the
crawl nothing, and a crawl killed mid-way is still counted once its run is closed. Celery's
prefork pool records in its child processes, so a worker uses prometheus_client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, `enable_multiprocess`); a scheduler, one
process with threads, needs none. Queue depth is read from Redis at scrape time.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_PORT = "GREYWATCH_METRICS_PORT"  # serve metrics on this port (scheduler); unset: off
ENV_HOST = "GREYWATCH_METRICS_HOST"  # address to bind; default loopback only
DEFAULT_HOST = "127.0.0.1"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Run durations: from a quick re-crawl of a small forum to a long crawl of a big site.
DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
# Stat prefixes that say what became of a fetched page (reason = the rest of the key).
OUTCOME_PREFIXES = {
    "greywatch/skipped/": "skipped",
    "greywatch/errors/": "error",
    "greywatch/traps/": "trap",
    "greywatch/dropped/wait_for/": "dropped",
}
STATUS_PREFIX = "downloader/response_status_count/"
EXCEPTION_PREFIX = "downloader/exception_type_count/"
# Stats the metrics extension (crawler/metrics_ext.py) adds to every crawl.
ANALYSIS_SECONDS = "greywatch/analysis/seconds"
ANALYSIS_PAGES = "greywatch/analysis/pages"


@dataclass(frozen=True)
class RunFigures:
    """What one run adds to the counters, taken from its Scrapy stats."""

    pages: dict[str, int] = field(default_factory=dict)  # HTTP status (or exception) → count
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)  # (outcome, reason)
    leads: int = 0
    analysis_seconds: float = 0.0
    analysed: int = 0


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def run_figures(stats: dict[str, Any]) -> RunFigures:
    """The counters' increments for a run's stats (pure: stats dict in, figures out)."""
    pages: dict[str, int] = {}
    outcomes: dict[tuple[str, str], int] = {}
    for key, value in stats.items():
        amount = int(_number(value))
        if amount <= 0:
            continue
        if key.startswith(STATUS_PREFIX):
            pages[key[len(STATUS_PREFIX) :]] = amount
        elif key.startswith(EXCEPTION_PREFIX):
            name = key[len(EXCEPTION_PREFIX) :].rsplit(".", 1)[-1]
            pages[f"exception:{name}"] = pages.get(f"exception:{name}", 0) + amount
        else:
            for prefix, outcome in OUTCOME_PREFIXES.items():
                if key.startswith(prefix) and key != prefix.rstrip("/"):
                    outcomes[(outcome, key[len(prefix) :])] = amount
                    break
    saved = int(_number(stats.get("greywatch/pages_saved")))
    unchanged = int(_number(stats.get("greywatch/skipped_unchanged")))
    if saved:
        outcomes[("saved", "")] = saved
    if unchanged:
        outcomes[("unchanged", "")] = unchanged
    return RunFigures(
        pages=pages,
        outcomes=outcomes,
        leads=int(_number(stats.get("greywatch/leads"))),
        analysis_seconds=_number(stats.get(ANALYSIS_SECONDS)),
        analysed=int(_number(stats.get(ANALYSIS_PAGES))),
    )


def enable_multiprocess(directory: Path) -> Path:
    """Use prometheus_client's multiprocess mode with an emptied `directory`; call before any
    metric exists (before `metrics()`), in the parent of the processes that record."""
    import sys

    if "prometheus_client.values" in sys.modules and os.environ.get(MULTIPROC_ENV) != str(
        directory
    ):
        log.warning("prometheus_client loaded before multiprocess mode was set up")
    shutil.rmtree(directory, ignore_errors=True)  # stale files of a previous worker
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


@dataclass(frozen=True)
class Metrics:
    """The metric objects (created once per process by `metrics()`)."""

    registry: Any
    pages: Any
    outcomes: Any
    leads: Any
    runs: Any
    duration: Any
    analysis_seconds: Any
    analysed: Any
    last_run: Any


@lru_cache(maxsize=1)
def metrics() -> Metrics:
    """Create the metrics (in multiprocess mode their values go to files, one per process)."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    kw = {"registry": registry}
    return Metrics(
        registry=registry,
        pages=Counter(
            "greywatch_pages",
            "Responses by source and HTTP status (exception:<Name> for failed fetches).",
            ["source", "status"],
            **kw,
        ),
        outcomes=Counter(
            "greywatch_page_outcomes",
            "What became of pages: saved, unchanged, skipped/error/trap/dropped with a reason.",
            ["source", "outcome", "reason"],
            **kw,
        ),
        leads=Counter("greywatch_leads", "New or changed lead pages saved.", ["source"], **kw),
        runs=Counter("greywatch_runs", "Crawl runs ended, by status.", ["source", "status"], **kw),
        duration=Histogram(
            "greywatch_run_duration_seconds",
            "Wall time of crawl runs.",
            ["status"],
            buckets=DURATION_BUCKETS,
            **kw,
        ),
        analysis_seconds=Counter(
            "greywatch_analysis_seconds",
            "Time from response to analysed page (parsing and analysis), summed.",
            ["source"],
            **kw,
        ),
        analysed=Counter(
            "greywatch_analysed_pages", "Pages that went through analysis.", ["source"], **kw
        ),
        last_run=Gauge(
            "greywatch_last_run_end_timestamp_seconds",
            "When the source's last run ended (Unix time).",
            ["source", "status"],
            multiprocess_mode="max",
            **kw,
        ),
    )


def record_run(
    source_id: str, status: str, stats: dict[str, Any], seconds: float, ended: float
) -> RunFigures:
    """Add one ended run to the counters; returns what was added."""
    m = metrics()
    figures = run_figures(stats)
    for status_code, n in figures.pages.items():
        m.pages.labels(source_id, status_code).inc(n)
    for (outcome, reason), n in figures.outcomes.items():
        m.outcomes.labels(source_id, outcome, reason).inc(n)
    if figures.leads:
        m.leads.labels(source_id).inc(figures.leads)
    if figures.analysed:
        m.analysis_seconds.labels(source_id).inc(figures.analysis_seconds)
        m.analysed.labels(source_id).inc(figures.analysed)
    m.runs.labels(source_id, status).inc()
    m.duration.labels(status).observe(max(seconds, 0.0))
    m.last_run.labels(source_id, status).set(ended)
    return figures


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def record_stored_run(db_url: str, run_id: int) -> RunFigures | None:
    """Record a run from its crawl_runs row (the scheduler's path); None if it is not over."""
    from storage.db import get_engine, session_scope
    from storage.repo import get_run

    with session_scope(get_engine(db_url), write=False) as session:
        run = get_run(session, run_id)
        if run is None or run.status == "running":
            return None
        started, finished = _utc(run.started_at), _utc(run.finished_at)
        seconds = (finished - started).total_seconds() if started and finished else 0.0
        ended = (finished or datetime.now(UTC)).timestamp()
        return record_run(run.source_id, run.status, dict(run.stats or {}), seconds, ended)


def record_summary(summary: Any) -> None:
    """crawler.tasks RUN_HOOKS entry: record a distributed run from its summed stats."""
    record_run(
        summary.source_id,
        summary.status,
        dict(summary.stats or {}),
        float(summary.seconds),
        datetime.now(UTC).timestamp(),
    )


class QueueCollector:
    """Queue depth at scrape time: the Celery queue's length in the broker and each source's
    shared frontier (pending requests) in Redis; greywatch_queue_up says if Redis answered."""

    def __init__(self, broker_url: str, queue: str, frontier_url: str, prefix: str) -> None:
        self.broker_url, self.queue = broker_url, queue
        self.frontier_url, self.prefix = frontier_url, prefix

    def collect(self) -> Iterator[Any]:
        """Yield the gauges (prometheus_client custom collector protocol)."""
        import redis
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("greywatch_queue_up", "1 if Redis answered the depth queries.")
        depth = GaugeMetricFamily(
            "greywatch_queue_depth", "Crawl runs waiting in the Celery queue.", labels=["queue"]
        )
        pending = GaugeMetricFamily(
            "greywatch_frontier_pending",
            "Requests waiting in a source's shared frontier.",
            labels=["source"],
        )
        try:
            broker = redis.Redis.from_url(self.broker_url, socket_timeout=2)
            depth.add_metric([self.queue], float(broker.llen(self.queue)))
            front = redis.Redis.from_url(self.frontier_url, socket_timeout=2)
            head = f"{self.prefix}:"
            for key in front.scan_iter(match=f"{self.prefix}:*:pending", count=1000):
                name = key.decode("utf-8", "replace")
                source = name[len(head) : -len(":pending")]
                pending.add_metric([source], float(front.zcard(key)))
            up.add_metric([], 1.0)
        except redis.RedisError as exc:
            log.debug("queue depth unavailable: %s", exc)
            up.add_metric([], 0.0)
            yield up
            return
        yield from (up, depth, pending)


def queue_collector_from_env() -> QueueCollector:
    """A QueueCollector for distributed mode's GREYWATCH_* Redis settings."""
    from crawler.tasks import QueueSettings

    qs = QueueSettings.from_env()
    return QueueCollector(qs.broker_url, qs.queue, qs.frontier.url, qs.frontier.prefix)


def serve(port: int, host: str = DEFAULT_HOST, queues: QueueCollector | None = None) -> Any:
    """Start the /metrics HTTP endpoint in a thread; returns the server (`.server_port`).

    In multiprocess mode it serves every process's files, else this process's registry.
    """
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = metrics().registry
    if queues is not None:
        registry.register(queues)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("metrics on http://%s:%s/metrics", host, server.server_port)
    return server


def port_from_env() -> int | None:
    """GREYWATCH_METRICS_PORT as a port number, None when unset; ConfigError when bad."""
    from pipelines.errors import ConfigError

    raw = (os.environ.get(ENV_PORT) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(
            f"{ENV_PORT}: {raw!r} is not a port number", hint=f"fix or unset {ENV_PORT}"
        )
    return int(raw)


def serve_from_env(queues: bool = False) -> Any | None:
    """Serve metrics when GREYWATCH_METRICS_PORT is set (on GREYWATCH_METRICS_HOST or
    127.0.0.1); the scheduler calls this. Returns the server or None."""
    port = port_from_env()
    if port is None:
        return None
    host = (os.environ.get(ENV_HOST) or DEFAULT_HOST).strip()
    return serve(port, host, queue_collector_from_env() if queues else None)


def start_worker_metrics(port: int, host: str = DEFAULT_HOST) -> Any:
    """`greywatch worker --metrics-port`: multiprocess mode in a fresh folder (removed at
    exit), runs recorded by the pool processes through crawler.tasks.RUN_HOOKS, queue depth
    from Redis; returns the HTTP server. Call before the Celery pool starts."""
    import atexit
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="greywatch-metrics-"))
    enable_multiprocess(folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    from crawler.tasks import RUN_HOOKS

    if record_summary not in RUN_HOOKS:
        RUN_HOOKS.append(record_summary)
    return serve(port, host, queue_collector_from_env())
