"""Crawl throughput: a full greywatch crawl (analysis + storage) beside bare Scrapy.

Serves ~2,100 generated forum-style pages (GBK, like the sites we watch) on 127.0.0.1 from a
separate process, then crawls them twice in subprocesses with the same politeness settings:
1. bare Scrapy: a CrawlSpider with the same link rules and politeness settings that fetches
   the pages and drops them;
2. `greywatch crawl`: analysis + save_page into a temp SQLite database.
Pages/s come from each crawl's own Scrapy stats (response_received_count / elapsed seconds),
so interpreter start-up is excluded. A small JS-rendered set is crawled with Chromium and
reported separately (bench/browser.py measures browser pages properly); with --pg the
greywatch crawl also runs into a new PostgreSQL database.
Run: `.venv/bin/python bench/crawl.py [--items 2000] [--browser-items 30] [--pg ADMIN_URL]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEMS_PER_LIST = 20
# Same knobs for both crawls: no delay (loopback), enough parallelism to keep the CPU busy.
CONCURRENCY = 16
TARGET_RATIO = 0.85  # issue #13: the crawl keeps up with bare Scrapy

PROMO = [
    "专业征信修复，消除逾期记录，不成功不收费！电话 138 0013 {n:04d}，微信 xc{n}",
    "信用卡逾期？停息挂账、协商还款，最长分60期。广州市安信商务服务有限公司 热线 139-1234-{n:04d}",
    "【代理退保 全额退保】东莞市恒通财税咨询服务部 扣扣 12345{n:04d}",
]
PLAIN = [
    "周末去梧桐山爬山，人不多，风景很好，推荐带小孩的家庭去。",
    "信用卡账单日和还款日的区别：账单日后的消费计入下期账单，按时还款不影响征信。",
    "家常红烧肉：五花肉焯水，炒糖色，加生抽老抽，小火炖一小时，大火收汁。",
    "南山科技园招聘前端开发，熟悉 Vue，三年以上经验，五险一金，周末双休。",
    "深圳地铁新线路开通，通勤时间缩短了将近半小时，出行更加方便。",
]


def _item_page(n: int, rng: random.Random) -> bytes:
    lines = [rng.choice(PLAIN) for _ in range(rng.randint(4, 10))]
    if n % 10 == 0:
        lines.insert(rng.randint(0, len(lines)), rng.choice(PROMO).format(n=n))
    body = "".join(f"<p>{line}</p>" for line in lines)
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gbk">'
        f"<title>帖子 {n} - 生活论坛</title></head><body>"
        '<div id="hd"><a href="/">生活论坛</a></div>'
        f'<h1 id="thread_subject">帖子 {n}</h1>'
        f'<div class="authi"><em>发表于 2026-10-{n % 28 + 1:02d} 10:00</em></div>'
        f'<div class="t_f">{body}</div><div id="ft">Powered by Discuz!</div></body></html>'
    )
    return html.encode("gbk")


def _list_page(k: int, items: int) -> bytes:
    first = k * ITEMS_PER_LIST
    links = "".join(
        f'<li><a href="/item/{n}.html">帖子 {n}</a></li>'
        for n in range(first, min(first + ITEMS_PER_LIST, items))
    )
    return (
        '<html><head><meta charset="gbk"><title>列表</title></head><body>'
        f'<ul class="items">{links}</ul></body></html>'
    ).encode("gbk")


def _js_page(n: int) -> bytes:
    text = json.dumps(PROMO[n % 3].format(n=n), ensure_ascii=True)
    return (
        '<html><head><meta charset="utf-8"><title>广告</title></head><body><div id="ad"></div>'
        f"<script>setTimeout(function(){{document.getElementById('ad').innerHTML="
        f"'<h1>广告 {n}</h1><p>' + {text} + '</p>';}}, 50);</script></body></html>"
    ).encode()


def build_site(items: int, browser_items: int) -> dict[str, bytes]:
    """Every path → body: index, list pages, item pages, and the JS-rendered set."""
    rng = random.Random(20261125)
    lists = (items + ITEMS_PER_LIST - 1) // ITEMS_PER_LIST
    pages = {f"/item/{n}.html": _item_page(n, rng) for n in range(items)}
    pages |= {f"/list/{k}.html": _list_page(k, items) for k in range(lists)}
    index = "".join(f'<a href="/list/{k}.html">{k}</a> ' for k in range(lists))
    pages["/index.html"] = (
        '<html><head><meta charset="gbk"></head><body>'
        f'<div class="pages">{index}</div></body></html>'
    ).encode("gbk")
    js_links = "".join(f'<a href="/js/{n}.html">{n}</a> ' for n in range(browser_items))
    pages["/js/index.html"] = (
        f'<html><body><div class="ads">{js_links}</div></body></html>'
    ).encode()
    pages |= {f"/js/{n}.html": _js_page(n) for n in range(browser_items)}
    pages["/robots.txt"] = b"User-agent: *\nDisallow: /private/\n"
    return pages


def serve_forever(port_queue: multiprocessing.Queue, items: int, browser_items: int) -> None:
    """Server process: answer from memory so the server is not what we measure."""
    serve_pages(port_queue, build_site(items, browser_items))


_TYPES = {".txt": "text/plain", ".css": "text/css", ".png": "image/png", ".woff2": "font/woff2"}


def serve_pages(port_queue: multiprocessing.Queue, pages: dict[str, bytes]) -> None:
    """Serve `pages` (path → body) on a free loopback port, put in `port_queue`, until killed."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            status = 200 if body is not None else 404
            body = body if body is not None else b"not found"
            ctype = _TYPES.get(Path(self.path.split("?")[0]).suffix, "text/html")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


