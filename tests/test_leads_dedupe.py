"""One lead per ad, not per URL: the same content saved under other URLs (a second demo run
on a new port, a thread's page 2 repeating page 1), the other pages of a forum thread (same
source, title, URL skeleton and thread id) and near-duplicates of one ad (other furniture,
counters, dates; contacts that agree) are the same lead, with all their URLs."""

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
from pipelines.model import Analysis, Contact, Detection
from storage import db
from storage.models import Document, Finding
from storage.repo import (
    LeadFilter,
    PageRecord,
    join_near_duplicates,
    query_leads,
    reanalyze,
    save_page,
    save_pages,
    text_hash,
    thread_id,
    url_skeleton,
)
from storage.review import list_reviews, review_leads
from tests.case_world import PAGES, analysis_of, at, build_world, html_of
from tests.test_neardup import (
    AT,
    CLASSIFIEDS,
    CREDIT,
    DEBT,
    FORUM_A,
    FORUM_B,
    HX,
    REFUND_A,
    REFUND_B,
    REFUND_C,
    TIEBA,
    XIN,
    XIN_PHONE,
    XIN_WECHAT,
)

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


# --- near-duplicates: one ad at other URLs, with other furniture, counters and dates ---------

# (url, source, author, title, body, contacts) per page; the page's fetch time is its index
# in hours, whatever order it is saved in.
NearPage = tuple[str, str, str, str, str, frozenset[tuple[str, str]]]

BBS_B = "http://bbs-b.demo.test"
INFO = "http://info.demo.test"
NEAR_CASES: dict[str, tuple[list[NearPage], list[list[int]]]] = {
    "one ad on two forums": (
        [
            (f"{BBS}/thread-301-1-1.html", "bbs", "xinchengzx", "征信修复 专业处理逾期",
             FORUM_A.format(ad=CREDIT), XIN),
            (f"{BBS_B}/t/88412", "bbs-b", "鑫诚征信", "专业征信修复 不成功不收费",
             FORUM_B.format(ad=CREDIT), XIN),
            (f"{INFO}/ad/7731.html", "info", "鑫诚", "征信修复", CLASSIFIEDS.format(ad=CREDIT),
             XIN_WECHAT),
        ],
        [[0, 1, 2]],
    ),
    "a template pushed by two accounts with their own contacts": (
        [
            (f"{BBS}/thread-302-1-1.html", "bbs", "退保小助手01", "代理退保", REFUND_A, HX),
            (f"{BBS_B}/t/88413", "bbs-b", "维权君", "后悔买保险了？", REFUND_B, AT),
        ],
        [[0], [1]],
    ),
    "one promoter, two ads": (
        [
            (f"{BBS}/thread-303-1-1.html", "bbs", "xinchengzx", "征信修复",
             FORUM_A.format(ad=CREDIT), XIN),
            (f"{BBS}/thread-304-1-1.html", "bbs", "xinchengzx", "停息挂账",
             FORUM_A.format(ad=DEBT), XIN),
        ],
        [[0], [1]],
    ),
    "one forum, two accounts, one contact": (
        [
            (f"{BBS}/thread-305-1-1.html", "bbs", "退保小助手01", "代理退保", REFUND_A, HX),
            (f"{BBS}/thread-306-1-1.html", "bbs", "退保小助手02", "保险退保", REFUND_C, HX),
        ],
        [[0], [1]],
    ),
    "short ads": (
        [
            (f"{BBS}/thread-307-1-1.html", "bbs", "", "征信", "征信修复加V：xinc888（10月12日）",
             XIN_WECHAT),
            (f"{BBS_B}/t/88414", "bbs-b", "", "征信", "征信修复 加V xinc888 2026-10-20 21:05",
             XIN_WECHAT),
            (f"{BBS}/thread-308-1-1.html", "bbs", "", "退保", "代理退保加V：xinc888", XIN_WECHAT),
        ],
        [[0, 1], [2]],
    ),
    "a page with both contacts bridges two leads": (
        [
            (f"{BBS}/thread-309-1-1.html", "bbs", "", "征信修复", CREDIT, XIN_PHONE),
            (f"{INFO}/ad/7732.html", "info", "", "征信修复", CLASSIFIEDS.format(ad=CREDIT),
             XIN_WECHAT),
            (f"{BBS_B}/t/88415", "bbs-b", "", "征信修复", FORUM_B.format(ad=CREDIT), XIN),
        ],
        [[0, 1, 2]],
    ),
    "a thread and its repost elsewhere": (
        [
            (f"{BBS}/thread-310-1-1.html", "bbs", "xinchengzx", "征信修复 专业",
             FORUM_A.format(ad=CREDIT), XIN),
            (f"{BBS}/thread-310-2-1.html", "bbs", "xinchengzx", "征信修复 专业",
             "靠谱的，已经帮很多人处理好了", frozenset()),
            (f"{BBS_B}/t/88416", "bbs-b", "鑫诚征信", "专业征信修复", TIEBA.format(ad=CREDIT),
             XIN),
        ],
        [[0, 1, 2]],
    ),
    "no contacts, one account reposting": (
        [
            (f"{BBS}/thread-311-1-1.html", "bbs", "xinchengzx", "征信修复",
             FORUM_A.format(ad=CREDIT.split("联系")[0]), frozenset()),
            (f"{BBS}/thread-312-1-1.html", "bbs", "xinchengzx", "征信修复",
             FORUM_B.format(ad=CREDIT.split("联系")[0]), frozenset()),
            (f"{BBS}/thread-313-1-1.html", "bbs", "别人", "征信修复",
             TIEBA.format(ad=CREDIT.split("联系")[0]), frozenset()),
        ],
        [[0, 1], [2]],
    ),
    "an exact copy joins a lead merged away from its text's key": (
        [
            (f"{BBS}/thread-314-1-1.html", "bbs", "xinchengzx", "征信修复",
             FORUM_A.format(ad=CREDIT.split("联系")[0]), frozenset()),
            (f"{BBS}/thread-315-1-1.html", "bbs", "xinchengzx", "征信修复",
             FORUM_B.format(ad=CREDIT.split("联系")[0]), frozenset()),
            (f"{BBS_B}/t/88417", "bbs-b", "", "征信修复",
             FORUM_B.format(ad=CREDIT.split("联系")[0]), frozenset()),
        ],
        [[0, 1, 2]],
    ),
}  # fmt: skip


