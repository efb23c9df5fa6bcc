"""Fast browser pages without losing evidence or manners (issue #13).

Pure decisions (what is blocked, which context, which load event) as tables; then real crawls
in Chromium of a script-written board on 127.0.0.1: the text a script writes is still stored
with pictures and stylesheets blocked, a screenshot source still gets its pictures, and
robots.txt, AutoThrottle and the per-site concurrency still hold for browser pages.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.page import PageMethod
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.browser import BrowserHandler, blocks, load_event, playwright_settings, site_context
from storage.db import dispose_engines, get_engine
from storage.models import CrawlRun, Document

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
ADS = 6
RED = (220, 30, 30)


# -- pure parts ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("resource_type", "screenshot", "blocked"),
    [
        ("image", False, True),
        ("font", False, True),
        ("media", False, True),
        ("stylesheet", False, True),
        ("image", True, False),  # the screenshot is evidence: it shows the pictures
        ("stylesheet", True, False),
        ("document", False, False),  # the page itself
        ("script", False, False),  # scripts write the text we keep
        ("xhr", False, False),
        ("fetch", False, False),
    ],
)
def test_what_chromium_skips(resource_type: str, screenshot: bool, blocked: bool) -> None:
    assert blocks(resource_type, screenshot) is blocked


@pytest.mark.parametrize(
    ("url", "context"),
    [
        ("http://127.0.0.1:8765/a.html", "site:127.0.0.1:8765"),
        ("http://127.0.0.1:9000/a.html", "site:127.0.0.1:9000"),
        ("https://bbs.example.cn/thread-1.html?x=1", "site:bbs.example.cn"),
        ("https://BBS.Example.cn/b", "site:bbs.example.cn"),
        ("https://www.example.cn/b", "site:www.example.cn"),
    ],
)
def test_one_context_per_site(url: str, context: str) -> None:
    assert site_context(url) == context


@pytest.mark.parametrize(
    ("methods", "event"),
    [
        (None, "load"),
        ([], "load"),
        ([PageMethod("wait_for_selector", "#ad h1")], "domcontentloaded"),
        ({"w": PageMethod("wait_for_selector", "#ad")}, "domcontentloaded"),
        ([PageMethod("evaluate", "window.scrollTo(0, 9e9)")], "load"),
        ([PageMethod("screenshot", path="x.png")], "load"),
    ],
)
def test_load_event(methods: Any, event: str) -> None:
    assert load_event(methods) == event


def test_browser_sources_use_the_reusing_handler() -> None:
    handlers = playwright_settings(CHROMIUM if os.path.exists(CHROMIUM) else None)
    assert set(handlers["DOWNLOAD_HANDLERS"].values()) == {"crawler.browser.BrowserHandler"}


@pytest.mark.parametrize("hook", ["_download_request", "_create_page", "_close"])
def test_scrapy_playwright_still_has_the_hooks_we_build_on(hook: str) -> None:
    """BrowserHandler overrides these private methods: an upgrade that moves them fails here."""
    assert callable(getattr(ScrapyPlaywrightDownloadHandler, hook, None))
    assert hook in vars(BrowserHandler)


# -- a script-written board on 127.0.0.1 ---------------------------------------------------
def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour 8-bit RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = (b"\x00" + bytes(rgb) * width) * height
    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))


def count_colour(data: bytes, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """Pixels near `rgb` in an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * step
    previous, found = bytearray(stride), 0
    for y in range(height):
        kind = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        _unfilter(kind, row, previous, step)
        found += sum(
            1
            for x in range(0, stride, step)
            if all(abs(row[x + i] - rgb[i]) <= tolerance for i in range(3))
        )
        previous = row
    return found


def _unfilter(kind: int, row: bytearray, above: bytearray, step: int) -> None:
    for i in range(len(row)):
        left = row[i - step] if i >= step else 0
        up, corner = above[i], (above[i - step] if i >= step else 0)
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            row[i] = (row[i] + pred) & 0xFF


SCRIPT = b"""setTimeout(function () {
  var n = location.pathname.match(/(\\d+)\\.html/)[1];
  document.getElementById('ad').innerHTML =
    '<h1>\\u5e7f\\u544a ' + n + '</h1><p>\\u4e13\\u4e1a\\u5f81\\u4fe1\\u4fee\\u590d\\uff0c' +
    '\\u52a0\\u5fae\\u4fe1 xinc' + n + '</p>';
}, 30);
"""  # 广告 n / 专业征信修复，加微信 xinc<n>, written by the script only