BARE_SPIDER = """
import json, sys
from scrapy.crawler import CrawlerProcess
from scrapy.linkextractors import LinkExtractor
from scrapy.spiders import CrawlSpider, Rule

class Bare(CrawlSpider):
    # The same link rules as the greywatch source below; pages are fetched and dropped.
    name = "bare"
    start_urls = [sys.argv[1]]
    rules = (
        Rule(LinkExtractor(restrict_css="ul.items"), callback="parse_item", follow=False),
        Rule(LinkExtractor(restrict_css="div.pages"), follow=True),
    )

    def parse_item(self, response):
        return None

stats = {}
process = CrawlerProcess({
    "LOG_LEVEL": "WARNING", "ROBOTSTXT_OBEY": True, "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False, "COOKIES_ENABLED": False, "CONCURRENT_REQUESTS": %(c)d,
    "CONCURRENT_REQUESTS_PER_DOMAIN": %(c)d, "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False,
    "DEPTH_LIMIT": 5, "CLOSESPIDER_PAGECOUNT": 100000, "LOGSTATS_INTERVAL": 0,
})
crawler = process.create_crawler(Bare)
process.crawl(crawler)
process.start()
s = crawler.stats.get_stats()
print(json.dumps({"pages": s.get("response_received_count", 0),
                  "seconds": s.get("elapsed_time_seconds", 0.0)}))
""".replace("%(c)d", str(CONCURRENCY))


