"""`greywatch terms suggest`: a crawl of a small site where promoters use a new slang word
(鲸落计划) must surface it; the pure scoring, candidate filters and CLI errors on their own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from greywatch.cli import app
from greywatch.errors import InputError
from pipelines.lexicon import Lexicon
from pipelines.normalize import compact, normalize
from pipelines.terms import (
    TermDoc,
    Vocabulary,
    absorbed,
    log_odds_z,
    rank,
    suggest_terms,
)
from storage.db import dispose_engines
from tests.test_crawl import World, write_sources

SLANG = "鲸落计划"
ESCAPE = "\x1b]0;pwned\x07\x1b[2J"  # set the window title, clear the screen
runner = CliRunner()

# -- a small site: ten promotions using the slang word, ten warnings and everyday posts --------

_LEADS_IN = ["加入", "报名", "参与", "申请", "上车", "进群了解", "入驻", "体验", "开通", "预约"]
_TAILS = ["帮你", "专属", "名额", "通道", "方案", "服务", "客服", "顾问", "小组", "老师"]
_SERVICES = ["征信修复", "停息挂账", "代理退保", "协商还款", "消除逾期"]


def _promotion(i: int) -> str:
    """A seller's post: the slang word in a different context each time, known service words,
    a guarantee and a contact, so the analyzer judges it a promotion."""
    lead, tail, service = _LEADS_IN[i], _TAILS[i], _SERVICES[i % len(_SERVICES)]
    spelled = "鯨落計劃" if i == 3 else "鲸 落 计 划" if i == 6 else SLANG  # Traditional, spaced
    hostile = ESCAPE if i in (8, 9) else ""  # scraped text may try to drive the terminal
    return (
        f"{lead}{hostile}{spelled}{tail}，{service}不成功不收费，内部渠道当天办理。"
        f"第{i + 1}批客户已成功上岸，加微信 jlplan{i:02d}，联系电话 1380013{i:04d}。"
    )


_WARNINGS = [
    "警惕“征信修复”骗局！警方提醒：所谓{s}均为骗局，不良记录无法花钱消除。",
    "监管部门发布风险提示：不法分子以{s}为名实施诈骗，切勿相信。",
    "记者调查：{s}乱象背后是黑灰产，消费者权益保护部门提醒防范。",
]
_CHATTER = [
    "周末去公园散步，看到湖边的荷花开得正好，拍了几张照片分享给大家。",
    "请问楼主这款电饭煲好用吗，煮出来的米饭口感怎么样，价格贵不贵。",
    "今天学做红烧肉，先焯水再炒糖色，小火慢炖一个小时，味道很香。",
    "孩子下周期末考试，最近每天晚上陪他复习数学和语文，挺辛苦的。",
    "小区门口新开了一家面馆，牛肉面分量很足，推荐附近的邻居去尝尝。",
]


def _other(i: int) -> str:
    if i < 5:
        return _WARNINGS[i % len(_WARNINGS)].format(s=_SERVICES[i])
    return _CHATTER[i - 5]


def _page(title: str, body: str) -> bytes:
    html = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><div class="post"><h1>{title}</h1><p>{body}</p></div></body></html>'
    )
    return html.encode()


def site_pages() -> dict[str, bytes]:
    """Path → body of the whole site: an index listing twenty posts."""
    pages = {f"/p/{i}.html": _page(f"帖子{i}", _promotion(i)) for i in range(10)}
    pages |= {f"/p/{10 + i}.html": _page(f"帖子{10 + i}", _other(i)) for i in range(10)}
    links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in pages)
    pages["/index.html"] = f'<html><body><ul id="list">{links}</ul></body></html>'.encode()
    pages["/robots.txt"] = b"User-agent: *\nAllow: /\n"
    return pages


class _SiteHandler(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = self.pages.get(self.path.split("?", 1)[0])
        kind = "text/plain" if self.path.endswith(".txt") else "text/html; charset=utf-8"
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")


@pytest.fixture(scope="module")
def slang_world(
    tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path
) -> Iterator[World]:
    """The site above served on 127.0.0.1, crawled once into a fresh SQLite database."""
    tmp = tmp_path_factory.mktemp("slang")
    shutil.copyfile(_sqlite_template, tmp / "greywatch.db")
    handler = type("Handler", (_SiteHandler,), {"pages": site_pages()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    db_url = f"sqlite:///{tmp / 'greywatch.db'}"
    world = World(server, base, db_url, tmp / "home")  # type: ignore[arg-type]
    sources = write_sources(
        tmp,
        f"""\
        sources:
          - id: slang-board
            name: 俚语论坛
            preset: listing
            start_urls: ["{base}/index.html"]
            links: {{detail_links: ["#list"]}}
            limits: {{max_pages: 50, max_depth: 2}}
            politeness: {{download_delay: 0, concurrency: 4}}
        """,
    )
    try:
        result = world.crawl("slang-board", sources=sources)
        assert result.returncode == 0, result.stderr
        yield world
    finally:
        server.shutdown()
        server.server_close()
        dispose_engines()


def _suggest(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "greywatch", "terms", "suggest", "--db", world.db_url, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_crawl_stores_ten_promotions_and_ten_other_pages(slang_world: World) -> None:
    docs = slang_world.documents()
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from storage.models import Document, Finding

    with Session(slang_world.engine) as s:
        kinds = dict(s.execute(select(Document.url, Finding.kind).join(Finding)).all())
    posts = {u: k for u, k in kinds.items() if "/p/" in u}
    assert len(posts) == 20 and len(docs) >= 20, (kinds, slang_world.runs[0].stdout)
    promoted = sorted(int(u.rsplit("/", 1)[1][:-5]) for u, k in posts.items() if k == "promotion")
    assert promoted == list(range(10))


def test_new_slang_word_is_suggested_with_counts_and_a_span(slang_world: World) -> None:
    result = _suggest(slang_world, "--since", "30d", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    top = [r["term"] for r in rows[:5]]
    assert SLANG in top, rows[:8]
    slang = rows[top.index(SLANG)]
    assert (slang["promotion_docs"], slang["other_docs"]) == (10, 0)
    example = slang["examples"][0]
    doc = slang_world.documents()[example["url"]]
    assert doc.text[example["start"] : example["end"]] == example["raw"]
    assert compact(normalize(example["raw"])).text == SLANG


def test_lexicon_words_are_never_suggested(slang_world: World) -> None:
    result = _suggest(slang_world, "--json", "--min-docs", "1", "--limit", "500")
    terms = [json.loads(line)["term"] for line in result.stdout.splitlines()]
    keys = Lexicon.load().jieba_words()
    assert terms and SLANG in terms
    assert not [(t, k) for t in terms for k in keys if t in k or k in t]


def test_table_has_chinese_headers_and_the_slang_word(slang_world: World) -> None:
    result = _suggest(slang_world, "--limit", "5")
    assert result.returncode == 0, result.stderr
    for header in ("候选词", "推广页", "其他页", "得分", "示例", SLANG, "推广页 10 篇"):
        assert header in result.stdout


def test_escapes_in_scraped_text_never_reach_the_terminal(slang_world: World) -> None:
    assert any(ESCAPE[:4] in d.text for d in slang_world.documents().values())  # stored as is
    for args in ((), ("--json",)):
        out = _suggest(slang_world, "--limit", "5", *args).stdout
        assert SLANG in out and "\x1b" not in out and "\x07" not in out


# -- pure parts -----------------------------------------------------------------------------


def _docs(spec: list[tuple[str, bool]]) -> list[TermDoc]:
    return [TermDoc(i, f"u{i}", text, promo) for i, (text, promo) in enumerate(spec)]


_FILLER = ["天气晴朗", "湖边散步", "面馆好吃", "复习数学", "荷花开了", "米饭很香"]


def _corpus(word: str, promo_hits: int, other_hits: int, n: int = 6) -> list[TermDoc]:
    """n promotions and n other pages, `word` in the first `promo_hits` / `other_hits`."""
    spec = []
    for side, hits in ((True, promo_hits), (False, other_hits)):
        for i in range(n):
            body = f"{_FILLER[i]}，{'今天' if side else '昨天'}第{i}次"
            spec.append((f"{word}，{body}" if i < hits else body, side))
    return _docs(spec)


@pytest.mark.parametrize(
    ("word", "promo_hits", "other_hits", "min_docs", "suggested"),
    [
        ("鲸落计划", 6, 0, 3, True),  # only sellers say it
        ("鲸落计划", 4, 4, 3, False),  # equally frequent on both sides
        ("鲸落计划", 3, 0, 4, False),  # fewer promotion pages than --min-docs
        ("鲸落计划", 3, 0, 3, True),  # …unless --min-docs allows it
        ("鲸落计划", 3, 6, 1, False),  # more common outside promotions
        ("征信修复", 6, 0, 1, False),  # a lexicon term
        ("徵信修復", 6, 0, 1, False),  # …spelled in Traditional characters
        ("鯨落計劃", 6, 0, 3, True),  # a new word in Traditional is reported Simplified
        ("征信", 6, 0, 1, False),  # part of a lexicon term
        ("快来征信修复吧", 6, 0, 1, False),  # contains a lexicon term
        ("我们", 6, 0, 1, False),  # a stop-word
    ],
)
def test_what_is_suggested(
    word: str, promo_hits: int, other_hits: int, min_docs: int, suggested: bool
) -> None:
    report = suggest_terms(_corpus(word, promo_hits, other_hits), min_docs=min_docs, limit=50)
    terms = [s.term for s in report.suggestions]
    assert (compact(normalize(word)).text in terms) is suggested


def test_longest_form_wins() -> None:
    report = suggest_terms(_corpus("蓝鲸上岸", 6, 0), min_docs=3)
    terms = [s.term for s in report.suggestions]
    assert "蓝鲸上岸" in terms
    assert not {"蓝鲸", "鲸上", "上岸", "蓝鲸上", "鲸上岸"} & set(terms)


def test_one_stuffed_page_counts_once() -> None:
    stuffed = _docs(
        [
            ("鲸落计划" * 50, True),
            *((f"{f}，今天", True) for f in _FILLER),
            *((f"{f}，昨天", False) for f in _FILLER),
        ]
    )
    assert SLANG not in [s.term for s in suggest_terms(stuffed, min_docs=2).suggestions]


@pytest.mark.parametrize(
    ("counts", "expected_sign"),
    [
        ((5, 5, 10, 10), 0),  # same share of documents on each side: exactly zero
        ((2, 4, 10, 20), 0),  # same share, different side sizes
        ((8, 1, 10, 10), 1),
        ((1, 8, 10, 10), -1),
    ],
)
def test_log_odds_sign(counts: tuple[int, int, int, int], expected_sign: int) -> None:
    z = log_odds_z(*counts)
    assert (z > 1e-9) - (z < -1e-9) == expected_sign


def test_more_evidence_scores_higher() -> None:
    assert log_odds_z(3, 0, 10, 10) < log_odds_z(6, 0, 10, 10) < log_odds_z(10, 0, 10, 10)
    assert log_odds_z(30, 0, 100, 100) > log_odds_z(3, 0, 10, 10)  # same rate, more pages


def test_absorbed_only_when_counts_match() -> None:
    docs = {"蓝鲸上岸": [5, 0], "蓝鲸": [5, 0], "上岸": [7, 2], "鲸上": [5, 0]}
    assert absorbed(docs, docs) == {"蓝鲸", "鲸上"}


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        # shifted by one character and rarer: a cut of the better term
        ({"鲸落计划": [10, 0], "入鲸落计": [8, 0], "名鲸落计": [3, 0]}, [["鲸落计划"]]),
        # overlapping with the same counts: the same phrase, reported once (either cut)
        ({"鲸落计划": [10, 0], "落计划书": [10, 0]}, [["鲸落计划"], ["落计划书"]]),
        # unrelated terms are all kept, best first
        ({"鲸落计划": [10, 0], "荷花开了": [6, 0]}, [["鲸落计划", "荷花开了"]]),
    ],
)
def test_rank_reports_each_phrase_once(
    docs: dict[str, list[int]], expected: list[list[str]]
) -> None:
    terms = [s.term for s in rank(docs, (10, 10), min_docs=3, limit=10)]
    assert terms in expected


def test_vocabulary_reads_the_lexicon_normalized() -> None:
    vocab = Vocabulary.build()
    assert not vocab.allowed(compact(normalize("徵信修復")).text)  # a lexicon term, normalized
    assert not vocab.allowed("修复")  # a part of one
    assert vocab.allowed(SLANG)
    assert not vocab.allowed("12345") and not vocab.allowed("abcde")


def test_examples_quote_each_spelling_as_written() -> None:
    spellings = ["加入鯨落計劃吧", "报名鲸 ✨落-计划", "鲸落计划"]
    docs = _docs(
        [
            *((f"{t}，{f}", True) for t, f in zip(spellings, _FILLER, strict=False)),
            *((f"{f}，昨天", False) for f in _FILLER),
        ]
    )
    report = suggest_terms(docs, min_docs=3, examples=3)
    slang = next(s for s in report.suggestions if s.term == SLANG)
    assert [e.raw for e in slang.examples] == ["鯨落計劃", "鲸 ✨落-计划", "鲸落计划"]
    for e, d in zip(slang.examples, docs, strict=False):
        assert d.text[e.start : e.end] == e.raw and e.url == d.url


def test_nothing_to_compare_gives_empty_report() -> None:
    report = suggest_terms(_docs([("鲸落计划，快来", True)] * 3), min_docs=1)
    assert (report.promotion_docs, report.other_docs, report.suggestions) == (1, 0, [])


# -- CLI errors and empty databases ---------------------------------------------------------


def test_bad_since_is_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["terms", "suggest", "--since", "last month", "--db", f"sqlite:///{tmp_path}/x.db"]
    )
    assert type(result.exception) is InputError
    assert "--since: cannot read 'last month' as a date" in str(result.exception)


def test_bad_since_in_a_real_process_is_one_line_exit_2(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "greywatch",
        "terms",
        "suggest",
        "--since",
        "yesterday-ish",
        "--db",
        f"sqlite:///{tmp_path}/x.db",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "error: --since: cannot read 'yesterday-ish' as a date"
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 2  # error + hint


@pytest.mark.parametrize(
    ("args", "stream"),
    [((), "stdout"), (("--json",), "stderr")],
)
def test_empty_database_says_so_and_exits_0(
    tmp_path: Path, _sqlite_template: Path, args: tuple[str, ...], stream: str
) -> None:
    shutil.copyfile(_sqlite_template, tmp_path / "empty.db")
    cmd = [
        sys.executable,
        "-m",
        "greywatch",
        "terms",
        "suggest",
        *args,
        "--db",
        f"sqlite:///{tmp_path}/empty.db",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = getattr(proc, stream)
    assert out.strip() == "no promotions stored for --since 30d (crawl first, or widen it)"
    if args:
        assert proc.stdout == ""  # JSON output stays clean for pipes


@pytest.mark.parametrize("option", ["--limit", "--min-docs"])
def test_non_positive_numbers_are_usage_errors(tmp_path: Path, option: str) -> None:
    result = runner.invoke(app, ["terms", "suggest", option, "0"])
    assert result.exit_code == 2 and option in result.output
