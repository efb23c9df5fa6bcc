"""Browser sources: `wait_for` per page type, dropped pages counted one line each, a warning
when a run saves nothing, and a listing whose start page is an article says so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.test_crawl import CHROMIUM, make_world, write_sources

CLASSIFIEDS = """\
sources:
  - id: cls
    name: 分类信息
    preset: listing
    start_urls: ["{{demo}}/classifieds/index.html"]
    links: {{detail_links: ["#ads"]}}
    render: browser
    browser: {{wait_for: {wait_for}}}
    limits: {{max_pages: 20, max_depth: 2}}
    politeness: {{download_delay: 0, concurrency: 2}}
"""


@pytest.mark.browser
@pytest.mark.parametrize(
    ("wait_for", "saved", "dropped"),
    [
        ('"#ads a.ad"', 0, 4),  # one selector that only listings have: details dropped
        ('{listing: "#ads a.ad", detail: "#ad h1"}', 4, 0),  # per page type: all saved
    ],
)
def test_wait_for_per_page_type(
    tmp_path: Path, _sqlite_template: Path, wait_for: str, saved: int, dropped: int
) -> None:
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is not installed")
    sources = write_sources(tmp_path, CLASSIFIEDS.format(wait_for=wait_for))
    with make_world(tmp_path, _sqlite_template) as world:
        result = world.crawl("cls", sources=sources)
        run = world.run_of("cls")
    assert result.returncode == 0, result.stderr[-2000:]
    assert run.stats.get("greywatch/pages_saved", 0) == saved
    assert run.stats.get("greywatch/dropped/wait_for", 0) == dropped
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if "dropped http" in ln]
    assert len(lines) == dropped
    assert all("detail page never showed browser.wait_for '#ads a.ad'" in ln for ln in lines)
    if dropped:
        assert "warning: source cls: 4 pages dropped" in result.stderr
        assert "warning: source cls: saved nothing (" in result.stderr
        assert "saved nothing" in run.message  # the run row says it too
    else:
        assert "warning:" not in result.stderr


def test_listing_whose_start_page_is_an_article_says_so(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    sources = write_sources(
        tmp_path,
        """\
        sources:
          - id: article
            name: 文章当列表
            preset: listing
            start_urls: ["{demo}/news/2023/0928-metro.html"]
            links: {detail_links: ["ul.news-list"]}
            politeness: {download_delay: 0}
        """,
    )
    with make_world(tmp_path, _sqlite_template) as world:
        result = world.crawl("article", sources=sources)
        run = world.run_of("article")
    assert run.stats["greywatch/warnings/start_without_details"] == 1
    assert "has no detail links in links.detail_links ul.news-list: is it an article" in (
        result.stderr
    )
    assert "warning: source article: a start page has no detail links" in result.stderr
