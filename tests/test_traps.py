"""Crawler traps without deny rules (crawler.traps): a generated site on 127.0.0.1 with an
endless empty calendar, an endless events calendar whose months differ, and a 25-page forum.
An open source (every link followed, depth 30) stays out of the traps but reads the forum."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from crawler.traps import Limits, has_date, repetition, resemblance, sketch, url_shape

FORUM_PAGES = 25  # within the depth cap (30): only the trap guard could cut it
NAV = (
    '<div class="nav"><a href="/forum?page=1">论坛首页</a> <a href="/calendar?month=2026-11">'
    '活动日历</a> <a href="/events?month=2026-11">线下活动</a> 关于我们 联系我们 版权所有 '
    "本站内容由网友发布，仅供参考。请遵守法律法规，文明发帖。</div>"
)
_CHARS = "征信修复贷款逾期协商还款停息挂账代理退保维权投诉信用卡网贷利息减免律师咨询服务"


def _words(seed: int, n: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice(_CHARS) for _ in range(n))


def _month(query: str) -> tuple[int, int]:
    value = parse_qs(query).get("month", ["2026-11"])[0]
    year, mon = (int(x) for x in value.split("-"))
    return year, mon


class _Site(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        _Site.hits.append(self.path)
        parts = urlsplit(self.path)
        if parts.path == "/robots.txt":
            return self._send("User-agent: *\nAllow: /\n", "text/plain")
        pages = {"/forum": self._forum, "/thread": self._thread}
        pages |= {"/calendar": self._calendar, "/events": self._calendar}
        handler = pages.get(parts.path)
        if handler is None:
            return self._send("not found", "text/plain", 404)
        return self._send(f"<html><body>{NAV}{handler(parts)}</body></html>", "text/html")

    def _forum(self, parts: object) -> str:
        page = int(parse_qs(parts.query).get("page", ["1"])[0])
        threads = "".join(
            f'<li><a href="/thread?id={page * 100 + i}">{_words(page * 100 + i, 18)}</a></li>'
            for i in range(10)
        )
        nxt = f'<a href="/forum?page={page + 1}">下一页</a>' if page < FORUM_PAGES else ""
        return f'<ul class="threads">{threads}</ul><div class="pg">{nxt}</div>'

    def _thread(self, parts: object) -> str:
        tid = int(parse_qs(parts.query)["id"][0])
        return f"<h1>{_words(tid, 18)}</h1><p>{_words(-tid, 200)}</p>"

    def _calendar(self, parts: object) -> str:
        year, mon = _month(parts.query)
        nxt = f"{year + mon // 12}-{mon % 12 + 1:02d}"
        prv = f"{year - (mon == 1)}-{(mon - 2) % 12 + 1:02d}"
        if parts.path == "/events":  # a different programme every month
            body = f"<p>{_words(year * 12 + mon, 120)}</p>"
        else:
            body = f"<h1>{year}年{mon}月 活动日历</h1><p>本月暂无活动。</p>"
        links = f'<a href="?month={prv}">上个月</a> <a href="?month={nxt}">下个月</a>'
        return f'{body}<div class="pg">{links}</div>'

    def _send(self, text: str, ctype: str, status: int = 200) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def site() -> Iterator[str]:
    _Site.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# Runs one crawl in a fresh process (a Twisted reactor starts once per process) with the
# given setting overrides, and prints the run's stats as JSON.
DRIVER = """
import json, sys
from pathlib import Path
from typing import ClassVar
from crawler.runner import run_crawls
from crawler.sources import load_sources
from storage.db import get_engine, migrate, session_scope
from storage.repo import get_run
sources, db, overrides = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
migrate(get_engine(db))
[result] = run_crawls(load_sources(Path(sources)).sources, db, settings_overrides=overrides)
with session_scope(get_engine(db)) as session:
    print(json.dumps({"status": result.status, "stats": get_run(session, result.run_id).stats}))
