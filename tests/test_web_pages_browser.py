"""The workspace pages in real headless Chromium over a real uvicorn server: scraped markup
never runs (no dialog) on the dashboard, the template diff and the other pages, and an
analyst builds a 12315 pack from the browser and downloads it."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.db import get_engine, session_scope
from storage.repo import upsert_source
from tests.test_web_pages import make_site
from tests.web_util import browser_login, chromium_page, live_server, need_chromium

# Browser steps wait this long (ms): packs render every evidence page in Chromium, on a
# machine that may be busy.
SLOW_MS = 120_000
HOSTILE_SOURCE = "<img src=x onerror=alert('source')>论坛<script>alert('name')</script>"


def test_pages_with_hostile_scraped_text_fire_no_dialog(db_url: str, tmp_path: Path) -> None:
    need_chromium()
    # the real server's clock: the template's posts are made recent so the dashboard shows them
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    site = make_site(db_url, tmp_path, t0=recent)
    with session_scope(get_engine(db_url)) as session:
        upsert_source(session, "demo-forum", HOSTILE_SOURCE, {})
    with live_server(db_url) as base, chromium_page() as page:
        browser_login(page, base, "viewer")
        for path in (
            "/",
            f"/templates/{site.template}",
            "/templates",
            f"/actors/{site.actor}",
            "/actors/suggested",
            "/businesses",
            f"/businesses/{site.xincheng}",
            "/sources",
            "/sources/demo-forum",
        ):
            response = page.goto(base + path)
            assert response is not None and response.status == 200, path
            page.wait_for_load_state("load")
        assert page.dialogs == []  # type: ignore[attr-defined]
        page.goto(f"{base}/templates/{site.template}")
        shown = page.inner_text("#representative")
        assert "<script>alert('diff')</script>" in shown  # as text, not as markup
        assert page.locator("#representative script").count() == 0
        page.goto(f"{base}/")
        assert "alert('diff')" in page.inner_text("#bursts")
        assert page.locator("svg.chart rect.bar").count() > 0
        assert "alert('source')" in page.inner_text("#top-sources")
        assert page.dialogs == []  # type: ignore[attr-defined]


def test_analyst_builds_and_downloads_a_pack(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_chromium()
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path / "home"))  # packs of a PostgreSQL db
    site = make_site(db_url, tmp_path)
    with live_server(db_url) as base, chromium_page() as page:
        page.set_default_timeout(SLOW_MS)
        browser_login(page, base, "analyst")
        page.goto(f"{base}/businesses/{site.xincheng}")
        page.click("#business-review button[value=confirmed]")
        page.wait_for_url(f"{base}/businesses/{site.xincheng}")
        page.goto(f"{base}/packs")
        page.select_option("#pack-business", str(site.xincheng))
        page.click("#build-pack")
        page.wait_for_url(lambda url: "/packs/" in url and "built=1" in url)
        assert "12315-91440300MA5FX0L12G.zip" in page.inner_text("#pack-built")
        with page.expect_download() as info:
            page.click("#download-zip")
        download = info.value
        assert download.suggested_filename == "12315-91440300MA5FX0L12G.zip"
        names = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes())).namelist()
        assert "12315-91440300MA5FX0L12G/manifest.json" in names
        assert "12315-91440300MA5FX0L12G/report.html" in names
        # a second build from the browser is a new version; the first stays listed
        page.goto(f"{base}/packs")
        page.click("#build-pack")
        page.wait_for_url(lambda url: "/packs/" in url and "built=1" in url)
        versions = page.inner_text("#versions")
        assert "12315-91440300MA5FX0L12G.zip" in versions
        assert "12315-91440300MA5FX0L12G-v2.zip" in versions
        assert page.dialogs == []  # type: ignore[attr-defined]
