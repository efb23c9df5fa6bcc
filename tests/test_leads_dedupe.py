"""One lead per ad, not per URL: the same content saved under other URLs (a second demo run
on a new port, a thread's page 2 repeating page 1) and the other pages of a forum thread (same
source, title, URL skeleton and thread id) are the same lead, with all their URLs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app
from pipelines.model import Analysis, Detection
from storage import db
from storage.models import Document, Finding
from storage.repo import (
    LeadFilter,
    PageRecord,
    query_leads,
    save_page,
    save_pages,
    text_hash,
    thread_id,
    url_skeleton,
)
from storage.review import list_reviews, review_leads
from tests.case_world import PAGES, analysis_of, at, build_world, html_of

runner = CliRunner()


def _moved(url: str, how: str) -> str:
    """The URL the same page gets on a second run (new port) or as a thread's next page."""
    if how == "port":
        host, _, path = url.removeprefix("http://").partition("/")
        return f"http://{host}:8081/{path}"
    return f"{url}?page=2"


def _save_again(session: Session, how: str, days: int = 3, source: str = "") -> None:
    """Save every demo page once more under its other URL, `days` later, same bytes."""
    for page in PAGES:
        record = PageRecord(
            url=_moved(page.url, how),
            body=html_of(page),
            fetched_at=page.fetched + timedelta(days=days),
            source_id=source or page.source,
            title=page.title,
            text=page.text,
            encoding=page.encoding,
        )
        save_page(session, record, analysis_of(replace(page, url=record.url)), "test-1")
    session.commit()


@pytest.mark.parametrize("how", ["port", "page"])
def test_same_pages_under_other_urls_are_the_same_leads(engine: Engine, how: str) -> None:
    with Session(engine) as s:
        build_world(s)
        before = query_leads(s, LeadFilter(kinds=()))
        _save_again(s, how)
        after = query_leads(s, LeadFilter(kinds=()))
        documents = len(s.scalars(select(Document.id)).all())
    assert documents == 2 * len(PAGES)
    assert len(after) == len(before) == len(PAGES)
    assert [r.finding_id for r in after] == [r.finding_id for r in before]
    for row in after:
        original = next(p for p in PAGES if p.url == row.url)
        assert row.urls == [original.url, _moved(original.url, how)]
        assert row.first_seen == original.fetched
        assert row.last_seen == original.fetched + timedelta(days=3)


@pytest.mark.parametrize(
    ("flt", "urls"),
    [
        # A page-level filter matching only the second copy still finds the lead, whole.
        (LeadFilter(sources=("rerun",)), 5),
        (LeadFilter(since=PAGES[-1].fetched + timedelta(days=1)), 5),
        (LeadFilter(until=PAGES[0].fetched + timedelta(hours=1)), 1),
        (LeadFilter(limit=2), 2),  # the limit counts leads, not pages
        (LeadFilter(kinds=("warning",)), 1),
    ],
)
def test_filters_select_leads_not_pages(engine: Engine, flt: LeadFilter, urls: int) -> None:
    with Session(engine) as s:
        build_world(s)
        _save_again(s, "port", days=10, source="rerun")
        rows = query_leads(s, flt)
    assert len(rows) == urls
    assert all(len(r.urls) == 2 for r in rows)


def test_a_decision_reaches_every_copy(engine: Engine) -> None:
    with Session(engine) as s:
        build_world(s)
        _save_again(s, "port")
        lead = query_leads(s, LeadFilter(limit=1))[0]
        review_leads(s, [lead.finding_id], "confirmed", "同一广告")
        s.commit()
        states = s.execute(
            select(Document.url, Finding.review_status)
            .join(Finding)
            .where(Document.url.in_(lead.urls))
        ).all()
        confirmed = query_leads(s, LeadFilter(review=("confirmed",)))
        listed = [i for i in list_reviews(s, ["confirmed"]) if i.what == "lead"]
    assert sorted(states) == sorted((url, "confirmed") for url in lead.urls)
    assert [r.finding_id for r in confirmed] == [lead.finding_id]
    assert [i.id for i in listed] == [lead.finding_id]


