"""Crawling for real: the demo site (and broken variants) on 127.0.0.1, `python -m greywatch
crawl` in a subprocess, a temp SQLite database, then assertions on the stored rows and on what
the server was asked for."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TimeoutError
from twisted.python.failure import Failure

from crawler.demo_site.server import DemoServer, serve
from crawler.errors import failure_reason
from crawler.pipelines import parse_published
from crawler.sources import BUNDLED_SOURCES, load_sources
from crawler.spiders.source import build_rules
from crawler.store import json_safe
from storage.db import dispose_engines, get_engine
from storage.models import CrawlRun, Document, Finding, SourcePage
from storage.repo import start_run

CHROMIUM = "/usr/bin/chromium"


@dataclass
class World:
    """A demo server, a migrated SQLite database, and the crawl subprocesses run against them."""

    server: DemoServer
    base: str
    db_url: str
    home: Path
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    hits_after_first: list[str] = field(default_factory=list)

    @property
    def engine(self) -> Engine:
        return get_engine(self.db_url)

    def crawl(
        self, *args: str, sources: Path = BUNDLED_SOURCES
    ) -> subprocess.CompletedProcess[str]:
        """`python -m greywatch crawl ARGS` against this world; the result is also kept."""
        env = os.environ | {
            "GREYWATCH_DEMO_URL": self.base,
            "GREYWATCH_HOME": str(self.home),
            "GREYWATCH_DOWNLOAD_TIMEOUT": "2",
        }
        cmd = [sys.executable, "-m", "greywatch", "crawl", *args, "--sources", str(sources)]
        result = subprocess.run(
            [*cmd, "--db", self.db_url], capture_output=True, text=True, env=env, timeout=300
        )
        self.runs.append(result)
        return result

    def rows(self) -> list[CrawlRun]:
        with Session(self.engine) as s:
            return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id)))

    def run_of(self, source_id: str) -> CrawlRun:
        return next(r for r in self.rows() if r.source_id == source_id)

    def documents(self) -> dict[str, Document]:
        with Session(self.engine) as s:
            return {d.url: d for d in s.scalars(select(Document))}


@contextmanager
def make_world(tmp: Path, template: Path) -> Iterator[World]:
    server, base = serve()
    shutil.copyfile(template, tmp / "greywatch.db")
    try:
        yield World(server, base, f"sqlite:///{tmp / 'greywatch.db'}", tmp / "home")
    finally:
        server.shutdown()
        server.server_close()
        dispose_engines()


def write_sources(tmp: Path, text: str) -> Path:
    path = tmp / "sources.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Iterator[World]:
    """Forum + news crawled once, the forum again, then news as a scheduled run (--run-id)."""
    with make_world(tmp_path_factory.mktemp("demo"), _sqlite_template) as world:
        world.crawl("bbs-demo", "news-demo")
        world.hits_after_first = list(world.server.hits)
        world.crawl("bbs-demo")
        with Session(world.engine) as s:
            run_id = start_run(s, "news-demo", "schedule")
            s.commit()
        world.crawl("news-demo", "--trigger", "schedule", "--run-id", str(run_id), "--resume")
        yield world


def test_first_crawl_stores_every_thread_and_article(demo_world: World) -> None:
    first = demo_world.runs[0]
    assert first.returncode == 0, first.stderr
    base = demo_world.base
    paths = {u[len(base) :] for u in demo_world.documents()}
    threads = (101, 102, 103, 104, 105, 106, 107, 108, 110, 111, 112)
    assert paths == {
        *(f"/bbs/thread-{n}-1-1.html" for n in threads),
        "/bbs/thread-101-2-1.html",
        "/news/2023/0927-pinganpuhui.html",
        "/news/2023/0928-metro.html",
    }
    assert "Traceback" not in first.stderr


def test_robots_disallowed_ad_is_never_fetched(demo_world: World) -> None:
    assert not any("/bbs/hidden/" in hit for hit in demo_world.server.hits)
    assert demo_world.hits_after_first.count("/robots.txt") == 2  # once per source
    assert demo_world.run_of("bbs-demo").stats["greywatch/skipped/robots_txt"] == 1


def test_flaky_page_is_retried_into_a_200(demo_world: World) -> None:
    assert demo_world.hits_after_first.count("/bbs/thread-108-1-1.html") == 3  # 503, 503, 200
    doc = demo_world.documents()[f"{demo_world.base}/bbs/thread-108-1-1.html"]
    assert "代理维权" in doc.text


@pytest.mark.parametrize(
    ("path", "encoding", "snippet", "title", "author"),
    [
        # GBK body behind a header that claims UTF-8: decoded by its <meta>.
        (
            "/bbs/thread-107-1-1.html",
            "gb18030",
            "代理退保",
            "保险不想要了？代理退保 全额退回",
            "退保小助手03",
        ),
        (
            "/bbs/thread-101-1-1.html",
            "gb18030",
            "xinc888",
            "征信修复 专业处理逾期 不成功不收费",
            "xinchengzx",
        ),
        (
            "/news/2023/0927-pinganpuhui.html",
            "big5hkscs",
            "平安普惠",
            "平安普惠多措并舉打擊金融黑灰產,切實守護消費者合法權益",
            "",
        ),
    ],
)
def test_pages_decode_and_fields_extract(
    demo_world: World, path: str, encoding: str, snippet: str, title: str, author: str
) -> None:
    doc = demo_world.documents()[demo_world.base + path]
    assert doc.encoding.replace("_", "") == encoding.replace("_", "")
    assert snippet in doc.text
    assert (doc.title, doc.author) == (title, author)


def test_errors_are_logged_with_url_and_counted(demo_world: World) -> None:
    run = demo_world.run_of("bbs-demo")
    assert (run.status, run.trigger) == ("finished", "manual")
    assert run.stats["greywatch/errors/http_404"] == 1
    assert run.stats["greywatch/errors/truncated"] == 1
    assert run.stats["greywatch/pages_saved"] == 12 == run.items
    assert run.stats["greywatch/leads"] >= 6
    json.dumps(run.stats)
    assert f"{demo_world.base}/bbs/thread-109-1-1.html: http_404" in demo_world.runs[0].stderr


def test_rerun_rereads_listings_and_skips_unchanged_threads(demo_world: World) -> None:
    second = demo_world.runs[1]
    assert second.returncode == 0, second.stderr
    rerun = [r for r in demo_world.rows() if r.source_id == "bbs-demo"][-1]
    assert rerun.stats["greywatch/skipped_unchanged"] == 12
    assert rerun.stats.get("greywatch/pages_saved", 0) == 0
    assert demo_world.server.hits.count("/bbs/forum-2-1.html") == 2
    assert len(demo_world.documents()) == 14  # no duplicates


def test_scheduled_run_is_adopted_and_uses_validators(demo_world: World) -> None:
    third = demo_world.runs[2]
    assert third.returncode == 0, third.stderr
    run = demo_world.rows()[-1]
    assert (run.source_id, run.trigger, run.status) == ("news-demo", "schedule", "finished")
    assert run.stats["greywatch/skipped_unchanged"] == 2
    assert sorted(demo_world.server.not_modified) == [
        "/news/2023/0927-pinganpuhui.html",
        "/news/2023/0928-metro.html",
    ]
    assert len([r for r in demo_world.rows() if r.source_id == "news-demo"]) == 2
    assert not (demo_world.home / "jobs" / "news-demo").exists()  # finished: queue dropped


def test_seed_article_is_a_warning_not_a_lead(demo_world: World) -> None:
    with Session(demo_world.engine) as s:
        kinds = {
            d.url.rsplit("/", 1)[1]: f.kind
            for d, f in s.execute(
                select(Document, Finding)
                .join(Finding, Finding.document_id == Document.id)
                .where(Document.source_id == "news-demo")
            )
        }
    assert kinds == {"0927-pinganpuhui.html": "warning", "0928-metro.html": "other"}


@pytest.fixture(scope="module")
def broken_world(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Iterator[World]:
    """One process crawling a trap, a capped source, broken pages and a dead site."""
    tmp = tmp_path_factory.mktemp("broken")
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    with make_world(tmp, _sqlite_template) as world:
        sources = write_sources(
            tmp,
            f"""\
            sources:
              - id: trap
                name: 日历陷阱
                preset: discuz
                start_urls: ["{world.base}/bbs/forum-2-1.html"]
                limits: {{max_pages: 500, max_depth: 3}}
                politeness: {{download_delay: 0, concurrency: 4}}
              - id: capped
                name: 限页
                preset: discuz
                start_urls: ["{world.base}/bbs/forum-2-1.html"]
                links: {{deny: ["calendar"]}}
                limits: {{max_pages: 5, max_depth: 50}}
                politeness: {{download_delay: 0, concurrency: 1}}
              - id: broken
                name: 故障页面
                preset: listing
                start_urls: ["{world.base}/broken/index.html"]
                links: {{detail_links: ["body"]}}
                limits: {{max_pages: 50, max_depth: 1}}
                politeness: {{download_delay: 0, concurrency: 8}}
              - id: mapped
                name: 站点地图
                preset: sitemap
                start_urls: ["{world.base}/robots.txt"]
                politeness: {{download_delay: 0}}
              - id: fixed
                name: 固定页面
                preset: urls
                start_urls: ["{world.base}/classifieds/ad.html?id=1"]
                politeness: {{download_delay: 0}}
              - id: gone
                name: 已关闭
                preset: urls
                start_urls: ["http://127.0.0.1:{dead}/news/index.html"]
                politeness: {{download_delay: 0}}
            """,
        )
        world.crawl("trap", "capped", "broken", "mapped", "fixed", "gone", sources=sources)
        yield world


def test_calendar_trap_is_bounded_by_depth(broken_world: World) -> None:
    trap = broken_world.run_of("trap")
    assert (trap.status, trap.stats["request_depth_max"]) == ("finished", 3)
    calendar = [h for h in broken_world.server.hits if h.startswith("/bbs/calendar")]
    assert calendar == [f"/bbs/calendar?month={m}" for m in ("2026-11", "2026-12", "2027-01")]


def test_page_cap_stops_the_crawl(broken_world: World) -> None:
    capped = broken_world.run_of("capped")
    assert capped.status == "finished"
    assert capped.stats["finish_reason"] == "closespider_pagecount"
    # The site has 16 reachable pages (the calendar denied). Requests in flight when the cap
    # fires still complete, and how many are in flight depends on how busy the machine is, so
    # "bounded" means the crawl stopped before the whole site, not exactly 5 pages.
    assert capped.stats["response_received_count"] < 16


def test_broken_pages_are_counted_not_fatal(broken_world: World) -> None:
    run = broken_world.run_of("broken")
    assert run.status == "finished"
    errors = {k: v for k, v in run.stats.items() if k.startswith("greywatch/errors/")}
    assert errors == {
        "greywatch/errors/http_500": 1,
        "greywatch/errors/http_404": 1,
        "greywatch/errors/timeout": 1,
        "greywatch/errors/truncated": 1,
    }
    assert broken_world.server.hits.count("/broken/500") >= 2  # retried before giving up
    stderr = broken_world.runs[0].stderr
    base = broken_world.base
    for path, reason in (("500", "http_500"), ("slow", "timeout"), ("missing", "http_404")):
        assert f"{base}/broken/{path}: {reason}" in stderr
    docs = broken_world.documents()
    assert "代理退保" in docs[f"{base}/broken/wrong-charset"].text
    assert docs[f"{base}/broken/truncated"].text.startswith("征信修复")
    assert f"{base}/broken/garbage" in docs  # kept as evidence; nothing to find in it


def test_sitemap_and_fixed_url_presets(broken_world: World) -> None:
    with Session(broken_world.engine) as s:
        by_source = {
            (d.source_id, d.url[len(broken_world.base) :]): d.rendered
            for d in s.scalars(select(Document).where(Document.source_id.in_(("mapped", "fixed"))))
        }
    assert by_source == {
        ("mapped", "/news/2023/0927-pinganpuhui.html"): False,
        ("mapped", "/news/2023/0928-metro.html"): False,
        ("fixed", "/classifieds/ad.html?id=1"): False,
    }
    # Without a browser the script-rendered ad is invisible: nothing to find.
    fixed = broken_world.documents()[f"{broken_world.base}/classifieds/ad.html?id=1"]
    assert "征信" not in fixed.text
    assert broken_world.run_of("mapped").status == broken_world.run_of("fixed").status == "finished"


def test_dead_site_fails_its_run_and_the_exit_code(broken_world: World) -> None:
    result = broken_world.runs[0]
    assert result.returncode == 1
    gone = broken_world.run_of("gone")
    assert gone.status == "failed"
    assert gone.message.startswith("no page could be fetched")
    assert f"source gone failed: {gone.message}" in result.stderr  # the run's reason
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_crawl_into_postgresql_twice_keeps_one_copy(engine: Engine, tmp_path: Path) -> None:
    """The team setup: `greywatch crawl --db postgresql://…`, then again; no duplicates."""
    server, base = serve()
    url = engine.url.render_as_string(hide_password=False)
    world = World(server, base, url, tmp_path / "home")
    try:
        first, again = world.crawl("bbs-demo"), world.crawl("bbs-demo")
    finally:
        server.shutdown()
        server.server_close()
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    runs = world.rows()
    assert [r.status for r in runs] == ["finished", "finished"]
    assert runs[0].stats["greywatch/pages_saved"] == 12
    assert runs[1].stats.get("greywatch/pages_saved", 0) == 0  # nothing changed on the site
    with Session(world.engine) as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 12
        assert s.scalar(select(func.count()).select_from(Finding)) == 12
        leads = s.scalar(
            select(func.count()).select_from(Finding).where(Finding.kind == "promotion")
        )
    assert leads == runs[0].stats["greywatch/leads"] > 0


def test_unknown_source_is_a_one_line_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "greywatch",
            "crawl",
            "nope",
            "--sources",
            str(BUNDLED_SOURCES),
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {BUNDLED_SOURCES}: no source 'nope' (known: bbs-demo, classifieds-demo, news-demo)"
    )


@pytest.mark.browser
def test_browser_source_sees_script_rendered_ads(tmp_path: Path, _sqlite_template: Path) -> None:
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed")
    with make_world(tmp_path, _sqlite_template) as world:
        result = world.crawl("classifieds-demo")
        assert result.returncode == 0, result.stderr
        docs = world.documents()
        hits = list(world.server.hits)
    ads = {u.rsplit("=", 1)[1]: d for u, d in docs.items() if "ad.html?id=" in u}
    assert set(ads) == {"1", "2", "3", "4"}
    assert all(d.rendered for d in ads.values())
    assert "征信修复" in ads["1"].text and "xinc888" in ads["1"].text
    assert ads["3"].title == "九成新山地车出售 300元"
    shot = Path(ads["1"].screenshot_path)
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "/classifieds/ads.js" in hits  # the content came from the script
    static = (Path(__file__).parents[1] / "crawler/demo_site/site/classifieds/ad.html").read_text()
    assert "征信" not in static  # …and not from the HTML a plain fetch sees


BROWSER_FORUM = """
sources:
  - id: forum-in-chromium
    name: demo forum, rendered
    preset: discuz
    start_urls: ["{{demo}}/bbs/forum-2-1.html"]
    charset: gbk
    links: {{deny: ["/calendar", "mod=logging", "action=logout", "thread-1(09|10)-"]}}
    fields: {{title: "#thread_subject"}}
    render: browser
    browser: {{pages: {pages}}}
    limits: {{max_pages: 40, max_depth: 3}}
    politeness: {{download_delay: 0, concurrency: 2}}
