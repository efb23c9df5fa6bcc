"""Scale-out: one generated site crawled by 1, 2 and 4 crawl processes through the queue.

Serves a generated forum-like site (default 20,000 item pages + 1,000 list pages, built from
the path, nothing held in memory) on 127.0.0.1 from its own process, then crawls it into a
new PostgreSQL database each time:
1. baseline: plain `greywatch crawl` (one process, Scrapy's own scheduler, SQLite-free);
2. `greywatch worker` processes (Celery, Redis broker) running one queued run with
   `--shards N`: N crawl processes sharing the source's frontier in Redis.
Prints pages/s (pages received / the crawl window: first to last page fetched, the same
measure for both, so process start-up and the queue's hand-over are left out; the run's
recorded duration is printed beside it), efficiency against the baseline
(rate / (N x baseline rate)), PostgreSQL rows written per second, and the
frontier's cost per URL: Redis commands and bytes (INFO commandstats / MEMORY USAGE).
Run: `.venv/bin/python bench/scale.py [--items 20000] [--workers 1,2,4] [--pg ADMIN_URL]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEMS_PER_LIST = 20
CONCURRENCY = 16  # per crawl process, as in bench/crawl.py
PG_ADMIN = "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres"
LINES = [
    "周末去梧桐山爬山，人不多，风景很好，推荐带小孩的家庭去。",
    "信用卡账单日和还款日的区别：账单日后的消费计入下期账单，按时还款不影响征信。",
    "家常红烧肉：五花肉焯水，炒糖色，加生抽老抽，小火炖一小时，大火收汁。",
    "南山科技园招聘前端开发，熟悉 Vue，三年以上经验，五险一金，周末双休。",
]
PROMO = "专业征信修复，消除逾期记录，不成功不收费！电话 138 0013 {n:04d}，微信 xc{n}"
_ITEM = re.compile(r"^/item/(\d+)\.html$")
_LIST = re.compile(r"^/list/(\d+)\.html$")
_MOVED = re.compile(r"^/moved/(\d+)\.html$")


def item_page(n: int) -> bytes:
    """One thread page; every tenth is an ad (so analysis has leads to find)."""
    lines = [LINES[(n + i) % len(LINES)] for i in range(4 + n % 5)]
    if n % 10 == 0:
        lines.insert(1, PROMO.format(n=n))
    body = "".join(f"<p>{line}</p>" for line in lines)
    return (
        '<html><head><meta charset="utf-8">'
        f"<title>帖子 {n} - 生活论坛</title></head><body>"
        f'<h1 id="thread_subject">帖子 {n}</h1>'
        f'<div class="authi"><em>发表于 2026-10-{n % 28 + 1:02d} 10:00</em></div>'
        f'<div class="t_f">{body}</div></body></html>'
    ).encode()


def list_page(k: int, items: int, extras: bool) -> bytes:
    """A list page: its items, plus (with `extras`) a dead link and a redirecting one."""
    first = k * ITEMS_PER_LIST
    links = [
        f'<li><a href="/item/{n}.html">帖子 {n}</a></li>'
        for n in range(first, min(first + ITEMS_PER_LIST, items))
    ]
    if extras:
        links.append(f'<li><a href="/gone/{k}.html">已删除</a></li>')
        links.append(f'<li><a href="/moved/{k}.html">搬家</a></li>')
    return (
        '<html><head><meta charset="utf-8"><title>列表</title></head><body>'
        f'<ul class="items">{"".join(links)}</ul></body></html>'
    ).encode()


def index_page(items: int) -> bytes:
    lists = (items + ITEMS_PER_LIST - 1) // ITEMS_PER_LIST
    links = "".join(f'<a href="/list/{k}.html">{k}</a> ' for k in range(lists))
    return f'<html><body><div class="pages">{links}</div></body></html>'.encode()


def answer(path: str, items: int, extras: bool) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, extra headers) for a path of the generated site."""
    path = path.split("?")[0]
    if path == "/index.html":
        return 200, index_page(items), {}
    if path == "/robots.txt":
        return 200, b"User-agent: *\nDisallow: /private/\n", {}
    if m := _ITEM.match(path):
        n = int(m.group(1))
        return (200, item_page(n), {}) if n < items else (404, b"gone", {})
    if m := _LIST.match(path):
        return 200, list_page(int(m.group(1)), items, extras), {}
    if (m := _MOVED.match(path)) and extras:
        target = min(int(m.group(1)) * ITEMS_PER_LIST, items - 1)
        return 301, b"", {"Location": f"/item/{target}.html"}
    return 404, b"not found", {}


