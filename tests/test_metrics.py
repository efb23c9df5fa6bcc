"""Prometheus metrics: a real scheduled crawl of a loopback site, scraped over HTTP; the
multiprocess mode a worker's pool uses; queue depth read from the real Redis."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crawler import metrics, schedule
from storage.models import CrawlRun, Finding

AD = (
    "专业征信修复，不成功不收费，当天消除逾期记录，内部渠道包过。"
    "加微信 xinc888 咨询，电话 13800138000。"
)
PAGES = {
    "/robots.txt": (200, "User-agent: *\nAllow: /\n"),
    "/ad-1.html": (
        200,
        f"<html><head><title>征信修复</title></head><body><p>{AD}</p></body></html>",
    ),
    "/ad-2.html": (
        200,
        f"<html><head><title>修复征信</title></head><body><p>{AD}</p></body></html>",
    ),
}


class Site(ThreadingHTTPServer):
    """A tiny site: two ads, robots.txt, and a 404 for anything else; counts statuses sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SiteHandler)
        self.sent: Counter[int] = Counter()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SiteHandler(BaseHTTPRequestHandler):
    server: Site

    def do_GET(self) -> None:
        status, text = PAGES.get(self.path, (404, "<html><body>没有这个页面</body></html>"))
        body = text.encode("utf-8")
        self.server.sent[status] += 1
        self.send_response(status)
        kind = "text/plain" if self.path.endswith(".txt") else "text/html"
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint as {(name, labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode("utf-8")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def endpoint() -> Iterator[int]:
    server = metrics.serve(0)
    yield server.server_port
    server.shutdown()
    server.server_close()


# --- figures from stats (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "pages", "outcomes", "leads"),
    [
        ({}, {}, {}, 0),
        (
            {
                "downloader/response_status_count/200": 7,
                "downloader/response_status_count/404": 2,
                "downloader/exception_type_count/twisted.internet.error.TimeoutError": 3,
                "greywatch/pages_saved": 5,
                "greywatch/skipped_unchanged": 1,
                "greywatch/leads": 4,
                "greywatch/errors": 5,
                "greywatch/errors/http_404": 2,
                "greywatch/traps/similar_chain": 1,
                "greywatch/skipped/not_html": 1,
            },
            {"200": 7, "404": 2, "exception:TimeoutError": 3},
            {
                ("saved", ""): 5,
                ("unchanged", ""): 1,
                ("error", "http_404"): 2,
                ("trap", "similar_chain"): 1,
                ("skipped", "not_html"): 1,
            },
            4,
        ),
        ({"greywatch/leads": "x", "downloader/response_status_count/500": 0}, {}, {}, 0),
    ],
)
def test_run_figures_from_stats(
    stats: dict[str, Any], pages: dict, outcomes: dict, leads: int
) -> None:
    figures = metrics.run_figures(stats)
    assert (figures.pages, figures.outcomes, figures.leads) == (pages, outcomes, leads)


# --- a real crawl ------------------------------------------------------------------------------


def test_scheduled_crawl_moves_the_counters_by_what_the_site_served(
    site: Site,
    endpoint: int,
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = f"tiny-{uuid.uuid4().hex[:6]}"
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""sources:
  - id: {source}
    name: 小站
    preset: urls
    start_urls: ["{site.base}/ad-1.html", "{site.base}/ad-2.html", "{site.base}/gone.html"]
    politeness: {{download_delay: 0, concurrency: 2}}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GREYWATCH_DOWNLOAD_TIMEOUT", "5")
    monkeypatch.chdir(tmp_path)  # no ./alerts.yaml here: the after-run check does nothing
    url = sqlite_engine.url.render_as_string(hide_password=False)
    before = scrape(endpoint)

    assert schedule.run_source(source, str(sources), url) == 0
    after = scrape(endpoint)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert site.sent == {200: 3, 404: 1}  # robots.txt, two ads, one missing page
    assert moved("greywatch_pages_total", source=source, status="200") == 3
    assert moved("greywatch_pages_total", source=source, status="404") == 1
    assert moved("greywatch_page_outcomes_total", source=source, outcome="saved", reason="") == 2
    assert moved("greywatch_runs_total", source=source, status="finished") == 1
    assert moved("greywatch_run_duration_seconds_count", status="finished") == 1
    assert moved("greywatch_analysed_pages_total", source=source) == 2
    assert moved("greywatch_analysis_seconds_total", source=source) > 0
    with Session(sqlite_engine) as session:
        leads = session.scalar(
            select(func.count()).select_from(Finding).where(Finding.kind == "promotion")
        )
        run = session.scalars(select(CrawlRun).where(CrawlRun.source_id == source)).one()
    assert leads == 2
    assert moved("greywatch_leads_total", source=source) == leads
    assert run.stats["greywatch/analysis/pages"] == 2
    seconds = (run.finished_at - run.started_at).total_seconds()
    assert moved("greywatch_run_duration_seconds_sum", status="finished") == pytest.approx(seconds)
    assert value(
        after, "greywatch_last_run_end_timestamp_seconds", source=source, status="finished"
    )


# --- multiprocess mode (a worker's pool) ---------------------------------------------------------

RECORD = """
import sys
from crawler.metrics import record_run
stats = {"downloader/response_status_count/200": 5, "greywatch/leads": 2}
record_run(sys.argv[1], "finished", stats, 42.0, 1_700_000_000.0)
"""


def test_runs_recorded_in_other_processes_are_served_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "PATH": "/usr/bin:/bin"}
    for _ in range(2):  # two pool processes, one run each
        subprocess.run([sys.executable, "-c", RECORD, "forum"], env=env, check=True, cwd=Path.cwd())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    server = metrics.serve(0)
    try:
        samples = scrape(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
    assert value(samples, "greywatch_pages_total", source="forum", status="200") == 10
    assert value(samples, "greywatch_leads_total", source="forum") == 4
    assert value(samples, "greywatch_runs_total", source="forum", status="finished") == 2
    assert value(samples, "greywatch_run_duration_seconds_count", status="finished") == 2
    assert value(samples, "greywatch_run_duration_seconds_sum", status="finished") == 84


# --- queue depth ------------------------------------------------------------------------------


def test_queue_depth_is_read_from_redis_at_scrape_time() -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis on 127.0.0.1:6379: {exc}")
    tag = uuid.uuid4().hex[:8]
    queue, prefix = f"gwtest-queue-{tag}", f"gwtest-{tag}"
    url = "redis://127.0.0.1:6379/0"
    try:
        client.rpush(queue, "a", "b", "c")
        client.zadd(f"{prefix}:bbs:pending", {"r1": 1, "r2": 2})
        collector = metrics.QueueCollector(url, queue, url, prefix)
        server = metrics.serve(0, queues=collector)
        try:
            samples = scrape(server.server_port)
            client.lpop(queue)
            again = scrape(server.server_port)
        finally:
            server.shutdown()
            server.server_close()
            metrics.metrics().registry.unregister(collector)
    finally:
        client.delete(queue, f"{prefix}:bbs:pending")
    assert value(samples, "greywatch_queue_up") == 1
    assert value(samples, "greywatch_queue_depth", queue=queue) == 3
    assert value(samples, "greywatch_frontier_pending", source="bbs") == 2
    assert value(again, "greywatch_queue_depth", queue=queue) == 2


def test_unreachable_redis_reports_queue_down() -> None:
    dead = "redis://127.0.0.1:9/0"  # the discard port: nothing answers
    collector = metrics.QueueCollector(dead, "crawl", dead, "gw")
    families = {f.name: f for f in collector.collect()}
    assert [s.value for s in families["greywatch_queue_up"].samples] == [0.0]
    assert "greywatch_queue_depth" not in families


def test_a_distributed_run_summary_is_recorded(endpoint: int) -> None:
    from crawler.tasks import RunSummary

    source = f"dist-{uuid.uuid4().hex[:6]}"
    stats = {"downloader/response_status_count/200": 9, "greywatch/pages_saved": 8}
    before = scrape(endpoint)
    metrics.record_summary(RunSummary(source, 7, "failed", seconds=30.0, stats=stats))
    after = scrape(endpoint)
    assert value(after, "greywatch_pages_total", source=source, status="200") == 9
    outcome = {"source": source, "outcome": "saved", "reason": ""}
    assert value(after, "greywatch_page_outcomes_total", **outcome) == 8
    assert value(after, "greywatch_runs_total", source=source, status="failed") == 1
    count = "greywatch_run_duration_seconds_count"
    assert value(after, count, status="failed") - value(before, count, status="failed") == 1


def test_grafana_dashboard_queries_only_metrics_that_exist(endpoint: int) -> None:
    import json
    import re

    dashboard = json.loads(Path("docs/grafana-greywatch.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    wanted = {name for e in exprs for name in re.findall(r"greywatch_[a-z_]+", e)}
    stats = {
        "downloader/response_status_count/200": 1,
        "greywatch/pages_saved": 1,
        "greywatch/leads": 1,
        "greywatch/analysis/pages": 1,
    }
    metrics.record_run("grafana", "finished", stats, 1.0, 0.0)
    served = {name for name, _ in scrape(endpoint)}
    dead = "redis://127.0.0.1:9/0"
    queue_names = {"greywatch_queue_depth", "greywatch_frontier_pending", "greywatch_queue_up"}
    assert {f.name for f in metrics.QueueCollector(dead, "q", dead, "p").collect()} <= queue_names
    assert wanted - served - queue_names == set()
    assert len(dashboard["panels"]) >= 8