def _near_records(pages: list[NearPage]) -> list[tuple[PageRecord, Analysis]]:
    """Each page as the crawler hands it to storage, its analysis giving its contacts."""
    out = []
    for i, (url, source, author, title, body, contacts) in enumerate(pages):
        text = f"{title}\n{body}"
        found = tuple(
            Contact(kind, value, value, max(text.find(value), 0), max(text.find(value), 0) + 1)
            for kind, value in sorted(contacts)
        )
        det = Detection("promotion", ("credit_repair",), 0.9, (), "广告")
        analysis = Analysis("t", det, contacts=found, title=title, text=text)
        record = PageRecord(
            url=url,
            body=text.encode(),
            fetched_at=at(1) + timedelta(hours=i),
            source_id=source,
            title=title,
            text=text,
            author=author,
        )
        out.append((record, analysis))
    return out


def _save_in(s: Session, records: list[tuple[PageRecord, Analysis]], batched: bool) -> None:
    if batched:
        save_pages(s, records, "test-1")
    else:
        for record, analysis in records:
            save_page(s, record, analysis, "test-1")
    s.commit()


@pytest.mark.parametrize(
    ("order", "batched"),
    [("as listed", False), ("reversed", False), ("reversed", True)],
    ids=["as listed", "reversed", "reversed, one batch"],
)
@pytest.mark.parametrize("case", list(NEAR_CASES))
def test_near_duplicates_are_one_lead(engine: Engine, case: str, order: str, batched: bool) -> None:
    pages, groups = NEAR_CASES[case]
    records = _near_records(pages)
    if order == "reversed":
        records.reverse()
    with Session(engine) as s:
        _save_in(s, records, batched)
        leads = query_leads(s, LeadFilter())
    expected = sorted(sorted(pages[i][0] for i in g) for g in groups)
    assert sorted(sorted(r.urls) for r in leads) == expected
    for row in leads:  # seen from its first page's fetch to its last page's
        hours = [i for i, p in enumerate(pages) if p[0] in row.urls]
        assert row.first_seen == at(1) + timedelta(hours=min(hours))
        assert row.last_seen == at(1) + timedelta(hours=max(hours))