def board_pages() -> dict[str, tuple[bytes, str]]:
    """Path → (body, content type) of the board."""
    links = "".join(f'<li><a href="/board/ad/{n}.html">广告 {n}</a></li>' for n in range(ADS))
    links += '<li><a href="/secret/ad.html">内部广告</a></li>'
    pages = {
        "/robots.txt": (b"User-agent: *\nDisallow: /secret/\n", "text/plain"),
        "/board/list.html": (
            f'<html><body><ul id="ads">{links}</ul></body></html>'.encode(),
            "text/html",
        ),
        "/secret/ad.html": (
            "<html><body><h1>征信修复 内部</h1></body></html>".encode(),
            "text/html",
        ),
        "/static/board.js": (SCRIPT, "application/javascript"),
        "/static/board.css": (b"body{margin:0}#ad{font-size:20px}", "text/css"),
    }
    for n in range(ADS):
        pages[f"/board/ad/{n}.html"] = (
            (
                '<html><head><meta charset="utf-8"><title>广告</title>'
                '<link rel="stylesheet" href="/static/board.css"></head><body>'
                f'<img src="/img/{n}.png" width="400" height="300"><div id="ad"></div>'
                '<script src="/static/board.js"></script></body></html>'
            ).encode(),
            "text/html; charset=utf-8",
        )
        pages[f"/img/{n}.png"] = (png(400, 300, RED), "image/png")
    return pages


class Board(ThreadingHTTPServer):
    """The board's server: every path asked for, and how many ad pages were in flight at once."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _BoardHandler)
        self.pages = board_pages()
        self.hits: list[str] = []
        self.ad_delay = 0.0  # seconds each ad page takes: lets requests overlap
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()

    def reset(self, ad_delay: float = 0.0) -> None:
        with self.lock:
            self.hits.clear()
            self.ad_delay, self.in_flight, self.max_in_flight = ad_delay, 0, 0

    def asked(self, prefix: str) -> list[str]:
        with self.lock:
            return [h for h in self.hits if h.startswith(prefix)]


class _BoardHandler(BaseHTTPRequestHandler):
    server: Board
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        ad = path.startswith("/board/ad/")
        with self.server.lock:
            self.server.hits.append(path)
            if ad:
                self.server.in_flight += 1
                self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            if ad and self.server.ad_delay:
                time.sleep(self.server.ad_delay)
            body, ctype = self.server.pages.get(path, (b"not found", "text/plain"))
            self.send_response(200 if path in self.server.pages else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            if ad:
                with self.server.lock:
                    self.server.in_flight -= 1


@pytest.fixture(scope="module")
def board() -> Iterator[tuple[Board, str]]:
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed")
    server = Board()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SOURCE = """\
sources:
  - id: board
    name: 分类信息（脚本渲染）
    preset: listing
    start_urls: ["{base}/board/list.html"]
    links: {{detail_links: ["#ads"]}}
    render: browser
    browser: {{wait_for: {{detail: "#ad h1"}}, pages: details, screenshot: {screenshot}}}
    limits: {{max_pages: 30, max_depth: 2}}
    politeness: {{download_delay: {delay}, concurrency: {concurrency}}}
"""

# `greywatch crawl` as the CLI runs it, with Scrapy settings added (AutoThrottle's own log).
DRIVER = """
import sys
from pathlib import Path
from rich.console import Console
from crawler.runner import run_crawls
from crawler.sources import load_sources
sources, db_url, debug = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
source = load_sources(Path(sources)).get("board")
overrides = {"AUTOTHROTTLE_DEBUG": True} if debug else {}
results = run_crawls([source], db_url, console=Console(stderr=True),
                     log_level="INFO" if debug else "WARNING", settings_overrides=overrides)
sys.exit(0 if results[0].status == "finished" else 1)
"""


@dataclass
class Crawl:
    """One crawl of the board: its stderr, run stats, stored pages and the server's log."""

    stderr: str
    stats: dict[str, Any]
    documents: dict[str, Document]
    hits: list[str]
    max_in_flight: int