class SiteServer:
    """The generated site on 127.0.0.1 in a thread (tests), counting GETs per path."""

    def __init__(self, items: int, *, delay_s: float = 0.0, extras: bool = True) -> None:
        self.items, self.delay_s, self.extras = items, delay_s, extras
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with site._lock:
                    site.hits[self.path] = site.hits.get(self.path, 0) + 1
                if site.delay_s:
                    time.sleep(site.delay_s)
                status, body, headers = answer(self.path, site.items, site.extras)
                self.send_response(status)
                ctype = "text/plain" if self.path.endswith(".txt") else "text/html; charset=utf-8"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def sources_yaml(base: str, *, source_id: str = "bench", delay: float = 0.0) -> str:
    """A sources file with the generated site as one listing source."""
    return f"""sources:
  - id: {source_id}
    name: generated forum
    preset: listing
    start_urls: ["{base}/index.html"]
    links: {{detail_links: ["ul.items"], next_page: ["div.pages"]}}
    fields: {{title: "#thread_subject", published: ".authi em"}}
    limits: {{max_pages: 100000, max_depth: 5}}
    politeness: {{download_delay: {delay}, concurrency: {CONCURRENCY}}}
"""


def _serve(port_queue: multiprocessing.Queue, items: int) -> None:
    with SiteServer(items, extras=False) as site:
        port_queue.put(site.base)
        signal.pause()


@contextmanager
def site_process(items: int) -> Iterator[str]:
    """The site served from its own process (so it does not share our GIL): its base URL."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve, args=(queue, items), daemon=True)
    proc.start()
    try:
        yield queue.get(timeout=30)
    finally:
        proc.terminate()
        proc.join(5)


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database, migrated, dropped afterwards: its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from storage.db import dispose_engines, get_engine, migrate

    name = f"greywatch_scale_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(get_engine(url))
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run_row(db_url: str) -> dict:
    """The single run row's figures: pages, items, seconds (start to finish), stats."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT status, pages, items, message, stats,"
                " EXTRACT(EPOCH FROM finished_at - started_at) FROM crawl_runs ORDER BY id DESC"
            )
        ).first()
        docs = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
        window = conn.execute(
            text("SELECT EXTRACT(EPOCH FROM max(fetched_at) - min(fetched_at)) FROM documents")
        ).scalar_one()
        urls = conn.execute(text("SELECT count(DISTINCT url) FROM documents")).scalar_one()
        rows = conn.execute(
            text("SELECT sum(n_tup_ins + n_tup_upd) FROM pg_stat_user_tables")
        ).scalar_one()
    engine.dispose()
    assert row is not None, "no run recorded"
    status, pages, items, message, stats, seconds = row
    stats = json.loads(stats) if isinstance(stats, str) else stats
    return {
        "status": status,
        "pages": pages,
        "items": items,
        "message": message,
        "run_seconds": float(seconds),
        "seconds": float(window or 0.0),
        "documents": docs,
        "urls": urls,
        "rows_written": int(rows or 0),
        "stats": stats,
    }


def baseline(base: str, work: Path, admin: str) -> dict:
    """`greywatch crawl` of the site in one process."""
    work.mkdir(parents=True, exist_ok=True)
    sources = work / "sources.yaml"
    sources.write_text(sources_yaml(base), encoding="utf-8")
    with fresh_postgres(admin) as db:
        env = os.environ | {"GREYWATCH_HOME": str(work / "home"), "GREYWATCH_DATABASE_URL": db}
        cmd = [sys.executable, "-m", "greywatch", "crawl", "bench", "--sources", str(sources)]
        subprocess.run(cmd, env=env, check=True, capture_output=True, cwd=ROOT)
        return run_row(db)


class RedisProbe:
    """Commands and memory of a Redis server, read before and after a run."""

    def __init__(self, url: str) -> None:
        import redis

        self.r = redis.Redis.from_url(url)

    def commands(self) -> int:
        return int(self.r.info("stats")["total_commands_processed"])

    def used_memory(self) -> int:
        return int(self.r.info("memory")["used_memory"])