def test_cli_lists_one_lead_with_both_urls(sqlite_engine: Engine, tmp_path: Path) -> None:
    with Session(sqlite_engine) as s:
        build_world(s)
        _save_again(s, "port")
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["leads", "--json", "--db", url])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 5 and all(len(r["urls"]) == 2 for r in rows)
    assert rows[0]["first_seen"] < rows[0]["last_seen"]
    out = tmp_path / "leads.csv"
    exported = runner.invoke(
        app, ["leads", "export", "-o", str(out), "--min-score", "0.1", "--db", url]
    )
    assert exported.exit_code == 0 and "exported 5 leads" in exported.output
    table = runner.invoke(app, ["leads", "--db", url], env={"COLUMNS": "250"})
    assert "另有 1 个网址" in table.output


# --- the pages of one thread -----------------------------------------------------------------

AD = "专业征信修复，不成功不收费，加微信 xinc888 详聊。"


def _ad(text: str, title: str) -> Analysis:
    """A promotion whose text is `text` (only its kind and score matter here)."""
    det = Detection("promotion", ("credit_repair",), 0.9, (), "广告")
    return Analysis("t", det, title=title, text=text)


# (url, source, title, text) per page, saved in this order.
ThreadPage = tuple[str, str, str, str]

BBS = "http://bbs.demo.test/bbs"
THREAD_CASES: dict[str, tuple[list[ThreadPage], list[list[int]]]] = {
    "discuz page 2": (
        [
            (f"{BBS}/thread-101-1-1.html", "bbs", "征信修复 专业处理逾期", AD),
            (f"{BBS}/thread-101-2-1.html", "bbs", "征信修复 专业处理逾期", "楼主靠谱吗？"),
        ],
        [[0, 1]],
    ),
    "?page=2": (
        [
            (f"{BBS}/viewthread.php?tid=101", "bbs", "征信修复", AD),
            (f"{BBS}/viewthread.php?page=2&tid=101", "bbs", "征信修复", "已加微信"),
            (f"{BBS}/viewthread.php?tid=101&pn=3", "bbs", "征信修复", "第三页回复"),
        ],
        [[0, 1, 2]],
    ),
    "_2.html": (
        [
            ("http://info.demo.test/ad/555.html", "info", "代理退保", AD),
            ("http://info.demo.test/ad/555_2.html", "info", "代理退保", "续页"),
        ],
        [[0, 1]],
    ),
    "two threads, one title": (
        [
            (f"{BBS}/thread-101-1-1.html", "bbs", "征信修复", AD),
            (f"{BBS}/thread-202-1-1.html", "bbs", "征信修复", "另一个帖子"),
        ],
        [[0], [1]],
    ),
    "two sources": (
        [
            (f"{BBS}/thread-101-1-1.html", "bbs", "征信修复", AD),
            (f"{BBS}/thread-101-2-1.html", "bbs-mirror", "征信修复", "楼主靠谱吗？"),
        ],
        [[0], [1]],
    ),
    "exact copy at another port": (
        [
            ("http://127.0.0.1:8080/bbs/thread-101-1-1.html", "bbs", "", AD),
            ("http://127.0.0.1:8081/bbs/thread-101-1-1.html", "rerun", "", AD),
        ],
        [[0, 1]],
    ),
    "generic title across threads": (
        [
            (f"{BBS}/thread-101-1-1.html", "bbs", "帖子详情", AD),
            (f"{BBS}/thread-202-1-1.html", "bbs", "帖子详情", "另一个帖子"),
            (f"{BBS}/viewthread.php?tid=303", "bbs", "帖子详情", "第三个帖子"),
            (f"{BBS}/viewthread.php?tid=404&page=2", "bbs", "帖子详情", "第四个帖子"),
        ],
        [[0], [1], [2], [3]],
    ),
    "title written otherwise": (  # compared normalized; stored ones found as normalized too
        [
            (f"{BBS}/thread-101-1-1.html", "bbs", "征信修复 专业", AD),
            (f"{BBS}/thread-101-2-1.html", "bbs", "徵信修復  專業", "楼主靠谱吗？"),
        ],
        [[0, 1]],
    ),
}


