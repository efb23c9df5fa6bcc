"""The web workspace in a real browser: uvicorn on 127.0.0.1 and headless Chromium.

Sign in, walk the list, review three leads from the keyboard, export the view, open a
hostile scraped ad (list, lead page, the stored page in its sandboxed frame) without any
dialog firing, and sign out. With GREYWATCH_SCREENSHOTS=docs/img the run also saves the
screenshots the README shows (web-leads.png, web-lead.png).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db import get_engine
from storage.models import AuditLog, ExportLog, Finding
from tests.web_util import (
    HOSTILE_HTML,
    add_user,
    browser_login,
    chromium_page,
    live_server,
    need_chromium,
    seed,
)

pytestmark = pytest.mark.browser


def _screenshot(page: Any, name: str) -> None:
    """Save a screenshot for the README when GREYWATCH_SCREENSHOTS names a folder."""
    folder = os.environ.get("GREYWATCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _csp_errors(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m]


def test_sign_in_review_export_and_sign_out(tmp_path: Path) -> None:
    need_chromium()
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    seeded = seed(db_url)
    add_user(db_url, "ana", "analyst")
    lead_101 = seeded.world.doc_ids["http://forum.demo.test/t/101"]
    with live_server(db_url) as base, chromium_page() as page:
        console: list[str] = []
        page.on("console", lambda msg: console.append(msg.text))

        page.goto(f"{base}/leads")
        assert "/login?next=%2Fleads" in page.url  # signed out: to the login form
        browser_login(page, base, "ana")

        page.goto(f"{base}/leads")
        assert page.locator("#leads-table tbody tr").count() == 6
        assert page.locator("#leads-table a.lead-title").first.is_visible()
        _screenshot(page, "web-leads.png")

        page.goto(f"{base}/leads/{lead_101}")
        assert page.locator("#doc-text mark.ev").count() >= 2
        _screenshot(page, "web-lead.png")
        assert _csp_errors(console) == []  # our own pages need nothing the CSP forbids

        # the queue, from the keyboard: c on the first lead, j d on the one after the next,
        # then k back to the top, n for a note, Esc, c
        page.goto(f"{base}/review")
        queue = [
            int(v)
            for v in page.locator("#review-queue tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.lead)"
            )
        ]
        assert len(queue) == 6
        with page.expect_navigation():
            page.keyboard.press("c")
        page.keyboard.press("j")
        with page.expect_navigation():
            page.keyboard.press("d")
        page.keyboard.press("k")
        page.keyboard.press("n")
        page.keyboard.type("键盘备注")
        page.keyboard.press("Escape")
        with page.expect_navigation():
            page.keyboard.press("c")
        assert page.locator("#review-queue tbody tr").count() == 3

        # export what the list shows
        page.goto(f"{base}/leads?min_score=0.5&review=new")
        with page.expect_download() as download:
            page.click("#export-csv")
        exported = Path(download.value.path()).read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(exported.splitlines()))
        assert len(rows) == 3

        assert _csp_errors(console) == []
        assert page.dialogs == []  # type: ignore[attr-defined]

        page.click("#logout")
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/leads")
        assert "/login" in page.url

    with Session(get_engine(db_url)) as s:
        states = {f.id: (f.review_status, f.review_note) for f in s.scalars(select(Finding))}
        exports = s.scalars(select(ExportLog)).all()
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert states[queue[0]] == ("confirmed", "")
    assert states[queue[2]] == ("dismissed", "")
    assert states[queue[1]] == ("confirmed", "键盘备注")
    assert [(e.user, e.format, e.rows) for e in exports] == [("ana", "csv", 3)]
    assert actions == ["login", "review", "review", "review", "export", "logout"]


@pytest.mark.parametrize("where", ["list", "lead", "raw"])
def test_a_hostile_ad_never_fires_a_dialog(tmp_path: Path, where: str) -> None:
    need_chromium()
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    seeded = seed(db_url)
    add_user(db_url, "vera", "viewer")
    lead = seeded.hostile_finding
    with live_server(db_url) as base, chromium_page() as page:
        browser_login(page, base, "vera")
        url = {
            "list": f"{base}/leads?keyword=xinc999",
            "lead": f"{base}/leads/{lead}",
            "raw": f"{base}/leads/{lead}/raw",
        }[where]
        page.goto(url, wait_until="load")
        if where == "lead":
            frame = next(f for f in page.frames if f.url.endswith(f"/leads/{lead}/raw"))
            frame.wait_for_load_state("load")
            assert "专业征信修复" in frame.locator("body").inner_text()
            assert frame.locator("b").count() == 0  # its document.write never ran
        if where == "list":
            assert page.locator("#leads-table tbody tr").count() == 1
        page.mouse.move(200, 300)  # hover what the page drew: no onmouseover either
        page.mouse.click(5, 5)
        page.wait_for_load_state("load")
        assert page.dialogs == []  # type: ignore[attr-defined]
        if where == "raw":  # the control: the same page without our headers does fire them
            page.goto("about:blank")
            page.set_content(HOSTILE_HTML)
            assert page.dialogs  # type: ignore[attr-defined]
