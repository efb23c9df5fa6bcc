"""The web workspace's core, in-process (FastAPI TestClient) on real SQLite and PostgreSQL:
sign-in, sessions, CSRF, roles, the leads list and its filters, lead pages, reviews,
exports and their logs, security headers, and hostile scraped text."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app as cli_app
from greywatch.errors import InputError
from greywatch.web import auth, highlight, leadquery
from greywatch.web.app import create_app
from greywatch.web.deps import link_href, safe_next
from greywatch.web.security import PAGE_CSP, RAW_CSP
from storage.audit import list_audit
from storage.exports import COLUMNS
from storage.filters import FilterInput, build_filter
from storage.models import AuditLog, ExportLog, Finding, LoginAttempt, User, WebSession
from storage.repo import LeadFilter, query_leads
from tests.case_world import XINCHENG
from tests.web_util import (
    HOSTILE_TITLE,
    PASSWORD,
    Seeded,
    add_user,
    client_for,
    csrf_of,
    free_port,
    login,
    seed,
)

runner = CliRunner()


@dataclass(frozen=True)
class Site:
    """A seeded database with a viewer, an analyst and an admin."""

    url: str
    engine: Engine
    seeded: Seeded


@pytest.fixture
def site(engine: Engine, db_url: str) -> Site:
    seeded = seed(db_url)
    for name, role in (("vera", "viewer"), ("ana", "analyst"), ("adam", "admin")):
        add_user(db_url, name, role)
    return Site(db_url, engine, seeded)


@pytest.fixture
def client(site: Site) -> Iterator[TestClient]:
    with client_for(site.url) as c:
        yield c


def _text(response: Any) -> str:
    return html.unescape(response.text)


def _rows(engine: Engine, model: type[Any]) -> list[Any]:
    with Session(engine) as s:
        return list(s.scalars(select(model)))


# --- sign-in, sessions --------------------------------------------------------------------


def test_login_sets_a_safe_cookie_and_stores_only_its_hash(site: Site, client: TestClient) -> None:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "name": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/leads",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/leads"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(auth.SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    token = client.cookies.get(auth.SESSION_COOKIE)
    stored = _rows(site.engine, WebSession)
    assert [s.token_hash for s in stored] == [auth.token_digest(token)]
    assert token not in {s.token_hash for s in stored}
    assert client.get("/leads").status_code == 200
    assert [(a.user, a.action) for a in _rows(site.engine, AuditLog)] == [("ana", "login")]


@pytest.mark.parametrize(("forced", "secure"), [(True, True), (None, True), (False, False)])
def test_secure_cookies_over_https_unless_told(
    site: Site, forced: bool | None, secure: bool
) -> None:
    app = create_app(site.url, secure_cookies=forced)
    with TestClient(app, base_url="https://gw.test") as c:
        page = c.get("/login")
        response = c.post(
            "/login",
            data={"name": "ana", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
    assert response.status_code == 303
    assert all(("Secure" in v) == secure for v in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize(
    ("name", "password"),
    [("ana", "wrong password!"), ("nobody", PASSWORD), ("ana", "")],
)
def test_wrong_name_or_password_is_refused(
    site: Site, client: TestClient, name: str, password: str
) -> None:
    page = client.get("/login")
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 401
    assert auth.BAD_LOGIN_MESSAGE in response.text
    assert auth.SESSION_COOKIE not in client.cookies
    assert client.get("/leads", follow_redirects=False).status_code == 303
    attempts = _rows(site.engine, LoginAttempt)
    assert [(a.name, a.ok) for a in attempts] == [(name, False)]


def test_login_is_rate_limited_per_name_and_address(site: Site, client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    for _ in range(auth.MAX_FAILURES):
        bad = client.post("/login", data={"name": "ana", "password": "nope", "csrf_token": token})
        assert bad.status_code == 401
    # now even the right password is refused, for this name and from this address
    for name in ("ana", "adam"):
        response = client.post(
            "/login", data={"name": name, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 429
        assert auth.RATE_LIMITED_MESSAGE in response.text
    assert auth.SESSION_COOKIE not in client.cookies


def test_logout_ends_the_session_everywhere(site: Site, client: TestClient) -> None:
    csrf = login(client, "ana")
    old = client.cookies.get(auth.SESSION_COOKIE)
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert _rows(site.engine, WebSession) == []
    with client_for(site.url) as other:  # the old cookie, replayed
        other.cookies.set(auth.SESSION_COOKIE, old)
        again = other.get("/leads", follow_redirects=False)
        assert again.status_code == 303
        assert again.headers["location"] == "/login?next=%2Fleads"
        scripted = other.get("/leads", headers={"accept": "application/json"})
        assert scripted.status_code == 401
    assert ("ana", "logout") in {(a.user, a.action) for a in _rows(site.engine, AuditLog)}


def test_a_disabled_user_is_signed_out(site: Site, client: TestClient) -> None:
    login(client, "ana")
    result = runner.invoke(cli_app, ["users", "disable", "ana", "--db", site.url])
    assert result.exit_code == 0, result.output
    assert client.get("/leads", follow_redirects=False).status_code == 303


# --- CSRF and roles -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "token"),
    [("form", None), ("form", "wrong"), ("header", "wrong"), ("form", "")],
)
def test_posts_without_the_csrf_token_are_refused(
    site: Site, client: TestClient, how: str, token: str | None
) -> None:
    login(client, "ana")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/101"]
    data: dict[str, str] = {"status": "confirmed"}
    headers = {}
    if token is not None and how == "form":
        data["csrf_token"] = token
    if how == "header":
        headers["X-CSRF-Token"] = token or ""
    response = client.post(f"/leads/{lead}/review", data=data, headers=headers)
    assert response.status_code == 403
    assert "CSRF" in response.text
    with Session(site.engine) as s:
        assert s.get(Finding, lead).review_status == "new"


def test_the_csrf_header_is_accepted(site: Site, client: TestClient) -> None:
    csrf = login(client, "ana")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/101"]
    response = client.post(
        f"/leads/{lead}/review",
        data={"status": "dismissed"},
        headers={"X-CSRF-Token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_login_form_needs_its_own_csrf_cookie(site: Site, client: TestClient) -> None:
    response = client.post(
        "/login", data={"name": "ana", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403


def test_viewer_can_read_but_not_review_or_export(site: Site, client: TestClient) -> None:
    csrf = login(client, "vera")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/101"]
    assert client.get("/leads").status_code == 200
    assert client.get(f"/leads/{lead}").status_code == 200
    page = client.get("/review").text
    assert "你的角色只能查看" in page and f'action="/leads/{lead}/review"' not in page
    refused = client.post(f"/leads/{lead}/review", data={"status": "confirmed", "csrf_token": csrf})
    assert refused.status_code == 403
    assert "权限不足" in refused.text and "分析员" in refused.text
    export = client.get("/leads/export.csv?min_score=0.5")
    assert export.status_code == 403
    assert _rows(site.engine, ExportLog) == []
    with Session(site.engine) as s:
        assert s.get(Finding, lead).review_status == "new"


# --- leads list, filters, pages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "given"),
    [
        ("category=xyz", FilterInput(categories=("xyz",))),
        ("review=maybe", FilterInput(review=("maybe",))),
        ("kind=ad", FilterInput(kinds=("ad",))),
        ("source=nowhere", FilterInput(sources=("nowhere",))),
        ("since=yesterday-ish", FilterInput(since="yesterday-ish")),
        ("since=2026-11-09&until=2026-11-01", FilterInput(since="2026-11-09", until="2026-11-01")),
        ("min_score=2", FilterInput(min_score=2.0)),
        ("actor=999", FilterInput(actor=999)),
    ],
)
def test_a_bad_filter_is_400_with_the_cli_message(
    site: Site, client: TestClient, query: str, given: FilterInput
) -> None:
    with Session(site.engine) as s, pytest.raises(InputError) as cli:
        build_filter(s, given)
    login(client, "vera")
    for path in ("/leads", "/review", "/leads/export.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == (403 if path.startswith("/leads/export") else 400)
        if response.status_code == 400:
            assert str(cli.value) in _text(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [("min_score=abc", "--min-score: 'abc' is not a number"), ("actor=x", "--actor: 'x'")],
)
def test_a_value_that_is_not_a_number_is_400(
    site: Site, client: TestClient, query: str, message: str
) -> None:
    login(client, "vera")
    response = client.get(f"/leads?{query}")
    assert response.status_code == 400
    assert message in _text(response)


def test_the_list_is_the_clis_leads_with_the_clis_filters(site: Site, client: TestClient) -> None:
    login(client, "vera")
    page = _text(client.get("/leads"))
    with Session(site.engine) as s:
        everything = query_leads(s, LeadFilter())
        phone = query_leads(s, build_filter(s, FilterInput(contact="138-0013-8000")))
    assert all(f'data-lead="{r.finding_id}"' in page for r in everything)
    assert "2026-11-03 10:30" in page  # Beijing time
    assert "电话 13800138000" in page  # contacts as written in China
    by_contact = _text(client.get("/leads?contact=138-0013-8000"))
    shown = {r.finding_id for r in everything if f'data-lead="{r.finding_id}"' in by_contact}
    assert shown == {r.finding_id for r in phone} and len(shown) == 2
    assert 'value="138-0013-8000"' in by_contact  # the form keeps the filter
    firm = _text(client.get("/leads", params={"firm": XINCHENG}))
    assert firm.count('data-lead="') == 1


def test_keyset_pages_cover_every_lead_once_newest_first(site: Site) -> None:
    with Session(site.engine) as s:
        expected = query_leads(s, LeadFilter())
        seen: list[int] = []
        after = None
        while True:
            page = leadquery.lead_page(s, LeadFilter(), after=after, size=2)
            seen += [r.finding_id for r in page.rows]
            if page.next_after is None:
                break
            after = page.next_after
        back = leadquery.lead_page(s, LeadFilter(), before=seen[-2], size=2)
    assert sorted(seen) == sorted(r.finding_id for r in expected)
    assert len(seen) == len(set(seen)) == 6
    times = {r.finding_id: r.fetched_at for r in expected}
    assert [times[i] for i in seen] == sorted(times.values(), reverse=True)
    assert [r.finding_id for r in back.rows] == seen[-4:-2]


def test_pagination_links_walk_the_list(site: Site, client: TestClient) -> None:
    login(client, "vera")
    import greywatch.web.leadquery as lq

    original = lq.PAGE_SIZE
    lq.PAGE_SIZE = 4
    try:
        first = client.get("/leads?min_score=0.1").text
        assert first.count('data-lead="') == 4 and 'id="prev-page"' not in first
        next_url = html.unescape(_link(first, "next-page"))
        second = client.get(next_url).text
        assert second.count('data-lead="') == 2 and 'id="next-page"' not in second
        assert "min_score=0.1" in next_url
        back = client.get(html.unescape(_link(second, "prev-page"))).text
        assert back.count('data-lead="') == 4
    finally:
        lq.PAGE_SIZE = original


def _link(page: str, link_id: str) -> str:
    tag = page.split(f'id="{link_id}"', 1)[0].rsplit("<a ", 1)[1]
    return tag.split('href="', 1)[1].split('"', 1)[0]


def test_unknown_cursor_is_400(site: Site, client: TestClient) -> None:
    login(client, "vera")
    assert client.get("/leads?after=99999").status_code == 400
    assert client.get("/leads?after=abc").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/leads/99999"),
        ("GET", "/leads/99999/raw"),
        ("GET", "/leads/99999/screenshot"),
        ("POST", "/leads/99999/review"),
        ("GET", "/no/such/page"),
    ],
)
def test_unknown_leads_are_404(site: Site, client: TestClient, method: str, path: str) -> None:
    csrf = login(client, "ana")
    response = client.request(method, path, data={"status": "confirmed", "csrf_token": csrf})
    assert response.status_code == 404


def test_a_lead_without_a_screenshot_is_404_there(site: Site, client: TestClient) -> None:
    login(client, "vera")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/101"]
    assert client.get(f"/leads/{lead}/screenshot").status_code == 404


def test_lead_page_marks_evidence_and_shows_the_registry_verdict(
    site: Site, client: TestClient
) -> None:
    login(client, "vera")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/101"]
    page = client.get(f"/leads/{lead}").text
    assert '<mark class="ev" title="credit_repair：征信修复">征信修复</mark>' in page
    assert '<mark class="ev ev-contact" title="13800138000">13800138000</mark>' in page
    assert "超出登记经营范围" in page and "征信修复不在登记经营范围内，且属于禁止登记事项" in page
    assert "registry-2026-11.csv:2" in page
    assert f'href="/actors/{site.seeded.world.actor_id}"' in page
    assert f'src="/leads/{lead}/raw" sandbox title' in page  # sandbox without allowances
    assert "allow-scripts" not in page and "allow-same-origin" not in page


def test_raw_page_has_its_own_csp_and_is_shown_inline(site: Site, client: TestClient) -> None:
    login(client, "vera")
    response = client.get(f"/leads/{site.seeded.hostile_finding}/raw")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == RAW_CSP
    assert RAW_CSP.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert "sandbox" in RAW_CSP and "script" not in RAW_CSP
    assert response.headers["content-disposition"] == "inline"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert b"<script>alert('head')</script>" in response.content  # byte for byte, as stored


# --- reviews ----------------------------------------------------------------------------------


def test_review_goes_through_storage_and_the_audit_log(site: Site, client: TestClient) -> None:
    csrf = login(client, "ana")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/202"]
    response = client.post(
        f"/leads/{lead}/review",
        data={
            "status": "confirmed",
            "note": "广告\x1b[2J属实",
            "csrf_token": csrf,
            "next": "/review",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/review"
    with Session(site.engine) as s:
        confirmed = query_leads(s, LeadFilter(review=("confirmed",)))
    assert [(r.finding_id, r.review_note) for r in confirmed] == [(lead, "广告[2J属实")]
    entries = [e for e in list_audit_of(site.engine) if e.action == "review"]
    assert [(e.user, e.target, e.detail["status"]) for e in entries] == [
        ("ana", f"lead:{lead}", "confirmed")
    ]
    queue = client.get("/review").text
    assert f'data-lead="{lead}"' not in queue  # reviewed: out of the queue of new leads


def list_audit_of(engine: Engine) -> list[Any]:
    with Session(engine) as s:
        return list_audit(s)


@pytest.mark.parametrize("status", ["maybe", ""])
def test_an_unknown_review_state_is_400(site: Site, client: TestClient, status: str) -> None:
    csrf = login(client, "ana")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/202"]
    response = client.post(f"/leads/{lead}/review", data={"status": status, "csrf_token": csrf})
    assert response.status_code == 400


@pytest.mark.parametrize("target", ["https://evil.test/", "//evil.test/x", "javascript:alert(1)"])
def test_review_never_redirects_off_site(site: Site, client: TestClient, target: str) -> None:
    csrf = login(client, "ana")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/202"]
    response = client.post(
        f"/leads/{lead}/review",
        data={"status": "dismissed", "csrf_token": csrf, "next": target},
        follow_redirects=False,
    )
    assert response.headers["location"] == f"/leads/{lead}"


# --- exports ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_exports_are_logged_audited_and_defused(site: Site, client: TestClient, fmt: str) -> None:
    login(client, "ana")
    response = client.get(f"/leads/export.{fmt}?min_score=0.5&source=demo-blog&source=demo-forum")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith('attachment; filename="leads-')
    titles = _titles(fmt, response.content)
    expected = {
        "csv": "'" + HOSTILE_TITLE,  # defused for Excel
        "json": HOSTILE_TITLE,  # data, as scraped
        "xlsx": HOSTILE_TITLE.replace("\x1b", ""),  # a text cell (checked in _titles)
    }[fmt]
    assert expected in titles
    logs = _rows(site.engine, ExportLog)
    assert [(e.user, e.format, e.rows) for e in logs] == [("ana", fmt, len(titles))]
    assert logs[0].path.startswith("web download: leads-")
    assert logs[0].filters["sources"] == ["demo-blog", "demo-forum"]
    audits = [e for e in list_audit_of(site.engine) if e.action == "export"]
    assert len(audits) == 1 and audits[0].target == f"leads.{fmt}"
    assert audits[0].detail["filter"]["min_score"] == 0.5
    assert audits[0].detail["sha256"] == logs[0].sha256
    exports_page = _text(client.get("/exports"))
    assert "web download: leads-" in exports_page and "min_score=0.5" in exports_page


def _titles(fmt: str, content: bytes) -> list[str]:
    """The 标题 column of an export."""
    title = next(c for c in COLUMNS if c.key == "title")
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
        return [r[title.header] for r in rows]
    if fmt == "json":
        return [r["title"] for r in json.loads(content)]
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    col = [c.value for c in sheet[1]].index(title.header) + 1
    cells = [sheet.cell(row=r, column=col) for r in range(2, sheet.max_row + 1)]
    assert all(c.data_type == "s" for c in cells)  # text, never a formula
    return [c.value for c in cells]


def test_an_export_without_a_filter_is_refused(site: Site, client: TestClient) -> None:
    login(client, "ana")
    response = client.get("/leads/export.xlsx")
    assert response.status_code == 400
    assert "refusing to export every lead" in response.text
    assert _rows(site.engine, ExportLog) == []
    listing = client.get("/leads").text
    assert 'id="export-csv"' not in listing and "请先设置至少一个筛选条件" in listing


def test_an_unknown_export_format_is_400(site: Site, client: TestClient) -> None:
    login(client, "ana")
    assert client.get("/leads/export.pdf?min_score=0.5").status_code == 400


# --- headers and hostile text ----------------------------------------------------------------


PAGES = ["/login", "/leads", "/review?review=new", "/exports", "/static/web.css", "/nope"]


@pytest.mark.parametrize("path", PAGES)
def test_every_response_has_the_security_headers(site: Site, client: TestClient, path: str) -> None:
    login(client, "vera")
    response = client.get(path)
    assert response.headers["content-security-policy"] == PAGE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_lead_page_has_the_security_headers(site: Site, client: TestClient) -> None:
    login(client, "vera")
    response = client.get(f"/leads/{site.seeded.hostile_finding}")
    assert response.headers["content-security-policy"] == PAGE_CSP
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/leads", "/review", "/leads/{id}"])
def test_hostile_scraped_text_is_escaped(site: Site, client: TestClient, path: str) -> None:
    login(client, "vera")
    page = client.get(path.format(id=site.seeded.hostile_finding)).text
    assert f'data-lead="{site.seeded.hostile_finding}"' in page or "lead-title" in page
    assert "<script>alert" not in page
    assert "<script" not in page.replace('<script src="/static/review.js" defer></script>', "")
    assert "onerror=" not in page.replace("onerror=alert(1)", "")  # only as escaped text
    assert "<img" not in page and "<svg" not in page and '<iframe src="javascript' not in page
    assert 'href="javascript:' not in page.lower()
    assert "\x1b" not in page
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page


def test_hostile_urls_never_become_links(site: Site, client: TestClient) -> None:
    with Session(site.engine) as s:
        s.get(Finding, site.seeded.hostile_finding).document.url = "javascript:alert('url')"
        s.commit()
    login(client, "vera")
    page = client.get(f"/leads/{site.seeded.hostile_finding}").text
    assert "javascript:alert(&#39;url&#39;)" in page
    assert 'href="javascript' not in page


# --- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://a.test/x?y=1", "https://a.test/x?y=1"),
        ("http://a.test/", "http://a.test/"),
        ("javascript:alert(1)", ""),
        ("JavaScript:alert(1)", ""),
        (" javascript:alert(1)", ""),
        ("java\x00script:alert(1)", ""),
        ("data:text/html,<script>", ""),
        ("vbscript:x", ""),
        ("/relative", ""),
        ("", ""),
    ],
)
def test_only_http_urls_become_links(url: str, href: str) -> None:
    assert link_href(url) == href


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("/leads?x=1", "/leads?x=1"),
        ("/review", "/review"),
        ("//evil.test/", "/d"),
        ("https://evil.test/", "/d"),
        ("/\\evil.test", "/d"),
        ("javascript:alert(1)", "/d"),
        ("", "/d"),
        (None, "/d"),
    ],
)
def test_next_urls_stay_on_site(given: str | None, safe: str) -> None:
    assert safe_next(given, "/d") == safe


@pytest.mark.parametrize(
    ("text", "spans", "pieces"),
    [
        ("abcdef", [(1, 3, "term")], [("a", ""), ("bc", "term"), ("def", "")]),
        ("abcdef", [(0, 6, "term")], [("abcdef", "term")]),
        (
            "abcdef",
            [(2, 5, "term"), (1, 3, "contact")],
            [("a", ""), ("bc", "contact"), ("de", "term"), ("f", "")],
        ),
        ("abcdef", [(1, 4, "term"), (1, 2, "cue")], [("a", ""), ("bcd", "term"), ("ef", "")]),
        ("abc", [(2, 9, "term"), (-1, 1, "term"), (2, 2, "term")], [("abc", "")]),
        ("<b>", [(0, 3, "term")], [("<b>", "term")]),
        ("", [], []),
    ],
)
def test_segments_cover_the_text_once(
    text: str, spans: list[tuple[int, int, str]], pieces: list[tuple[str, str]]
) -> None:
    got = highlight.segments(text, [highlight.Span(a, b, k, "") for a, b, k in spans])
    assert [(s.text, s.kind) for s in got] == pieces
    assert "".join(s.text for s in got) == text


def test_evidence_spans_skip_malformed_items() -> None:
    spans = highlight.evidence_spans(
        [
            {"kind": "term", "label": "credit_repair", "term": "征信修复", "span": [0, 4]},
            {"kind": "term", "span": ["0", 4]},
            {"kind": "term"},
        ]
    )
    assert spans == [highlight.Span(0, 4, "term", "credit_repair：征信修复")]


# --- the CLI --------------------------------------------------------------------------------


def test_users_commands(engine: Engine, db_url: str) -> None:
    added = runner.invoke(
        cli_app,
        ["users", "add", "wang", "--role", "Analyst", "--password-stdin", "--db", db_url],
        input="a long password\n",
    )
    assert added.exit_code == 0, added.output
    assert "added user wang (analyst)" in added.output
    again = runner.invoke(
        cli_app, ["users", "add", "wang", "--password-stdin", "--db", db_url], input="x" * 12
    )
    assert isinstance(again.exception, InputError) and "exists already" in str(again.exception)
    short = runner.invoke(
        cli_app, ["users", "add", "li", "--password-stdin", "--db", db_url], input="short\n"
    )
    assert isinstance(short.exception, InputError)
    listed = runner.invoke(cli_app, ["users", "list", "--json", "--db", db_url])
    assert [(u["name"], u["role"], u["disabled"]) for u in json.loads(listed.output)] == [
        ("wang", "analyst", False)
    ]
    changed = runner.invoke(
        cli_app,
        ["users", "passwd", "wang", "--password-stdin", "--db", db_url],
        input="another long one\n",
    )
    assert changed.exit_code == 0, changed.output
    with Session(engine) as s:
        user = s.scalars(select(User)).one()
        assert auth.verify_password(user.password_hash, "another long one")
        assert user.password_hash.startswith("$argon2id$")
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["user_add", "user_passwd"]


def test_web_refuses_to_start_without_users(engine: Engine, db_url: str) -> None:
    result = runner.invoke(cli_app, ["web", "--db", db_url])
    assert isinstance(result.exception, InputError)
    assert result.exception.exit_code == 2
    assert "greywatch users add" in (result.exception.hint or "")


def test_an_idle_or_expired_session_ends(site: Site, client: TestClient) -> None:
    login(client, "ana")
    digest = auth.token_digest(client.cookies.get(auth.SESSION_COOKIE))
    with Session(site.engine) as s:
        row = s.get(WebSession, digest)
        row.last_seen_at = row.last_seen_at - auth.SESSION_IDLE - timedelta(minutes=1)
        s.commit()
    assert client.get("/leads", follow_redirects=False).status_code == 303
    assert _rows(site.engine, WebSession) == []  # the dead row is gone
    login(client, "ana")
    with Session(site.engine) as s:
        row = s.scalars(select(WebSession)).one()
        row.expires_at = row.created_at
        s.commit()
    assert client.get("/leads", follow_redirects=False).status_code == 303


def test_greywatch_web_serves_on_loopback(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    seed(db_url)
    add_user(db_url, "ana", "analyst")
    port = free_port()
    env = os.environ | {"GREYWATCH_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "greywatch", "web", "--port", str(port), "--db", db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        answer = None
        for _ in range(600):  # wait for the server (bounded), no timing asserted
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert answer is not None, proc.stderr.read() if proc.stderr else ""
        assert answer.status_code == 200 and "登录 greywatch" in answer.text
        assert answer.headers["content-security-policy"] == PAGE_CSP
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert f"greywatch web: http://127.0.0.1:{port}/" in err
    assert "Traceback" not in err


def test_raw_page_keeps_its_charset(site: Site, client: TestClient) -> None:
    login(client, "vera")
    blog = site.seeded.world.doc_ids["http://blog.demo.test/p/7"]
    response = client.get(f"/leads/{blog}/raw")
    assert response.headers["content-type"] == "text/html; charset=gbk"
    assert "征信洗白" in response.content.decode("gbk")


def test_a_stored_screenshot_is_shown(site: Site, client: TestClient, tmp_path: Path) -> None:
    png = tmp_path / "shot.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/101"]
    with Session(site.engine) as s:
        s.get(Finding, lead).document.screenshot_path = str(png)
        s.commit()
    login(client, "vera")
    assert f'src="/leads/{lead}/screenshot"' in client.get(f"/leads/{lead}").text
    shot = client.get(f"/leads/{lead}/screenshot")
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    assert shot.content == png.read_bytes()


def test_the_audit_log_is_for_admins(site: Site, client: TestClient) -> None:
    csrf = login(client, "ana")
    lead = site.seeded.world.doc_ids["http://forum.demo.test/t/303"]
    client.post(
        f"/leads/{lead}/review",
        data={"status": "dismissed", "note": "<b>不是</b>", "csrf_token": csrf},
    )
    assert client.get("/audit").status_code == 403
    login(client, "adam")
    page = client.get("/audit?action=review").text
    assert f"lead:{lead}" in page and "&lt;b&gt;不是&lt;/b&gt;" in page
    assert ">login<" not in page  # only the action asked for
