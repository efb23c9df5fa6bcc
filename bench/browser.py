"""Browser pages/s: greywatch's Chromium settings before and after issue #13, in one run.

Serves a generated JS board on 127.0.0.1 (static listings; a few hundred ad pages whose text a
script writes 50 ms after load, each with a stylesheet, a web font and two pictures, as real
boards have), then crawls it with `render: browser, pages: details` in subprocesses,
alternating:
- old: scrapy-playwright's own handler with the settings greywatch had (one context, two tabs,
  a new tab per page, every subresource fetched, navigation waits for `load`);
- new: crawler.browser.BrowserHandler with today's settings.
Pages/s including start-up = rendered pages / the crawl's Scrapy elapsed time (Playwright and
Chromium start inside it); excluding start-up = (pages - 1) / (last - first fetch time of the
rendered pages). CPU seconds are the crawl process tree's own (rusage), start-up included.
Then the plain (non-browser) crawl against bare Scrapy, as bench/crawl.py measures it.
Run: `.venv/bin/python bench/browser.py [--pages 300] [--repeat 2] [--items 1000]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.crawl import bare_crawl, build_site, greywatch_crawl, serve_pages  # noqa: E402

PER_LIST = 25
CONCURRENCY = 4  # the browser source's per-site concurrency (politeness.concurrency)
TARGET_PAGES_S = 10.0
OLD = {  # what crawler/browser.py and crawler/settings.py configured before issue #13
    "DOWNLOAD_HANDLERS": {
        "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
        "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    },
    "PLAYWRIGHT_MAX_CONTEXTS": 1,
    "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
}
AD = "专业征信修复，消除逾期记录，不成功不收费！电话 138 0013 {n:04d}，微信 xc{n}"
PLAIN = "周末去梧桐山爬山，人不多，风景很好，推荐带小孩的家庭去。"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (stdlib only)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _ad_page(n: int) -> bytes:
    text = json.dumps(AD.format(n=n) if n % 3 == 0 else PLAIN, ensure_ascii=True)
    return (
        '<html><head><meta charset="utf-8"><title>广告</title>'
        '<link rel="stylesheet" href="/static/site.css"></head><body>'
        f'<img src="/img/{n}-a.png"><div id="ad"></div><img src="/img/{n}-b.png">'
        "<script>setTimeout(function(){document.getElementById('ad').innerHTML="
        f"'<h1>广告 {n}</h1><p>' + {text} + '</p>';}}, 50);</script></body></html>"
    ).encode()


def js_site(pages: int) -> dict[str, bytes]:
    """Path → body of the JS board: static listings with a pager, script-written ads, assets."""
    lists = (pages + PER_LIST - 1) // PER_LIST
    pager = "".join(f'<a href="/js/list/{k}.html">{k}</a> ' for k in range(lists))
    site = {f"/js/ad/{n}.html": _ad_page(n) for n in range(pages)}
    for k in range(lists):
        links = "".join(
            f'<li><a href="/js/ad/{n}.html">广告 {n}</a></li>'
            for n in range(k * PER_LIST, min((k + 1) * PER_LIST, pages))
        )
        page = f'<html><body><ul class="ads">{links}</ul><div class="pages">{pager}</div>'
        site[f"/js/list/{k}.html"] = (page + "</body></html>").encode()
    picture = _png(320, 240, (200, 40, 40))
    site |= {f"/img/{n}-{s}.png": picture for n in range(pages) for s in "ab"}
    site["/static/site.css"] = (
        b"@font-face{font-family:Board;src:url(/static/board.woff2)}"
        b"body{font-family:Board,sans-serif;margin:2em}h1{color:#a00}"
    )
    site["/static/board.woff2"] = bytes(range(256)) * 64  # not a real font: never parsed
    return site


SOURCES = """sources:
  - id: js-board
    name: bench JS board
    preset: listing
    start_urls: ["{base}/js/list/0.html"]
    links: {{detail_links: ["ul.ads"], next_page: ["div.pages"]}}
    render: browser
    browser: {{wait_for: {{detail: "#ad h1"}}, pages: details}}
    limits: {{max_pages: 100000, max_depth: 3}}
    politeness: {{download_delay: 0, concurrency: {concurrency}}}
"""


@dataclass
class BrowserRun:
    """One browser crawl's figures."""

    label: str
    rendered: int
    elapsed_s: float
    first_to_last_s: float
    tabs: int
    cpu_s: float

    @property
    def with_startup(self) -> float:
        return self.rendered / self.elapsed_s

    @property
    def without_startup(self) -> float:
        return (self.rendered - 1) / self.first_to_last_s


def child(label: str, sources: str, db_url: str) -> None:
    """In the crawl subprocess: crawl js-board with the old or the new browser settings."""
    from crawler.runner import run_crawls
    from crawler.sources import load_sources
    from storage.db import get_engine, migrate

    migrate(get_engine(db_url))
    source = load_sources(Path(sources)).get("js-board")
    assert source is not None
    overrides = OLD if label == "old" else {}
    with open(os.devnull, "w") as quiet:
        from rich.console import Console

        run_crawls([source], db_url, console=Console(file=quiet), settings_overrides=overrides)