@pytest.mark.parametrize("batched", [False, True], ids=["one by one", "one batch"])
@pytest.mark.parametrize("case", list(THREAD_CASES))
def test_thread_pages_are_one_lead(engine: Engine, case: str, batched: bool) -> None:
    pages, groups = THREAD_CASES[case]
    records = [
        (
            PageRecord(
                url=url,
                body=text.encode(),
                fetched_at=at(1) + timedelta(hours=i),
                source_id=source,
                title=title,
                text=text,
            ),
            _ad(text, title),
        )
        for i, (url, source, title, text) in enumerate(pages)
    ]
    with Session(engine) as s:
        if batched:
            save_pages(s, records, "test-1")
        else:
            for record, analysis in records:
                save_page(s, record, analysis, "test-1")
        s.commit()
        leads = query_leads(s, LeadFilter())
    urls = [[pages[i][0] for i in group] for group in groups]
    assert sorted(r.urls for r in leads) == sorted(urls)
    for row in leads:  # the oldest page stands for the lead; seen from first to last page
        first = next(i for i, p in enumerate(pages) if p[0] in row.urls)
        last = max(i for i, p in enumerate(pages) if p[0] in row.urls)
        assert row.url == pages[first][0]
        assert (row.first_seen, row.last_seen) == (
            at(1) + timedelta(hours=first),
            at(1) + timedelta(hours=last),
        )


def test_a_thread_page_saved_again_keeps_its_lead(engine: Engine) -> None:
    """Re-saving page 1 with an edited text does not split it from page 2."""
    first, second = THREAD_CASES["discuz page 2"][0]
    with Session(engine) as s:
        for (url, source, title, text), when in ((first, 1), (second, 2), (first, 3)):
            body = f"{text}（{when}）"
            record = PageRecord(url, body.encode(), at(when), source, title=title, text=body)
            save_page(s, record, _ad(body, title), "test-1")
        s.commit()
        leads = query_leads(s, LeadFilter())
    assert [r.urls for r in leads] == [[first[0], second[0]]]


@pytest.mark.parametrize(
    ("a", "b", "same_skeleton", "same_thread"),
    [
        ("/thread-101-1-1.html", "/thread-101-2-1.html", True, True),
        ("/thread-101-1-1.html", "/thread-202-1-1.html", True, False),
        ("/ad/555.html", "/ad/555_2.html", True, True),
        ("/t?tid=101", "/t?page=2&tid=101", True, True),
        ("/t?tid=101&p=2", "/t?tid=202", True, False),
        ("/t?tid=101&sort=new", "/t?tid=101&sort=hot", False, True),
        ("/thread-101-1-1.html", "/forum-101-1.html", False, True),
        ("/t/101", "/t/101#pid5", True, True),
        ("/2024-05-17/8812.html", "/2024-05-17/9913.html", True, False),  # two articles, one day
        ("/2024-05-17/8812.html", "/2024-05-17/8812_2.html", True, True),
        ("/news/2024/0517/8812.html", "/news/2024/0518/8812.html", True, False),
    ],
)
def test_url_skeleton_and_thread_id(a: str, b: str, same_skeleton: bool, same_thread: bool) -> None:
    a, b = f"http://bbs.demo.test{a}", f"http://bbs.demo.test{b}"
    assert (url_skeleton(a) == url_skeleton(b)) is same_skeleton
    assert (thread_id(a) == thread_id(b)) is same_thread


def test_upgrade_to_0004_keys_stored_pages_by_their_text(db_url: str) -> None:
    """Pages stored before the lead key keep their leads; a new save joins their thread."""
    from sqlalchemy import text

    engine = db.get_engine(db_url)
    db.migrate(engine, "0003")
    (url1, source, title, text1), (url2, _, _, text2) = THREAD_CASES["discuz page 2"][0]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO sources (id, name, config, updated_at) VALUES (:s, :s, '{}', :t)"),
            {"s": source, "t": at(1)},
        )
        for url, body in ((url1, text1), (url2, text2)):
            conn.execute(
                text(
                    "INSERT INTO documents (url, canonical_url, source_id, fetched_at, title, "
                    "author, text, raw, raw_sha256, text_hash, encoding, http_status, headers, "
                    "etag, last_modified, screenshot_path, rendered) VALUES (:url, '', :s, :t, "
                    ":title, '', :text, :raw, '', :hash, '', 200, '{}', '', '', '', :no)"
                ),
                {
                    "url": url,
                    "s": source,
                    "t": at(1),
                    "title": title,
                    "text": body,
                    "raw": body.encode(),
                    "hash": text_hash(body),
                    "no": False,
                },
            )
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision()
    with Session(engine) as s:
        keys = dict(s.execute(select(Document.url, Document.lead_key)).all())
        assert keys == {url1: text_hash(text1), url2: text_hash(text2)}
        save_page(
            s,
            PageRecord(url2, b"x", at(2), source, title=title, text=text2),
            _ad(text2, title),
            "test-1",
        )
        s.commit()
        assert s.scalar(select(Document.lead_key).where(Document.url == url2)) == text_hash(text1)