def test_near_duplicate_lead_survives_resaving_and_reanalysis(engine: Engine) -> None:
    """A page saved again (a re-crawl) and a re-analysis leave the near-duplicate leads be."""
    pages, _ = NEAR_CASES["one ad on two forums"]
    records = _near_records(pages)
    with Session(engine) as s:
        _save_in(s, records, batched=False)
        keys = dict(s.execute(select(Document.url, Document.lead_key)).all())
        assert len(set(keys.values())) == 1
        record, analysis = records[0]
        save_page(s, replace(record, fetched_at=at(9)), analysis, "test-1")
        by_url = {r.url: a for r, a in records}
        reanalyze(s, lambda doc: by_url[doc.url], "test-2", only_stale=False)
        s.commit()
        assert dict(s.execute(select(Document.url, Document.lead_key)).all()) == keys
        leads = query_leads(s, LeadFilter())
    assert len(leads) == 1 and leads[0].last_seen == at(9)


def test_a_repost_joins_a_reviewed_lead(engine: Engine) -> None:
    """A decision made on an ad holds for its reposts found later."""
    pages, _ = NEAR_CASES["one ad on two forums"]
    first, *later = _near_records(pages)
    with Session(engine) as s:
        _save_in(s, [first], batched=False)
        (lead,) = query_leads(s, LeadFilter())
        review_leads(s, [lead.finding_id], "confirmed", "征信修复广告")
        s.commit()
        _save_in(s, later, batched=True)
        confirmed = query_leads(s, LeadFilter(review=("confirmed",)))
    assert [(r.finding_id, len(r.urls)) for r in confirmed] == [(lead.finding_id, 3)]


def test_saving_without_the_near_duplicate_lookup_keeps_them_apart(engine: Engine) -> None:
    """The switch the benchmark uses: off, only threads and exact copies are joined."""
    pages, _ = NEAR_CASES["one ad on two forums"]
    with Session(engine) as s:
        save_pages(s, _near_records(pages), "test-1", near_duplicates=False)
        s.commit()
        assert len(query_leads(s, LeadFilter())) == 3


@pytest.mark.parametrize("case", ["one ad on two forums", "one promoter, two ads"])
def test_stored_pages_joined_afterwards(engine: Engine, case: str) -> None:
    """`join_near_duplicates` over pages saved without the lookup (a database filled before
    it existed) gives the leads saving with it gives."""
    pages, groups = NEAR_CASES[case]
    with Session(engine) as s:
        saved = save_pages(s, _near_records(pages), "test-1", near_duplicates=False)
        merged = join_near_duplicates(s, [r.document_id for r in saved])
        s.commit()
        leads = query_leads(s, LeadFilter())
    assert merged == len(pages) - len(groups)
    assert sorted(sorted(r.urls) for r in leads) == sorted(
        sorted(pages[i][0] for i in g) for g in groups
    )


def test_cli_lists_a_near_duplicate_lead_with_its_urls(sqlite_engine: Engine) -> None:
    pages, _ = NEAR_CASES["one ad on two forums"]
    with Session(sqlite_engine) as s:
        _save_in(s, _near_records(pages), batched=False)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["leads", "--json", "--db", url])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["urls"] == [p[0] for p in pages]
    assert row["first_seen"] < row["last_seen"]
    table = runner.invoke(app, ["leads", "--db", url], env={"COLUMNS": "250"})
    assert "另有 2 个网址" in table.output
