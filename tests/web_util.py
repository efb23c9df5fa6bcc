"""Helpers for web workspace tests: seeded databases, users, signed-in clients, a real uvicorn
server on 127.0.0.1 in a thread, and Playwright Chromium pages.

Data is seeded through the project's storage functions (tests/case_world.py's pages and
`storage.repo.save_page` with a real analysis for the hostile page), never with SQL.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from greywatch.web.app import create_app
from greywatch.web.auth import hash_password
from pipelines.analyze import analyze_html
from storage import users
from storage.db import get_engine, migrate, session_scope
from storage.models import Finding
from storage.repo import PageRecord, save_page
from tests.case_world import World, build_world

PASSWORD = "correct horse battery"
CHROMIUM = os.environ.get("GREYWATCH_CHROMIUM") or "/usr/bin/chromium"

# A scraped ad written to attack whoever views it: script tags, event handlers, javascript:
# links, a formula for spreadsheets and terminal control characters.
HOSTILE_URL = "http://evil.demo.test/t/666"
HOSTILE_TITLE = '=HYPERLINK("http://evil.test","点我")<script>alert("title")</script>\x1b[2J'
HOSTILE_HTML = """<!doctype html><html><head><meta charset="utf-8">
<title>征信修复<script>alert('title-tag')</script></title>
<script>alert('head')</script></head>
<body onload="alert('onload')">
<article>
<h1>专业征信修复 不成功不收费<img src=x onerror="alert('img')"></h1>
<p>征信修复，消除逾期记录，内部渠道，不成功不收费！加微信 xinc999，电话 13700137000。
<a href="javascript:alert('link')">点击咨询</a> <svg onload="alert('svg')"></svg>
&lt;script&gt;alert('text')&lt;/script&gt; onerror=alert(1) 红字</p>
<iframe src="javascript:alert('frame')"></iframe>
<form action="javascript:alert('form')"><button>提交</button></form>
</article>
<script>document.write('<b>scripted</b>'); alert('body')</script>
</body></html>"""


@dataclass(frozen=True)
class Seeded:
    """What a seeded database holds that tests refer to."""

    world: World
    hostile_doc: int
    hostile_finding: int


def seed(db_url: str) -> Seeded:
    """Migrate `db_url` and store the case world plus one hostile ad; commit."""
    engine = get_engine(db_url)
    migrate(engine)
    with session_scope(engine) as session:
        world = build_world(session)
        analysis = analyze_html(HOSTILE_HTML.encode(), url=HOSTILE_URL)
        record = PageRecord(
            url=HOSTILE_URL,
            body=HOSTILE_HTML.encode(),
            fetched_at=datetime(2026, 11, 14, 3, 0, tzinfo=UTC),
            source_id="demo-forum",
            title=HOSTILE_TITLE,
            text=analysis.text,
            encoding="utf-8",
        )
        doc_id = save_page(session, record, analysis, "test-1").document_id
        finding = session.scalars(select(Finding).where(Finding.document_id == doc_id)).one()
        assert finding.kind == "promotion", finding.reason  # it must show in the leads list
        return Seeded(world, doc_id, finding.id)


@cache
def _hash_of(password: str) -> str:
    """One real argon2 hash per password per test run (hashing is slow by design)."""
    return hash_password(password)


def add_user(db_url: str, name: str, role: str = "analyst", password: str = PASSWORD) -> int:
    """Create a user on `db_url` (migrated) and return their id."""
    with session_scope(get_engine(db_url)) as session:
        return users.add_user(session, name, role, _hash_of(password)).id


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign `client` in as `name`; return the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"name": name, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/exports").text)


@contextmanager
def client_for(db_url: str, **kwargs: Any) -> Iterator[TestClient]:
    """A TestClient on a fresh app over `db_url` (the database must be migrated)."""
    with TestClient(create_app(db_url, **kwargs), base_url="http://127.0.0.1") as client:
        yield client


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(db_url: str) -> Iterator[str]:
    """A real uvicorn server for the app over `db_url` on 127.0.0.1, in a thread; yields its
    base URL and stops it on exit."""
    port = free_port()
    config = uvicorn.Config(
        create_app(db_url), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def need_chromium() -> None:
    """Skip the test when Chromium is missing (outside CI, where it must be there)."""
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed")


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A Playwright page in headless system Chromium; every dialog is recorded in
    `page.dialogs` (and dismissed) so tests can assert none fired."""
    from playwright.sync_api import sync_playwright

    from crawler.browser import CHROMIUM_ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                locale="zh-CN", viewport={"width": 1366, "height": 900}, accept_downloads=True
            )
            page = context.new_page()
            dialogs: list[str] = []
            page.dialogs = dialogs  # type: ignore[attr-defined]

            def on_dialog(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)
            yield page
        finally:
            browser.close()


def browser_login(page: Any, base: str, name: str, password: str = PASSWORD) -> None:
    """Sign in through the login form in a Playwright page."""
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
