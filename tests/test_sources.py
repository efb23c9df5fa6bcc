"""Sources YAML: valid files load; invalid ones fail with one sentence naming file, source
and field."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crawler.sources import BUNDLED_SOURCES, default_sources_path, load_sources
from greywatch.errors import ConfigError

FORUM = """\
sources:
  - id: bbs-demo
    name: 金融生活论坛
    preset: discuz
    start_urls: ["http://bbs.example.cn/forum-2-1.html"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


INVALID = [
    (
        FORUM + '    schedule: "0 */6 * *"\n',
        "source 'bbs-demo': field 'schedule': '0 */6 * *' is not a 5-field cron expression "
        "(min hour dom mon dow)",
    ),
    (
        FORUM + '    schedule: "61 * * * *"\n',
        "source 'bbs-demo': field 'schedule': '61 * * * *' is not a valid cron expression: "
        "Error validating expression '61': the last value (61) is higher than the maximum "
        "value (59)",
    ),
    (
        FORUM + "    colour: red\n",
        "source 'bbs-demo': field 'colour': unknown key (not allowed here)",
    ),
    (
        FORUM + FORUM.replace("sources:\n", ""),
        "source 'bbs-demo': field 'id': duplicate id (also source #1)",
    ),
    (
        FORUM.replace("discuz", "forum"),
        "source 'bbs-demo': field 'preset': Input should be 'discuz', 'listing', 'sitemap' "
        "or 'urls'",
    ),
    (FORUM.replace("    name: 金融生活论坛\n", ""), "source 'bbs-demo': field 'name': is required"),
    (FORUM.replace("- id: bbs-demo\n    name", "- name"), "source #1: field 'id': is required"),
    (
        FORUM.replace('    start_urls: ["http://bbs.example.cn/forum-2-1.html"]\n', ""),
        "source 'bbs-demo': needs start_urls or search",
    ),
    (
        FORUM.replace("discuz", "listing"),
        "source 'bbs-demo': preset 'listing' needs links.detail_links",
    ),
    (
        FORUM + "    links: {deny: ['(']}\n",
        "source 'bbs-demo': field 'links.deny': bad regex '(': missing ), unterminated "
        "subpattern at position 0",
    ),
    (
        FORUM + "    search: http://bbs.example.cn/search.php?q=征信\n",
        "source 'bbs-demo': field 'search': must contain {keyword}",
    ),
    (
        FORUM + "    charset: klingon\n",
        "source 'bbs-demo': field 'charset': unknown charset 'klingon'",
    ),
    (
        FORUM.replace("http://bbs", "ftp://bbs"),
        "source 'bbs-demo': field 'start_urls': 'ftp://bbs.example.cn/forum-2-1.html' is not "
        "an http(s) URL",
    ),
    (
        FORUM + "    browser: {screenshot: true}\n",
        "source 'bbs-demo': browser options are set but render is 'static'",
    ),
    (
        FORUM + "    limits: {max_pages: 0}\n",
        "source 'bbs-demo': field 'limits.max_pages': Input should be greater than or equal to 1",
    ),
    (
        FORUM + "    render: chrome\n",
        "source 'bbs-demo': field 'render': Input should be 'static' or 'browser'",
    ),
    (
        FORUM + "    render: browser\n    browser: {pages: threads}\n",
        "source 'bbs-demo': field 'browser.pages': Input should be 'all', 'listings' or 'details'",
    ),
    (
        FORUM.replace("id: bbs-demo", "id: BBS Demo"),
        "source 'BBS Demo': field 'id': must be lower-case letters, digits, '-' or '_' "
        "(at most 100)",
    ),
    ("sourcez: []\n", "field 'sourcez': unknown key (not allowed here)"),
    ("- id: x\n", "expected a mapping with a 'sources:' list at the top"),
    (
        "sources:\n  - id: [unclosed\n",
        "not valid YAML (line 3): expected ',' or ']', but got '<stream end>'",
    ),
]


@pytest.mark.parametrize(("text", "sentence"), INVALID)
def test_invalid_sources_name_file_source_and_field(
    tmp_path: Path, text: str, sentence: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert str(err.value) == f"{path}: {sentence}"


VALID = [
    (FORUM, "bbs-demo", ["bbs.example.cn"]),
    (FORUM + '    schedule: "*/30 8-22 * * 1-5"\n', "bbs-demo", ["bbs.example.cn"]),
    (
        FORUM + "    allowed_domains: [example.cn]\n    render: browser\n"
        "    browser: {wait_for: '#ads', scrolls: 2, screenshot: true}\n",
        "bbs-demo",
        ["example.cn"],
    ),
    (
        "sources:\n  - id: news\n    name: 新闻\n    preset: sitemap\n"
        "    start_urls: ['https://news.example.com.tw/robots.txt']\n    charset: big5\n",
        "news",
        ["news.example.com.tw"],
    ),
    ("sources: []\n", None, []),
]


@pytest.mark.parametrize(("text", "source_id", "domains"), VALID)
def test_valid_sources_load(
    tmp_path: Path, text: str, source_id: str | None, domains: list[str]
) -> None:
    config = load_sources(_write(tmp_path, text))
    if source_id is None:
        assert config.sources == []
        return
    source = config.get(source_id)
    assert source is not None
    assert source.domains() == domains


@pytest.mark.parametrize(
    ("charset", "keyword", "url"),
    [
        ("gbk", "征信修复", "http://bbs.example.cn/search.php?kw=%D5%F7%D0%C5%D0%DE%B8%B4&page=1"),
        (
            "utf-8",
            "征信修复",
            "http://bbs.example.cn/search.php?kw=%E5%BE%81%E4%BF%A1%E4%BF%AE%E5%A4%8D&page=1",
        ),
        ("big5", "代理退保", "http://bbs.example.cn/search.php?kw=%A5N%B2z%B0h%ABO&page=1"),
        (
            "gbk",
            "停息 挂账",
            "http://bbs.example.cn/search.php?kw=%CD%A3%CF%A2%20%B9%D2%D5%CB&page=1",
        ),
    ],
)
def test_search_terms_are_encoded_in_the_site_charset(
    tmp_path: Path, charset: str, keyword: str, url: str
) -> None:
    text = (
        "sources:\n  - id: s\n    name: 搜索\n    preset: listing\n"
        "    search: 'http://bbs.example.cn/search.php?kw={keyword}&page=1'\n"
        f"    charset: {charset}\n    links: {{detail_links: ['#threadlist']}}\n"
        f"    keywords: ['{keyword}']\n"
    )
    source = load_sources(_write(tmp_path, text)).sources[0]
    assert source.search_urls(source.keywords) == [url]


def test_demo_placeholder_is_filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREYWATCH_DEMO_URL", "http://127.0.0.1:9999")
    config = load_sources(BUNDLED_SOURCES)
    assert {s.id for s in config.sources} == {"bbs-demo", "classifieds-demo", "news-demo"}
    assert config.get("bbs-demo").start_urls == ["http://127.0.0.1:9999/bbs/forum-2-1.html"]
    explicit = load_sources(BUNDLED_SOURCES, variables={"demo": "http://127.0.0.1:1234"})
    assert explicit.get("news-demo").start_urls == ["http://127.0.0.1:1234/news/index.html"]
    assert all(s.schedule for s in config.sources)


def test_default_sources_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GREYWATCH_SOURCES", raising=False)
    assert default_sources_path() == BUNDLED_SOURCES
    (tmp_path / "sources.yaml").write_text(FORUM, encoding="utf-8")
    assert default_sources_path() == Path("sources.yaml")
    monkeypatch.setenv("GREYWATCH_SOURCES", "/etc/greywatch/sources.yaml")
    assert default_sources_path() == Path("/etc/greywatch/sources.yaml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greywatch", *args], capture_output=True, text=True, timeout=60
    )


def test_sources_check_cli_exit_codes(tmp_path: Path) -> None:
    good = _write(tmp_path, FORUM)
    ok = _cli("sources", "check", str(good))
    assert ok.returncode == 0, ok.stderr
    assert f"{good}: 1 sources ok" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(FORUM + "    colour: red\n", encoding="utf-8")
    failed = _cli("sources", "check", str(bad))
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        f"error: {bad}: source 'bbs-demo': field 'colour': unknown key (not allowed here)"
    )
    listed = _cli("sources", "list", "--sources", str(BUNDLED_SOURCES))
    assert listed.returncode == 0, listed.stderr
    assert "classifieds-demo" in listed.stdout and "browser" in listed.stdout
