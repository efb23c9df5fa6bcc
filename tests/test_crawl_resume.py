"""A crawl killed midway (SIGKILL, as a crash or an OOM kill would) resumes on the next run:
every page ends up stored exactly once, pages already held are not rewritten, and the killed
run is marked as interrupted rather than left "running" forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.db import dispose_engines, get_engine, migrate
from storage.models import CrawlRun, Document
from tests.proc_util import children, wait_gone

PAGES = 24
DELAY_S = 0.25  # per detail page: the crawl takes several seconds, so it can be killed midway

AD = "专业征信修复，不成功不收费，内部渠道当天处理。联系电话 138-0013-{n:04d}，微信同号。"


class _Site(BaseHTTPRequestHandler):
    """A listing of PAGES ads; each ad page answers slowly. Counts requests in flight, to
    check the per-site concurrency limit."""

    lock = threading.Lock()
    in_flight = 0
    max_in_flight = 0
    ads_served = 0

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
            ctype = "text/plain"
        elif self.path == "/list.html":
            links = "".join(f'<li><a href="/ad/{n}.html">广告 {n}</a></li>' for n in range(PAGES))
            body = f"<html><body><ul id='ads'>{links}</ul></body></html>".encode()
            ctype = "text/html; charset=utf-8"
        elif self.path.startswith("/ad/"):
            with _Site.lock:
                _Site.in_flight += 1
                _Site.max_in_flight = max(_Site.max_in_flight, _Site.in_flight)
            time.sleep(DELAY_S)
            with _Site.lock:
                _Site.in_flight -= 1
                _Site.ads_served += 1
            n = int(self.path.removeprefix("/ad/").removesuffix(".html"))
            text = AD.format(n=n)
            body = (
                f"<html><head><title>征信修复 {n}</title></head>"
                f"<body><h1>征信修复 {n}</h1><p>{text}</p></body></html>"
            ).encode()
            ctype = "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def site() -> Iterator[str]:
    _Site.in_flight = _Site.max_in_flight = _Site.ads_served = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _wait_for(check: Callable[[], bool], proc: subprocess.Popen[str] | None = None) -> None:
    """Poll `check` (bounded, so a broken crawl fails the test instead of hanging it)."""
    deadline = time.monotonic() + 120
    while not check():
        assert proc is None or proc.poll() is None, "the crawl ended before the test could act"
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def _sources(tmp_path: Path, site: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(
        textwrap.dedent(f"""
        sources:
          - id: ads
            name: 慢速广告站
            preset: listing
            start_urls: ["{site}/list.html"]
            links: {{detail_links: ["#ads"]}}
            limits: {{max_pages: 100, max_depth: 2}}
            politeness: {{download_delay: 0, concurrency: 1}}
        """),
        encoding="utf-8",
    )
    return path


def _crawl_cmd(sources: Path, db_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "greywatch",
        "crawl",
        "ads",
        "--sources",
        str(sources),
        "--db",
        db_url,
    ]


def _count_docs(db_url: str) -> int:
    with Session(get_engine(db_url)) as s:
        return s.scalar(select(func.count()).select_from(Document)) or 0


def test_killed_crawl_resumes_without_duplicates(tmp_path: Path, site: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(get_engine(db_url))
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        textwrap.dedent(f"""
        sources:
          - id: ads
            name: 慢速广告站
            preset: listing
            start_urls: ["{site}/list.html"]
            links: {{detail_links: ["#ads"]}}
            limits: {{max_pages: 100, max_depth: 2}}
            politeness: {{download_delay: 0, concurrency: 1}}
        """),
        encoding="utf-8",
    )
    home = str(tmp_path / "home")
    env = os.environ | {"GREYWATCH_HOME": home, "GREYWATCH_ANALYSIS_WORKERS": "1"}

    # First run: killed hard once a few ads are stored.
    proc = subprocess.Popen(
        _crawl_cmd(sources, db_url),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while _count_docs(db_url) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the crawl finished before it could be killed"
        workers = children(proc.pid)
        assert workers, "the crawl runs its analysis in a worker process"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The analysis worker dies with the crawl: no orphan left blocked on its pipe.
    assert wait_gone(workers) == []
    held = _count_docs(db_url)
    assert 4 <= held < PAGES + 1  # killed midway: some pages stored, not all
    with Session(get_engine(db_url)) as s:
        assert s.scalars(select(CrawlRun.status)).all() == ["running"]
        first_hashes = {d.url: d.raw_sha256 for d in s.scalars(select(Document))}

    # Second run: completes the site.
    done = subprocess.run(
        _crawl_cmd(sources, db_url), env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with Session(get_engine(db_url)) as s:
        urls = s.scalars(select(Document.url)).all()
        runs = s.scalars(select(CrawlRun).order_by(CrawlRun.id)).all()
        docs = {d.url: d for d in s.scalars(select(Document))}
    assert len(urls) == len(set(urls))  # never a duplicate
    assert {f"{site}/ad/{n}.html" for n in range(PAGES)} <= set(urls)  # every ad, once
    assert [r.status for r in runs] == ["failed", "finished"]
    assert runs[0].message.startswith("interrupted")
    # Pages held before the kill were recognised as unchanged, not rewritten.
    assert runs[1].stats.get("greywatch/skipped_unchanged", 0) >= len(first_hashes) - 1
    assert all(docs[u].raw_sha256 == h for u, h in first_hashes.items())
    # politeness: concurrency 1 means one request at a time to the site, even with no delay
    assert _Site.max_in_flight == 1
    dispose_engines()


def _runs(db_url: str) -> list[CrawlRun]:
    with Session(get_engine(db_url)) as s:
        return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id)))


def test_a_source_is_crawled_once_at_a_time(tmp_path: Path, site: str) -> None:
    """Schedule plus manual: the second crawl refuses (or, with --wait, queues); the live
    first run is never called interrupted."""
    db_url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(get_engine(db_url))
    cmd = _crawl_cmd(_sources(tmp_path, site), db_url)
    env = os.environ | {"GREYWATCH_HOME": str(tmp_path / "home")}
    first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _Site.ads_served >= 2, first)
        refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        queued = subprocess.Popen(
            [*cmd, "--wait", "600"], env=env, stderr=subprocess.PIPE, text=True
        )
        _, first_err = first.communicate(timeout=300)
        _, queued_err = queued.communicate(timeout=300)
    finally:
        for proc in (first, locals().get("queued")):
            if proc is not None and proc.poll() is None:
                proc.kill()
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()[:1]
    assert line.startswith("error: source ads is already being crawled (run 1, pid ")
    assert f"pid {first.pid} on host" in line
    assert first.returncode == 0, first_err[-2000:]
    assert queued.returncode == 0, queued_err[-2000:]
    runs = _runs(db_url)
    assert [(r.status, r.message.split(";")[0]) for r in runs] == [("finished", "finished")] * 2
    assert runs[1].started_at >= runs[0].finished_at  # the queued crawl waited for the first
    dispose_engines()


def test_sigterm_stops_the_crawl_and_says_so(tmp_path: Path, site: str) -> None:
    db_url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(get_engine(db_url))
    env = os.environ | {"GREYWATCH_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        _crawl_cmd(_sources(tmp_path, site), db_url), env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_for(lambda: _Site.ads_served >= 3, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    [run] = _runs(db_url)
    assert proc.returncode == 1
    assert run.status == "failed" and run.message.startswith("stopped by a signal; ")
    assert f"source ads failed: {run.message}" in err
    assert _Site.ads_served < PAGES  # stopped midway, not run to the end
    dispose_engines()
