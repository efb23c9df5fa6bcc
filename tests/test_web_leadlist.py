"""The web's leads list (storage.leadlist through greywatch.web.leadquery) shows exactly the
leads `greywatch leads` shows (storage.repo.query_leads): the same representative page, URLs,
first/last seen and review state for every filter, in the list's order (newest first by the
lead's first page), on leads of several pages: copies of a text, a thread's pages, a copy
that is not an ad, states of the lead's own and taken over from a firm."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from greywatch.web import leadquery
from pipelines.model import Analysis, Contact, Detection
from storage.models import Document, Entity, Finding
from storage.repo import LeadFilter, LeadRow, PageRecord, query_leads, save_page
from storage.review import review_leads
from tests.case_world import PAGES, XINCHENG, analysis_of, at, build_world, html_of

BBS = "http://bbs.list.test/bbs"
COPIED = "专业停息挂账，协商还款，不成功不收费，加微信 tx9988 详聊。"


def _save(session: Session, url: str, text: str, kind: str, days: int, **extra: str) -> None:
    """Save one page with a hand-made analysis (debt relief; a promotion scores 0.8)."""
    score = 0.8 if kind == "promotion" else 0.1
    contacts = (Contact("wechat", "tx9988", "tx9988", *_span(text, "tx9988")),)
    det = Detection(kind, ("debt_relief",), score, (), "测试")
    title = extra.get("title", "停息挂账")
    source = extra.get("source", "list-bbs")
    record = PageRecord(
        url=url,
        body=f"<html><body><p>{text}</p></body></html>".encode(),
        fetched_at=at(1) + timedelta(days=days),
        source_id=source,
        title=title,
        text=text,
    )
    analysis = Analysis(url, det, title=title, text=text, contacts=contacts if "tx" in text else ())
    save_page(session, record, analysis, "test-1")


def _span(text: str, part: str) -> tuple[int, int]:
    start = text.find(part)
    return (start, start + len(part)) if start >= 0 else (0, 0)


def _seed(session: Session) -> None:
    """The demo world, every demo page again later from another source, a two-page thread,
    and one text stored first as a warning, then as the thread's first page and an ad."""
    build_world(session)
    for page in PAGES:
        url = page.url.replace("http://", "http://mirror.")
        record = PageRecord(
            url=url,
            body=html_of(page),
            fetched_at=page.fetched + timedelta(days=10),
            source_id="rerun",
            title=page.title,
            text=page.text,
        )
        save_page(session, record, analysis_of(replace(page, url=url)), "test-1")
    thread = "停息挂账 靠谱"
    _save(session, "http://news.list.test/a/1", COPIED, "warning", 4, source="news")
    _save(session, f"{BBS}/thread-7-1-1.html", COPIED, "promotion", 20, title=thread)
    _save(session, f"{BBS}/thread-7-2-1.html", "楼主回复：已加微信", "promotion", 2, title=thread)
    _save(session, "http://ads.list.test/b/2", COPIED, "promotion", 6, source="ads")
    session.commit()
    # a lead's own state, and a firm's state its leads take over
    first = query_leads(session, LeadFilter())[-1]
    review_leads(session, [first.finding_id], "dismissed", "不是广告")
    firm = session.scalars(select(Entity).where(Entity.key == XINCHENG)).one()
    firm.review_status, firm.review_note = "confirmed", "已核实"
    session.commit()


def _walk(session: Session, f: LeadFilter, size: int) -> list[LeadRow]:
    """Every lead of the web list, following the "next page" cursor."""
    rows: list[LeadRow] = []
    after = None
    while True:
        page = leadquery.lead_page(session, f, after=after, size=size)
        rows += page.rows
        if page.next_after is None:
            return rows
        after = page.next_after


def _newest_first(rows: list[LeadRow]) -> list[LeadRow]:
    return sorted(rows, key=lambda r: (r.fetched_at, r.document_id), reverse=True)