"""

OPEN_SOURCE = """
sources:
  - id: open
    name: 全站跟随
    preset: listing
    start_urls: ["{site}/forum?page=1"]
    links: {{detail_links: ["ul.threads"], next_page: ["body"]}}
    limits: {{max_pages: 1000, max_depth: 30}}
    politeness: {{download_delay: 0, concurrency: 4}}
"""


def _crawl(tmp_path: Path, site: str, **overrides: object) -> dict[str, object]:
    sources = tmp_path / "sources.yaml"
    sources.write_text(textwrap.dedent(OPEN_SOURCE.format(site=site)), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'g.db'}"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(sources), db, json.dumps(overrides)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"GREYWATCH_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _count(prefix: str) -> int:
    return len({h for h in _Site.hits if h.startswith(prefix)})


def test_open_crawl_stays_out_of_traps_but_reads_the_whole_forum(tmp_path: Path, site: str) -> None:
    run = _crawl(tmp_path, site)
    stats = run["stats"]
    assert run["status"] == "finished"
    calendar, events = _count("/calendar"), _count("/events")
    assert calendar + events <= 20, (calendar, events)
    assert stats["greywatch/traps/near_duplicate"] >= 1  # the empty calendar
    assert stats["greywatch/traps/date_run"] >= 1  # the events calendar: dates marching on
    assert stats["greywatch/traps/dropped"] >= 2
    # The forum is a same-shape chain too, but every page differs: not cut.
    assert _count("/forum?page=") == FORUM_PAGES
    assert _count("/thread?id=") == FORUM_PAGES * 10


def test_without_the_guard_only_depth_bounds_the_trap(tmp_path: Path, site: str) -> None:
    """The control: the same crawl with the middleware off walks 30+ calendar months."""
    run = _crawl(tmp_path, site, GREYWATCH_TRAPS_ENABLED=False)
    assert _count("/calendar") >= 30
    assert not any(k.startswith("greywatch/traps/") for k in run["stats"])


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://x.cn/bbs/forum-2-1.html", "http://x.cn/bbs/forum-2-37.html", True),
        ("http://x.cn/cal?month=2026-11", "http://x.cn/cal?month=2031-02", True),
        ("http://x.cn/list?page=2&sort=new", "http://x.cn/list?sort=new&page=3", True),
        ("http://x.cn/list?page=2&sort=new", "http://x.cn/list?page=2&sort=hot", False),
        ("http://x.cn/a/1.html", "http://y.cn/a/1.html", False),
    ],
)
def test_url_shape(a: str, b: str, same: bool) -> None:
    assert (url_shape(a) == url_shape(b)) is same


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://x.cn/bbs/thread-1-1-1.html", None),
        ("http://x.cn/a/b/a/b/a/b/page.html", "segments"),
        ("http://x.cn/a/b/a/b/page.html", None),
        ("http://x.cn/s?q=1&sid=a&sid=b&sid=c", "params"),
        ("http://x.cn/s?q=" + "x" * 2000, "length"),
    ],
)
def test_repetition(url: str, reason: str | None) -> None:
    assert repetition(url, Limits()) == reason


@pytest.mark.parametrize(
    ("url", "dated"),
    [
        ("http://x.cn/calendar?month=2026-11", True),
        ("http://x.cn/archive/2024/03/", True),
        ("http://x.cn/news/20240315.html", True),
        ("http://x.cn/bbs/forum-2-13.html", False),
        ("http://x.cn/list?page=2025", False),
        ("http://x.cn/thread-202613-1-1.html", False),
    ],
)
def test_has_date(url: str, dated: bool) -> None:
    assert has_date(url) is dated


def test_resemblance_tells_near_copies_from_different_pages() -> None:
    base = _words(1, 300)
    assert resemblance(sketch(base), sketch(base)) == 1.0
    assert resemblance(sketch(base), sketch(base[:290] + "今天")) >= 0.9
    assert resemblance(sketch(base), sketch(_words(2, 300))) < 0.5