def crawl_board(
    board: tuple[Board, str],
    tmp: Path,
    template: Path,
    *,
    screenshot: bool = False,
    delay: float = 0,
    concurrency: int = 2,
    ad_delay: float = 0.0,
    throttle_log: bool = False,
) -> Crawl:
    server, base = board
    server.reset(ad_delay)
    sources = tmp / "sources.yaml"
    sources.write_text(
        SOURCE.format(
            base=base, screenshot=str(screenshot).lower(), delay=delay, concurrency=concurrency
        ),
        encoding="utf-8",
    )
    shutil.copyfile(template, tmp / "greywatch.db")
    db_url = f"sqlite:///{tmp / 'greywatch.db'}"
    env = os.environ | {"GREYWATCH_HOME": str(tmp / "home"), "GREYWATCH_DOWNLOAD_TIMEOUT": "20"}
    cmd = [sys.executable, "-c", DRIVER, str(sources), db_url, "1" if throttle_log else "0"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    try:
        with Session(get_engine(db_url)) as session:
            run = session.scalars(select(CrawlRun)).one()
            docs = {d.url.removeprefix(base): d for d in session.scalars(select(Document))}
            stats = dict(run.stats)
    finally:
        dispose_engines()
    return Crawl(result.stderr, stats, docs, server.asked(""), server.max_in_flight)


@pytest.fixture(scope="module")
def plain(
    board: tuple[Board, str], tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Crawl:
    """No screenshots, two pages at a time, each ad page taking 0.3 s at the server."""
    tmp = tmp_path_factory.mktemp("plain")
    return crawl_board(board, tmp, _sqlite_template, concurrency=2, ad_delay=0.3)


@pytest.mark.browser
def test_script_written_text_is_kept_with_assets_blocked(plain: Crawl) -> None:
    ads = {url: doc for url, doc in plain.documents.items() if url.startswith("/board/ad/")}
    assert len(ads) == ADS
    for url, doc in ads.items():
        n = re.search(r"(\d+)\.html", url).group(1)  # type: ignore[union-attr]
        assert doc.rendered
        assert "专业征信修复" in doc.text and f"xinc{n}" in doc.text  # written by the script
        assert f"<h1>广告 {n}</h1>" in zlib.decompress(doc.raw).decode()
    assert plain.hits.count("/static/board.js") >= 1  # scripts are never blocked
    assert not [h for h in plain.hits if h.startswith("/img/") or h.endswith(".css")]
    assert plain.stats["playwright/request_count/aborted"] >= 2 * ADS  # picture + stylesheet


@pytest.mark.browser
def test_browser_pages_obey_robots_txt(plain: Crawl) -> None:
    assert "/secret/ad.html" not in plain.hits
    assert plain.stats["greywatch/skipped/robots_txt"] == 1
    assert plain.hits.index("/robots.txt") < plain.hits.index("/board/list.html")


@pytest.mark.browser
def test_per_site_concurrency_bounds_browser_pages(plain: Crawl) -> None:
    """concurrency 2: never more than two ad pages at the server at once (the 0.3 s each
    makes them overlap, so two is reached), and no more than two tabs for them."""
    assert plain.max_in_flight == 2
    assert plain.stats["greywatch/browser/tabs_opened"] <= 2
    assert plain.stats["playwright/page_count"] == ADS  # one page load per ad, tabs reused


@pytest.mark.browser
def test_screenshot_source_still_shows_the_pictures(
    board: tuple[Board, str], tmp_path: Path, _sqlite_template: Path
) -> None:
    run = crawl_board(board, tmp_path, _sqlite_template, screenshot=True)
    ads = [doc for url, doc in run.documents.items() if url.startswith("/board/ad/")]
    assert len(ads) == ADS
    assert {f"/img/{n}.png" for n in range(ADS)} <= set(run.hits)
    for doc in ads:
        assert "专业征信修复" in doc.text
        shot = Path(doc.screenshot_path).read_bytes()
        assert count_colour(shot, RED) >= 400 * 300 // 2  # the picture is in the screenshot


@pytest.mark.browser
def test_autothrottle_adapts_to_browser_pages(
    board: tuple[Board, str], tmp_path: Path, _sqlite_template: Path
) -> None:
    """AutoThrottle sees each rendered page's latency and raises the delay toward it."""
    run = crawl_board(
        board,
        tmp_path,
        _sqlite_template,
        delay=0.05,
        concurrency=1,
        ad_delay=0.3,
        throttle_log=True,
    )
    lines = re.findall(
        r"slot: 127\.0\.0\.1 \| conc:\s*\d+ \| delay:\s*(\d+) ms .*latency:\s*(\d+) ms", run.stderr
    )
    assert len(lines) >= ADS  # the listing and robots.txt are plain fetches; ads are rendered
    latencies = [int(latency) for _, latency in lines]
    assert sum(1 for ms in latencies if ms >= 300) >= ADS  # browser pages report their latency
    assert max(int(delay) for delay, _ in lines) > 50  # …and the delay grew from the start
    assert run.stats["playwright/page_count"] == ADS