FILTERS = {
    "default": LeadFilter(),
    "any kind": LeadFilter(kinds=()),
    "warnings": LeadFilter(kinds=("warning",)),
    "category": LeadFilter(categories=("debt_relief",)),
    "category, any kind": LeadFilter(kinds=(), categories=("debt_relief",)),
    "min score": LeadFilter(min_score=0.85),
    "second source": LeadFilter(sources=("rerun",)),
    "ads source": LeadFilter(kinds=(), sources=("ads",)),
    "since": LeadFilter(since=at(14)),
    "until": LeadFilter(until=at(6)),
    "keyword": LeadFilter(keyword="不成功不收费"),
    "contact": LeadFilter(contacts=("tx9988",)),
    "firm": LeadFilter(firm="鑫诚"),
    "review new": LeadFilter(review=("new",)),
    "review confirmed": LeadFilter(review=("confirmed",)),
    "review dismissed, any kind": LeadFilter(kinds=(), review=("dismissed",)),
    "review new or confirmed": LeadFilter(review=("new", "confirmed")),
    "review confirmed or dismissed": LeadFilter(review=("confirmed", "dismissed")),
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_the_web_list_is_the_clis_leads_newest_first(engine: Engine, name: str) -> None:
    f = FILTERS[name]
    with Session(engine) as s:
        _seed(s)
        cli = query_leads(s, f)
        web = _walk(s, f, size=2)
    assert cli, "every case selects some leads"
    assert web == _newest_first(cli)


def test_the_seed_has_leads_of_several_pages(engine: Engine) -> None:
    with Session(engine) as s:
        _seed(s)
        rows = query_leads(s, LeadFilter(kinds=()))
        promotions = query_leads(s, LeadFilter())
    # the warning, the thread's two pages, the ad; as an ad: not the warning, and the lead
    # starts with the thread's first page (the warning has the lowest id, but is no ad)
    assert max(len(r.urls) for r in rows) == 4
    assert next(r for r in rows if len(r.urls) == 4).url == "http://news.list.test/a/1"
    ad = next(r for r in promotions if "http://ads.list.test/b/2" in r.urls)
    assert ad.url == f"{BBS}/thread-7-1-1.html" and len(ad.urls) == 3
    assert {r.review_status for r in promotions} >= {"new", "dismissed", "confirmed"}
    assert any(r.review_from == [XINCHENG] for r in promotions)


def test_going_back_gives_the_pages_seen_before(engine: Engine) -> None:
    with Session(engine) as s:
        _seed(s)
        forward = [r.finding_id for r in _walk(s, LeadFilter(), size=2)]
        back = leadquery.lead_page(s, LeadFilter(), before=forward[4], size=2)
    assert len(forward) == 6
    assert [r.finding_id for r in back.rows] == forward[2:4]
    assert back.next_after == forward[3] and back.prev_before == forward[2]


def test_any_page_of_a_lead_finds_the_lead(engine: Engine) -> None:
    with Session(engine) as s:
        _seed(s)
        everything = query_leads(s, LeadFilter(kinds=()))
        lead = next(r for r in everything if len(r.urls) == 4)
        ids = s.scalars(select(Finding.id).join(Document).where(Document.url.in_(lead.urls))).all()
        shown = [leadquery.lead_by_id(s, i) for i in ids]
        unknown = leadquery.lead_by_id(s, 99999)
    assert len(ids) == 4 and shown == [lead] * 4
    assert unknown is None


@pytest.mark.parametrize("cursor", ["after", "before"])
def test_an_unknown_cursor_is_a_clear_error(engine: Engine, cursor: str) -> None:
    from pipelines.errors import InputError

    with Session(engine) as s:
        _seed(s)
        with pytest.raises(InputError, match=f"{cursor}: no lead with id 99999"):
            leadquery.lead_page(s, LeadFilter(), **{cursor: 99999})


# --- the dashboard's counts, reused for a minute ----------------------------------------------


def test_the_dashboard_is_counted_again_when_pages_arrive(engine: Engine) -> None:
    from storage.dashboard import cached_dashboard, clear_cache

    now = at(20)
    clear_cache()
    with Session(engine) as s:
        build_world(s)
        first = cached_dashboard(s, now, 30)
        reused = cached_dashboard(s, now + timedelta(seconds=30), 30)
        other_days = cached_dashboard(s, now, 7)
        _save(s, "http://ads.list.test/c/3", COPIED, "promotion", 18, source="ads")
        s.commit()
        recounted = cached_dashboard(s, now + timedelta(seconds=40), 30)
        expired = cached_dashboard(s, now + timedelta(seconds=50), 30, max_age=0)
    assert reused is first and reused.now == now
    assert other_days is not first and other_days.days == 7
    assert recounted is not first and recounted.now == now + timedelta(seconds=40)
    assert sum(d.leads for d in recounted.per_day) == sum(d.leads for d in first.per_day) + 1
    assert expired is not recounted


@pytest.mark.parametrize(
    ("age", "shown"),
    [
        (0, "截至 18:30 北京时间"),
        (45, "截至 18:30 北京时间（统计结果缓存，最多每 60 秒更新一次）"),
    ],
)
def test_the_dashboard_says_when_it_was_counted(age: int, shown: str) -> None:
    from greywatch.web.routes.dashboard import as_of_text
    from storage.dashboard import Dashboard

    counted = at(20, 10).replace(minute=30)  # 10:30 UTC is 18:30 in Beijing
    board = Dashboard(counted, 14, [], [], [], [], [])
    assert as_of_text(board, counted + timedelta(seconds=age)) == shown