def bare_crawl(url: str) -> tuple[int, float]:
    """Bare Scrapy following every link: (pages, seconds)."""
    out = subprocess.run(
        [sys.executable, "-c", BARE_SPIDER, url], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["pages"], result["seconds"]


@contextmanager
def fresh_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one crawl (dropped afterwards): its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"greywatch_bench_{os.getpid()}_{time.monotonic_ns()}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        from storage.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def greywatch_crawl(
    base: str, workdir: Path, source: str, db_url: str | None = None
) -> tuple[int, float, int]:
    """`greywatch crawl` of one bench source into a new SQLite file (or the empty database
    `db_url`): (pages, seconds, documents saved)."""
    from sqlalchemy import create_engine, text

    from storage.db import get_engine, migrate

    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{workdir / (source + '.db')}"
    migrate(get_engine(db_url))
    sources = workdir / "sources.yaml"
    sources.write_text(
        f"""sources:
  - id: bench
    name: bench forum
    preset: listing
    start_urls: ["{base}/index.html"]
    links: {{detail_links: ["ul.items"], next_page: ["div.pages"]}}
    fields: {{title: "#thread_subject", published: ".authi em"}}
    limits: {{max_pages: 100000, max_depth: 5}}
    politeness: {{download_delay: 0, concurrency: {CONCURRENCY}}}
  - id: bench-browser
    name: bench JS board
    preset: listing
    start_urls: ["{base}/js/index.html"]
    links: {{detail_links: ["div.ads"]}}
    render: browser
    browser: {{wait_for: "#ad h1", pages: details}}
    limits: {{max_pages: 1000, max_depth: 2}}
    politeness: {{download_delay: 0, concurrency: 4}}
""",
        encoding="utf-8",
    )
    env = os.environ | {"GREYWATCH_HOME": str(workdir / "home")}
    cmd = [sys.executable, "-m", "greywatch", "crawl", source, "--sources", str(sources)]
    subprocess.run([*cmd, "--db", db_url], env=env, check=True, capture_output=True, cwd=ROOT)
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stats = conn.execute(text("SELECT stats FROM crawl_runs")).scalar_one()
        stats = json.loads(stats) if isinstance(stats, str) else stats  # PostgreSQL: parsed
        saved = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
    engine.dispose()
    return stats["response_received_count"], stats["elapsed_time_seconds"], saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="detail pages to serve")
    parser.add_argument("--browser-items", type=int, default=30, help="JS-rendered pages")
    parser.add_argument(
        "--repeat", type=int, default=2, help="alternate the two crawls N times; best of each"
    )
    parser.add_argument(
        "--pg",
        metavar="URL",
        help="also crawl into PostgreSQL: an admin URL that may create databases, e.g. "
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))

    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve_forever, args=(queue, args.items, args.browser_items), daemon=True
    )
    server.start()
    base = f"http://127.0.0.1:{queue.get(timeout=30)}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            started = time.perf_counter()
            bare, full = [], []
            for n in range(args.repeat):  # alternated, so both see the same machine load
                bare.append(bare_crawl(f"{base}/index.html"))
                full.append(greywatch_crawl(base, work / str(n), "bench"))
            bare_pages, bare_secs = min(bare, key=lambda r: r[1] / r[0])
            gw_pages, gw_secs, saved = min(full, key=lambda r: r[1] / r[0])
            pg: list[tuple[int, float, int]] = []
            if args.pg:
                for n in range(args.repeat):
                    with fresh_postgres(args.pg) as pg_url:
                        pg.append(greywatch_crawl(base, work / f"pg{n}", "bench", pg_url))
            br_pages, br_secs, br_saved = greywatch_crawl(base, work / "browser", "bench-browser")
            wall = time.perf_counter() - started
    finally:
        server.terminate()
    bare_rate, gw_rate = bare_pages / bare_secs, gw_pages / gw_secs
    ratio = gw_rate / bare_rate
    print(f"pages served: {args.items} items + lists (+ {args.browser_items} JS pages)")
    print(f"best of {args.repeat} alternated runs each; CONCURRENT_REQUESTS {CONCURRENCY}")
    print(
        f"bare Scrapy:        {bare_pages:5d} pages in {bare_secs:6.1f} s = "
        f"{bare_rate:7.1f} pages/s"
    )
    print(
        f"greywatch crawl:    {gw_pages:5d} pages in {gw_secs:6.1f} s = {gw_rate:7.1f} pages/s "
        f"({saved} documents analysed and stored)"
    )
    print(f"ratio greywatch/bare: {ratio:.2f}x (target >= {TARGET_RATIO}x)")
    if pg:
        pg_pages, pg_secs, pg_saved = min(pg, key=lambda r: r[1] / r[0])
        pg_rate = pg_pages / pg_secs
        print(
            f"greywatch into PostgreSQL: {pg_pages:5d} pages in {pg_secs:6.1f} s = "
            f"{pg_rate:7.1f} pages/s ({pg_saved} documents), {pg_rate / bare_rate:.2f}x bare"
        )
    print(
        f"browser (Chromium): {br_pages:5d} pages in {br_secs:6.1f} s = "
        f"{br_pages / br_secs:7.1f} pages/s ({br_saved} documents)"
    )
    print(f"wall time incl. start-up: {wall:.0f} s; CPUs: {os.cpu_count()}")


if __name__ == "__main__":
    main()
