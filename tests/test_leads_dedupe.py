"""One lead per ad, not per URL: the same content saved under other URLs (a second demo run
on a new port, a thread's page 2 repeating page 1) is the same lead, with all its URLs."""

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
from storage.models import Document, Finding
from storage.repo import LeadFilter, PageRecord, query_leads, save_page
from storage.review import list_reviews, review_leads
from tests.case_world import PAGES, analysis_of, build_world, html_of

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