def distributed(base: str, work: Path, admin: str, workers: int, redis_url: str) -> dict:
    """One queued run with `--shards workers` over `workers` worker processes."""
    import redis

    from crawler.frontier import Frontier

    work.mkdir(parents=True, exist_ok=True)
    sources = work / "sources.yaml"
    sources.write_text(sources_yaml(base), encoding="utf-8")
    probe = RedisProbe(redis_url)
    peak = {"pending_bytes": 0, "seen_bytes": 0, "pending": 0, "seen": 0}
    with fresh_postgres(admin) as db:
        env = os.environ | {
            "GREYWATCH_HOME": str(work / "home"),
            "GREYWATCH_DATABASE_URL": db,
            "GREYWATCH_BROKER_URL": redis_url,
            "GREYWATCH_QUEUE": f"scale-{os.getpid()}",
            "GREYWATCH_FRONTIER_PREFIX": f"scale-{os.getpid()}",
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "greywatch", "worker", "-c", "1", "--loglevel", "WARNING"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=(work / f"worker-{i}.log").open("wb"),
            )
            for i in range(workers)
        ]
        try:
            time.sleep(3)  # workers connect
            before = probe.commands()
            mem_before = probe.used_memory()
            cmd = [sys.executable, "-m", "greywatch", "enqueue", "bench", "--sources", str(sources)]
            subprocess.run(
                [*cmd, "--shards", str(workers)], env=env, check=True, capture_output=True, cwd=ROOT
            )
            frontier = Frontier(
                redis.Redis.from_url(redis_url), env["GREYWATCH_FRONTIER_PREFIX"], "bench"
            )
            mem_peak = mem_before
            while not _run_done(db):
                time.sleep(1)
                mem_peak = max(mem_peak, probe.used_memory())
                sizes = frontier.memory()
                if sizes["pending"] + sizes["seen"] > peak["pending_bytes"] + peak["seen_bytes"]:
                    peak = {
                        "pending_bytes": sizes["pending"],
                        "seen_bytes": sizes["seen"],
                        "pending": int(frontier.r.zcard(frontier.k("pending"))),
                        "seen": int(frontier.r.scard(frontier.k("seen"))),
                    }
            after = probe.commands()
            result = run_row(db)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    result |= {"redis_commands": after - before, "redis_peak_delta": mem_peak - mem_before}
    result |= peak
    return result


@contextmanager
def own_redis(url: str | None) -> Iterator[str]:
    """`url`, or a redis-server started here on a free port (no persistence): its URL."""
    if url:
        yield url
        return
    import socket

    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _run_done(db_url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM crawl_runs ORDER BY id DESC")).scalar()
    engine.dispose()
    return status in ("finished", "failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000, help="item pages to serve")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to try")
    parser.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL (creates databases)")
    parser.add_argument(
        "--redis", help="Redis URL (default: a redis-server of our own, so its counts are ours)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    counts = [int(n) for n in args.workers.split(",")]
    with (
        own_redis(args.redis) as redis_url,
        site_process(args.items) as base,
        tempfile.TemporaryDirectory() as tmp,
    ):
        work = Path(tmp)
        pages_total = args.items + (args.items + ITEMS_PER_LIST - 1) // ITEMS_PER_LIST + 1
        print(f"site: {pages_total} pages on 127.0.0.1; CPUs: {os.cpu_count()} (shared machine)")
        one = baseline(base, work / "baseline", args.pg)
        rate1 = one["pages"] / one["seconds"]
        print(
            f"greywatch crawl (1 process, no queue): {one['pages']} pages in "
            f"{one['seconds']:.1f} s = {rate1:.1f} pages/s (run {one['run_seconds']:.0f} s); "
            f"{one['documents']} documents; "
            f"{one['rows_written'] / one['seconds']:.0f} PostgreSQL rows written/s"
        )
        for n in counts:
            r = distributed(base, work / f"w{n}", args.pg, n, redis_url)
            rate = r["pages"] / r["seconds"]
            print(
                f"{n} worker(s), --shards {n}: {r['pages']} pages in {r['seconds']:.1f} s = "
                f"{rate:.1f} pages/s (run {r['run_seconds']:.0f} s); {rate / rate1:.2f}x the "
                f"single crawl, efficiency "
                f"{rate / (n * rate1):.2f}; {r['documents']} documents ({r['urls']} URLs), "
                f"status {r['status']}; {r['rows_written'] / r['seconds']:.0f} PostgreSQL rows "
                f"written/s"
            )
            urls = max(r["seen"], 1)
            print(
                f"    frontier: {r['redis_commands'] / r['pages']:.1f} Redis commands per page "
                f"(broker + frontier + politeness); peak seen-set {r['seen']} URLs in "
                f"{r['seen_bytes']} B = {r['seen_bytes'] / urls:.1f} B/URL; pending "
                f"{r['pending']} requests in {r['pending_bytes']} B = "
                f"{r['pending_bytes'] / max(r['pending'], 1):.0f} B/request; Redis used_memory "
                f"peak +{r['redis_peak_delta'] / 1e6:.1f} MB"
            )


if __name__ == "__main__":
    main()