def browser_crawl(label: str, base: str, work: Path) -> BrowserRun:
    """Crawl the JS board in a subprocess with `label` settings; figures from its database."""
    from sqlalchemy import create_engine, text

    work.mkdir(parents=True)
    sources = work / "sources.yaml"
    sources.write_text(SOURCES.format(base=base, concurrency=CONCURRENCY), encoding="utf-8")
    db_url = f"sqlite:///{work / 'bench.db'}"
    env = os.environ | {"GREYWATCH_HOME": str(work / "home")}
    cmd = [sys.executable, __file__, "--child", label, str(sources), db_url]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{label} crawl failed (status {status})")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stats = json.loads(conn.execute(text("SELECT stats FROM crawl_runs")).scalar_one())
        rendered, first, last = conn.execute(
            text(
                "SELECT count(*), min(fetched_at), max(fetched_at) FROM documents "
                "WHERE rendered = 1"
            )
        ).one()
    engine.dispose()
    span = (_when(last) - _when(first)) if rendered > 1 else float("nan")
    tabs = stats.get("greywatch/browser/tabs_opened", stats.get("playwright/page_count", 0))
    return BrowserRun(
        label, rendered, stats["elapsed_time_seconds"], span, tabs, usage.ru_utime + usage.ru_stime
    )


def _when(value: object) -> float:
    """Seconds since the epoch of a stored fetched_at (SQLite hands back text)."""
    from datetime import datetime

    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300, help="script-rendered ad pages")
    parser.add_argument("--repeat", type=int, default=2, help="alternate old/new N times")
    parser.add_argument("--items", type=int, default=1000, help="forum pages for the crawl ratio")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # LABEL SOURCES DB_URL
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    site = build_site(args.items, 0) | js_site(args.pages)
    queue: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve_pages, args=(queue, site), daemon=True)
    server.start()
    base = f"http://127.0.0.1:{queue.get(timeout=60)}"
    load_before = os.getloadavg()
    runs: dict[str, list[BrowserRun]] = {"old": [], "new": []}
    bare, full = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for n in range(args.repeat):  # alternated, so both see the same machine load
                for label in ("old", "new"):
                    runs[label].append(browser_crawl(label, base, work / f"{label}{n}"))
                bare.append(bare_crawl(f"{base}/index.html"))
                full.append(greywatch_crawl(base, work / f"plain{n}", "bench"))
    finally:
        server.terminate()
    load_after = os.getloadavg()
    best = {label: max(rs, key=lambda r: r.without_startup) for label, rs in runs.items()}
    print(
        f"JS board: {args.pages} ad pages written by a script (stylesheet, web font, 2 pictures "
        f"each), static listings; per-site concurrency {CONCURRENCY}; best of {args.repeat} "
        "alternated runs"
    )
    print("settings  pages  incl. start-up   excl. start-up   tabs opened  CPU s/page")
    for label in ("old", "new"):
        r = best[label]
        print(
            f"{label:8s} {r.rendered:6d} {r.with_startup:7.1f} pages/s  {r.without_startup:7.1f} "
            f"pages/s  {r.tabs:11d}  {r.cpu_s / r.rendered:10.3f}"
        )
    old, new = best["old"], best["new"]
    print(
        f"new/old: {new.with_startup / old.with_startup:.2f}x incl. start-up, "
        f"{new.without_startup / old.without_startup:.2f}x excl. start-up, "
        f"{(old.cpu_s / old.rendered) / (new.cpu_s / new.rendered):.2f}x less CPU per page "
        f"(target >= {TARGET_PAGES_S:.0f} pages/s)"
    )
    every = ", ".join(
        f"{r.label} {r.with_startup:.1f}/{r.without_startup:.1f}"
        for n in range(args.repeat)
        for r in (runs["old"][n], runs["new"][n])
    )
    print(f"every run (pages/s incl./excl. start-up): {every}")
    bare_pages, bare_s = min(bare, key=lambda r: r[1] / r[0])
    gw_pages, gw_s, saved = min(full, key=lambda r: r[1] / r[0])
    ratio = (gw_pages / gw_s) / (bare_pages / bare_s)
    print(
        f"plain crawl ({args.items} forum pages): bare Scrapy {bare_pages / bare_s:.1f} pages/s, "
        f"greywatch {gw_pages / gw_s:.1f} pages/s ({saved} stored): {ratio:.2f}x (target >= 0.85x)"
    )
    print(
        f"CPUs: {os.cpu_count()}, load average {load_before[0]:.1f} before, {load_after[0]:.1f} "
        "after (shared machine: compare the ratios, not the absolute figures)"
    )


if __name__ == "__main__":
    main()