"""


@pytest.mark.browser
def test_browser_renders_only_the_pages_that_need_it(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    """`browser.pages: details`: threads go through Chromium, listings are plain fetches."""
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed")
    runs = {}
    for pages in ("all", "details"):
        work = tmp_path / pages
        work.mkdir()
        sources = write_sources(work, BROWSER_FORUM.format(pages=pages))
        with make_world(work, _sqlite_template) as world:
            result = world.crawl("forum-in-chromium", sources=sources)
            assert result.returncode == 0, result.stderr
            docs = world.documents()
            runs[pages] = world.run_of("forum-in-chromium").stats
        assert docs and all(d.rendered for d in docs.values())  # every thread page rendered
    listings = runs["details"]["greywatch/listing_pages"]
    assert listings == runs["all"]["greywatch/listing_pages"] >= 2
    # the same crawl, minus one browser page per listing page
    opened = {pages: stats["playwright/page_count"] for pages, stats in runs.items()}
    assert opened["details"] == opened["all"] - listings


# -- pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preset", "page", "detail", "listing"),
    [
        (
            "discuz",
            '<div id="threadlist"><a class="s xst" href="thread-7-1-1.html">帖子</a></div>'
            '<div class="pg"><a href="forum-2-2.html" class="nxt">下一页</a>'
            '<a href="calendar?month=2026-12">下月</a></div><a href="space-uid-1.html">我</a>',
            {"/thread-7-1-1.html"},
            {"/forum-2-2.html"},
        ),
        (
            "listing",
            '<ul class="list"><li><a href="/a/1.html">一</a></li><li><a href="/logout">退出</a>'
            '</li></ul><a class="next" href="/list?page=2">下一页</a><a href="/about">关于</a>',
            {"/a/1.html"},
            {"/list?page=2"},
        ),
    ],
)
def test_rules_split_detail_and_listing_links(
    tmp_path: Path, preset: str, page: str, detail: set[str], listing: set[str]
) -> None:
    path = write_sources(
        tmp_path,
        f"""\
        sources:
          - id: s
            name: s
            preset: {preset}
            start_urls: ["http://example.cn/"]
            links: {{detail_links: {'[".list"]' if preset == "listing" else "[]"},
                     deny: ["logout", "calendar"]}}
        """,
    )
    rules = build_rules(load_sources(path).sources[0])
    response = HtmlResponse("http://example.cn/", body=page.encode(), encoding="utf-8")
    found = [
        {link.url[len("http://example.cn") :] for link in r.link_extractor.extract_links(response)}
        for r in rules
    ]
    assert found == [detail, listing]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "timeout"),
        (DNSLookupError(), "dns"),
        (ConnectionRefusedError(), "connection_refused"),
        (
            HttpError(HtmlResponse("http://x/", status=503, request=Request("http://x/"))),
            "http_503",
        ),
        (ValueError("garbage"), "valueerror"),
    ],
)
def test_failure_reasons(exc: Exception, reason: str) -> None:
    assert failure_reason(Failure(exc)) == reason


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("发表于 2026-10-12 09:31", "2026-10-12T09:31:00+08:00"),
        ("2023-09-27 14:53:48 來源:今日熱點網", "2023-09-27T14:53:48+08:00"),
        ("2026年3月5日", "2026-03-05T00:00:00+08:00"),
        ("2026/13/40", None),
        ("昨天", None),
    ],
)
def test_parse_published(text: str, iso: str | None) -> None:
    parsed = parse_published(text)
    assert (parsed.isoformat() if parsed else None) == iso


def test_stats_are_made_json_safe() -> None:
    from datetime import datetime

    stats = {"start_time": datetime(2026, 1, 1, tzinfo=UTC), "n": 1, "x": {1, 2}}
    safe = json_safe(stats)
    assert safe["start_time"] == "2026-01-01T00:00:00+00:00" and safe["n"] == 1
    json.dumps(safe)


def test_chromium_path_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from crawler.browser import find_chromium, playwright_settings
    from greywatch.errors import ConfigError

    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("GREYWATCH_CHROMIUM", str(fake))
    assert find_chromium() == str(fake)
    assert playwright_settings()["PLAYWRIGHT_LAUNCH_OPTIONS"]["executable_path"] == str(fake)
    monkeypatch.setenv("GREYWATCH_CHROMIUM", str(tmp_path / "missing"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="no Chromium found"):
        playwright_settings()
    monkeypatch.delenv("GREYWATCH_CHROMIUM")
    assert find_chromium() is None or shutil.which("chromium") is None


def test_two_sources_reaching_one_page_both_record_it(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    """The news articles through a listing and through the sitemap: for each source's run
    they are its own pages (saved, not "unchanged"), and each source knows them next time."""
    with make_world(tmp_path, _sqlite_template) as world:
        sources = write_sources(
            tmp_path,
            f"""\
            sources:
              - id: news-list
                name: 新闻列表
                preset: listing
                start_urls: ["{world.base}/news/index.html"]
                links: {{detail_links: ["ul.news-list"]}}
                politeness: {{download_delay: 0}}
              - id: news-map
                name: 新闻站点地图
                preset: sitemap
                start_urls: ["{world.base}/sitemap.xml"]
                politeness: {{download_delay: 0}}
            """,
        )
        results = [world.crawl(sid, sources=sources) for sid in ("news-list", "news-map")]
        results.append(world.crawl("news-map", sources=sources))
        assert all(r.returncode == 0 for r in results), results[-1].stderr
        first, second, again = (r.stats for r in world.rows())
        with Session(world.engine) as s:
            pairs = set(s.execute(select(SourcePage.source_id, SourcePage.document_id)).tuples())
        assert len(world.documents()) == 2  # one document per URL…
    assert first["greywatch/pages_saved"] == second["greywatch/pages_saved"] == 2
    assert "greywatch/skipped_unchanged" not in second
    assert again["greywatch/skipped_unchanged"] == 2  # …recorded for each source that saw it
    assert {sid for sid, _ in pairs} == {"news-list", "news-map"} and len(pairs) == 4
