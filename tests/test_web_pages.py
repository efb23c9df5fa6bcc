"""The web workspace's pages beyond the leads: dashboard, businesses, actors, templates,
sources and runs, packs. Real app (TestClient), real SQLite and PostgreSQL (`db_url`), data
saved through the storage functions, the real report builder and a real crawl subprocess."""

from __future__ import annotations

import io
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select

from crawler.sources import load_sources
from greywatch.web.routes.dashboard import clock, stacked_chart
from greywatch.web.routes.templates import diff_pieces
from pipelines.errors import ConfigError
from storage.dashboard import dashboard, densest_window, failing_sources
from storage.db import get_engine, session_scope
from storage.filters import FilterInput, build_filter
from storage.lease import acquire, release
from storage.linking import link_actors, link_templates
from storage.models import Actor, AuditLog, CrawlRun, Entity, ExportLog, Template
from storage.repo import PageRecord, finish_run, query_leads, save_page, start_run
from tests.case_world import XINCHENG, Page, analysis_of, html_of
from tests.web_util import PASSWORD, add_user, client_for, login, seed

T_BURST = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # the dashboard's "now" in these tests
# One ad wording reposted by four accounts within hours, one copy carrying markup as text.
BODY = (
    "专业征信修复，消除逾期记录，内部渠道快速处理，不成功不收费。我们团队多年经验，"
    "已帮助上万客户恢复良好信用，流程透明，隐私保密，全国可办，当天受理，免费评估方案。"
)
# The first (the template's representative, shown everywhere the template is) is hostile.
VARIANTS = (
    ("张顾问", "<script>alert('diff')</script><img src=x onerror=alert(1)>张经理" + BODY),
    ("王顾问", BODY + "联系人王经理。"),
    ("李顾问", BODY.replace("上万", "数万") + "联系人李经理。"),
    ("赵顾问", BODY.replace("当天受理", "当天办理") + "联系人赵经理。"),
)
SOURCES_YAML = """sources:
  - id: demo-forum
    name: 演示论坛
    preset: urls
    start_urls: ["http://127.0.0.1:9/nothing"]
    schedule: "0 */6 * * *"
"""


@dataclass(frozen=True)
class Site:
    """A seeded database and what the tests refer to."""

    url: str
    xincheng: int  # business entity id
    actor: int
    template: int
    failed_run: int
    sources: Path
    packs: Path


def _save_variants(session, t0: datetime) -> None:  # type: ignore[no-untyped-def]
    for n, (author, text) in enumerate(VARIANTS):
        page = Page(
            f"http://bbs.demo.test/thread-{900 + n}-1-1.html",
            "demo-forum",
            f"征信修复 {n}",
            text,
            "promotion",
            ("credit_repair",),
            0.9,
            terms=(("credit_repair", "征信修复"),),
        )
        record = PageRecord(
            url=page.url,
            body=html_of(page),
            fetched_at=t0 + timedelta(hours=n),
            source_id=page.source,
            title=page.title,
            text=page.text,
            author=author,
        )
        save_page(session, record, analysis_of(page), "test-1")


def make_site(db_url: str, tmp_path: Path, t0: datetime = T_BURST) -> Site:
    """The web seed (case world + hostile ad), template variants posted from `t0` on,
    linking, crawl runs, users of each role, a sources file."""
    seed(db_url)
    engine = get_engine(db_url)
    with session_scope(engine) as session:
        _save_variants(session, t0)
        session.flush()
        link_actors(session)
        link_templates(session)
        ok = start_run(session, "demo-forum", "schedule")
        finish_run(session, ok, "finished", {}, 3, 2, 0)
        bad = start_run(session, "demo-forum", "schedule")
        finish_run(session, bad, "failed", {"log_count/ERROR": 1}, 0, 0, 1, message="boom")
        xincheng = session.scalar(select(Entity.id).where(Entity.key == XINCHENG))
        actor = session.scalar(select(Actor.id).where(Actor.size >= 2))
        template = session.scalar(select(Template.id).order_by(Template.size.desc()))
    for name, role in (("viewer", "viewer"), ("analyst", "analyst"), ("admin", "admin")):
        add_user(db_url, name, role)
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML, encoding="utf-8")
    assert xincheng and actor and template
    return Site(db_url, xincheng, actor, template, bad, sources, tmp_path / "packs")


@pytest.fixture
def site(db_url: str, tmp_path: Path) -> Site:
    return make_site(db_url, tmp_path)


@contextmanager
def signed_in(site: Site, who: str) -> Iterator[TestClient]:
    """A client signed in as `who` (CSRF token in `client.csrf`), on an app using the site's
    sources file and packs folder, a stand-in crawl command (3 s, exit 0) and the
    dashboard's clock at NOW."""
    with client_for(site.url) as c:
        state = c.app.state  # type: ignore[attr-defined]
        state.sources_path, state.packs_dir = site.sources, site.packs
        state.crawl_command = [sys.executable, "-c", "import time; time.sleep(3)"]
        c.app.dependency_overrides[clock] = lambda: NOW  # type: ignore[attr-defined]
        c.csrf = login(c, who, PASSWORD)  # type: ignore[attr-defined]
        yield c


def audits(site: Site, action: str) -> list[tuple[str, str, dict]]:
    """(user, target, detail) of the audit rows of `action`."""
    with session_scope(get_engine(site.url), write=False) as session:
        rows = session.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)
        )
        return [(r.user, r.target, dict(r.detail)) for r in rows]


# --- pure pieces ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("posts", "hours", "want"),
    [
        ([], 24, None),
        ([(0, "a")], 24, (1, 1)),
        ([(0, "a"), (1, "b"), (2, "c")], 24, (3, 3)),
        ([(0, "a"), (30, "b"), (60, "c")], 24, (1, 1)),  # a day apart each: never together
        ([(0, "a"), (1, "a"), (2, "b")], 24, (2, 3)),  # one account twice counts once
        ([(0, "a"), (10, "b"), (20, "c"), (40, "d"), (41, "e")], 24, (3, 3)),
    ],
)
def test_densest_window(posts, hours, want) -> None:  # type: ignore[no-untyped-def]
    got = densest_window([(T_BURST + timedelta(hours=h), a) for h, a in posts], hours)
    assert (got[:2] if got else None) == want


@pytest.mark.parametrize(
    ("old", "new", "left", "right"),
    [
        ("abc", "abc", [("abc", "same")], [("abc", "same")]),
        (
            "上万客户",
            "数万客户",
            [("上", "del"), ("万客户", "same")],
            [("数", "ins"), ("万客户", "same")],
        ),
        ("联系人", "联系人<b>", [("联系人", "same")], [("联系人", "same"), ("<b>", "ins")]),
        ("删掉我", "", [("删掉我", "del")], []),
    ],
)
def test_diff_pieces(old: str, new: str, left: list, right: list) -> None:
    assert diff_pieces(old, new) == (left, right)


def test_chart_bars_link_to_their_day_and_category() -> None:
    from storage.dashboard import DayCount, day_filter

    day = datetime(2026, 11, 3).date()
    counts = [
        DayCount(day, "credit_repair", 4, day_filter(day, "credit_repair")),
        DayCount(day, "debt_relief", 2, day_filter(day, "debt_relief")),
    ]
    chart = stacked_chart(counts, day, 7, {"credit_repair": "征信修复", "debt_relief": "债务减免"})
    full, half = (b.height for b in chart.bars)
    assert half == pytest.approx(full / 2)
    assert "category=credit_repair" in chart.bars[0].href
    assert "since=2026-11-03T00%3A00%2B08%3A00" in chart.bars[0].href
    assert chart.total == 6 and [t.text for t in chart.y_ticks] == ["0", "3", "6"]


# --- storage/dashboard.py -------------------------------------------------------------------


def test_dashboard_items_list_what_they_count(site: Site) -> None:
    """Each chart bar and source count equals the leads its filter lists (the CLI's filter)."""
    with session_scope(get_engine(site.url), write=False) as session:
        board = dashboard(session, NOW, days=30)
        assert board.per_day, "the seeded leads fall in the window"
        for item in [*board.per_day, *board.top_sources]:
            f = item.filter
            given = FilterInput(
                since=f.get("since"),
                until=f.get("until"),
                categories=[f["category"]] if "category" in f else (),
                sources=[f["source"]] if "source" in f else (),
            )
            assert len(query_leads(session, build_filter(session, given))) == item.leads, item
        assert {b.template_id for b in board.bursts} == {site.template}
        burst = board.bursts[0]
        assert (burst.accounts, burst.posts) == (4, 4)
        assert [a.actor_id for a in board.new_actors] == [site.actor]
        assert [(f.source_id, f.failed_runs, f.run_id) for f in board.failing] == [
            ("demo-forum", 1, site.failed_run)
        ]


def test_failing_sources_counts_failures_in_a_row(engine) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        for status in ("failed", "finished", "failed", "failed"):
            run = start_run(session, "src-a", "schedule")
            finish_run(session, run, status, {}, 0, 0, 0, message=status)
        start_run(session, "src-a", "schedule")  # running: not judged
        run = start_run(session, "src-b", "schedule")
        finish_run(session, run, "finished", {}, 1, 1, 0)
        session.flush()
        got = failing_sources(session)
    assert [(f.source_id, f.failed_runs) for f in got] == [("src-a", 2)]


# --- pages ---------------------------------------------------------------------------------


def test_every_page_renders_for_a_viewer(site: Site) -> None:
    with signed_in(site, "viewer") as c:
        pages = [
            ("/?days=30", ["每日新增线索", "<svg", "/leads?since="]),
            ("/businesses", [XINCHENG]),
            (f"/businesses/{site.xincheng}", [XINCHENG, "超出登记经营范围", "张三"]),
            ("/businesses?review=new&verdict=out_of_scope", [XINCHENG]),
            ("/actors", [f"/actors/{site.actor}"]),
            (f"/actors/{site.actor}", ['class="graph"', "/leads?contact="]),
            ("/actors/suggested", ["疑似关联账号"]),
            ("/templates", [f"/templates/{site.template}"]),
            (f"/templates/{site.template}", ["<ins>", "变体对照"]),
            ("/sources", ["demo-forum", "0 */6 * * *"]),
            ("/sources/demo-forum", ["boom", f"/runs/{site.failed_run}"]),
            (f"/runs/{site.failed_run}", ["boom", "log_count/ERROR"]),
            ("/sources/file", ["演示论坛"]),
        ]
        for path, expected in pages:
            response = c.get(path)
            assert response.status_code == 200, (path, response.text[:500])
            for text in expected:
                assert text in response.text, (path, text)
        # a viewer sees no write buttons
        assert "立即运行" not in c.get("/sources").text
        assert "business-review" not in c.get(f"/businesses/{site.xincheng}").text


def test_unknown_ids_are_404(site: Site) -> None:
    with signed_in(site, "admin") as c:
        for path in (
            "/businesses/999999",
            "/actors/999999",
            "/templates/999999",
            "/sources/no-such-source",
            "/runs/999999",
            "/packs/999999",
            "/packs/999999/download",
        ):
            assert c.get(path).status_code == 404, path
        response = c.post("/sources/no-such-source/run", data={"csrf_token": c.csrf})  # type: ignore[attr-defined]
        assert response.status_code == 404
        assert "no source 'no-such-source' (known: demo-forum)" in response.text


def test_viewers_cannot_post(site: Site) -> None:
    with signed_in(site, "viewer") as c:
        token = c.csrf  # type: ignore[attr-defined]
        for path, data in (
            (f"/businesses/{site.xincheng}/review", {"status": "confirmed"}),
            ("/sources/demo-forum/run", {}),
            ("/sources/file", {"text": SOURCES_YAML}),
            ("/packs", {"business": str(site.xincheng)}),
        ):
            response = c.post(path, data={**data, "csrf_token": token}, follow_redirects=False)
            assert response.status_code == 403, path
        assert c.get("/packs").status_code == 403  # packs: analysts and admins only
    assert audits(site, "review") == [] and audits(site, "run") == []


def test_analyst_cannot_run_or_edit_sources(site: Site) -> None:
    with signed_in(site, "analyst") as c:
        for path, data in (("/sources/demo-forum/run", {}), ("/sources/file", {"text": "x"})):
            response = c.post(path, data={**data, "csrf_token": c.csrf})  # type: ignore[attr-defined]
            assert response.status_code == 403


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/businesses?review=bogus", "unknown review status &#39;bogus&#39;"),
        ("/businesses?verdict=bogus", "--verdict: unknown value &#39;bogus&#39;"),
        ("/actors/suggested?window=0", "--window must be at least 1 hour, not 0"),
        ("/?days=0", "days"),
    ],
)
def test_bad_filters_are_400_with_the_cli_message(site: Site, path: str, message: str) -> None:
    with signed_in(site, "viewer") as c:
        response = c.get(path)
        assert response.status_code == 400
        assert message in response.text


def test_business_review_is_stored_and_audited(site: Site) -> None:
    with signed_in(site, "analyst") as c:
        response = c.post(
            f"/businesses/{site.xincheng}/review",
            data={"status": "confirmed", "note": "广告与经营范围不符", "csrf_token": c.csrf},  # type: ignore[attr-defined]
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = c.get(f"/businesses/{site.xincheng}").text
        assert "已确认" in page and "广告与经营范围不符" in page
        bad = c.post(
            f"/businesses/{site.xincheng}/review",
            data={"status": "bogus", "csrf_token": c.csrf},  # type: ignore[attr-defined]
        )
        assert bad.status_code == 400 and "unknown review status" in bad.text
    [(user, target, detail)] = audits(site, "review")
    assert (user, target) == ("analyst", f"business:{site.xincheng}")
    assert detail["status"] == "confirmed" and detail["note"] == "广告与经营范围不符"


def test_template_diff_escapes_scraped_text(site: Site) -> None:
    with signed_in(site, "viewer") as c:
        page = c.get(f"/templates/{site.template}").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;diff&#39;)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "text",
    [
        "sources:\n  - id: demo-forum\n    name: [unclosed\n",  # not YAML
        "sources:\n  - id: demo-forum\n    name: x\n    preset: urls\n    colour: red\n",
        "sources:\n  - id: Bad Id\n    name: x\n    preset: urls\n",
    ],
)
def test_invalid_sources_file_is_refused_with_the_cli_message(site: Site, text: str) -> None:
    before = site.sources.read_bytes()
    with signed_in(site, "admin") as c:
        response = c.post("/sources/file", data={"text": text, "csrf_token": c.csrf})  # type: ignore[attr-defined]
    assert response.status_code == 400
    assert site.sources.read_bytes() == before  # never saved
    site.sources.write_text(text, encoding="utf-8")  # what `greywatch sources check` says of it
    with pytest.raises(ConfigError) as cli:
        load_sources(site.sources)
    assert str(escape(str(cli.value))) in response.text
    assert audits(site, "sources") == []


def test_valid_sources_file_is_saved_and_audited(site: Site) -> None:
    text = SOURCES_YAML.replace("演示论坛", "改过的论坛")
    with signed_in(site, "admin") as c:
        response = c.post(
            "/sources/file",
            data={"text": text, "csrf_token": c.csrf},
            follow_redirects=False,  # type: ignore[attr-defined]
        )
        assert response.status_code == 303
        assert "改过的论坛" in c.get("/sources").text
    assert site.sources.read_text(encoding="utf-8") == text
    [(user, target, detail)] = audits(site, "sources")
    assert (user, target, detail["sources"]) == ("admin", str(site.sources), ["demo-forum"])


def test_run_now_is_refused_for_a_busy_source_and_starts_otherwise(site: Site) -> None:
    engine = get_engine(site.url)
    lease = acquire(engine, "demo-forum")
    with signed_in(site, "admin") as c:
        busy = c.post("/sources/demo-forum/run", data={"csrf_token": c.csrf})  # type: ignore[attr-defined]
        assert busy.status_code == 409
        assert "source demo-forum is already being crawled (pid" in busy.text
        assert audits(site, "run") == []
        release(engine, lease)
        started = c.post(
            "/sources/demo-forum/run",
            data={"csrf_token": c.csrf},  # type: ignore[attr-defined]
            follow_redirects=False,
        )
        assert started.status_code == 303
        # the stand-in crawl runs for seconds: a second click meanwhile is refused
        again = c.post("/sources/demo-forum/run", data={"csrf_token": c.csrf})  # type: ignore[attr-defined]
        assert again.status_code == 409
        assert "source demo-forum is already being crawled" in again.text
        deadline = time.monotonic() + 90
        while True:
            with session_scope(engine, write=False) as session:
                runs = session.execute(
                    select(CrawlRun.id, CrawlRun.status, CrawlRun.trigger)
                    .where(CrawlRun.source_id == "demo-forum", CrawlRun.id > site.failed_run)
                    .order_by(CrawlRun.id)
                ).all()
            if runs and runs[0].status != "running":
                break
            assert time.monotonic() < deadline, "the run never ended"
            time.sleep(0.2)
    assert [tuple(r) for r in runs] == [(runs[0].id, "finished", "schedule")]
    assert [(u, t) for u, t, _ in audits(site, "run")] == [("admin", "source:demo-forum")]


def test_pack_is_built_downloaded_and_versioned(site: Site) -> None:
    with signed_in(site, "analyst") as c:
        token = c.csrf  # type: ignore[attr-defined]
        refused = c.post("/packs", data={"business": str(site.xincheng), "csrf_token": token})
        assert refused.status_code == 400 and "not reviewed as confirmed" in refused.text
        c.post(
            f"/businesses/{site.xincheng}/review",
            data={"status": "confirmed", "csrf_token": token},
        )
        assert XINCHENG in c.get("/packs").text
        pages = []
        for _ in range(2):
            built = c.post(
                "/packs",
                data={"business": str(site.xincheng), "csrf_token": token},
                follow_redirects=False,
            )
            assert built.status_code == 303, built.text[:800]
            pages.append(built.headers["location"])
        first, second = (int(p.split("/")[2].split("?")[0]) for p in pages)
        assert first != second
        with session_scope(get_engine(site.url), write=False) as session:
            zips = {
                log.id: Path(log.path).name
                for log in session.scalars(select(ExportLog).where(ExportLog.what == "report"))
            }
        assert zips[first] == "12315-91440300MA5FX0L12G.zip"
        assert zips[second] == "12315-91440300MA5FX0L12G-v2.zip"
        download = c.get(f"/packs/{first}/download")
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
        assert "12315-91440300MA5FX0L12G/report.html" in names
        detail = c.get(f"/packs/{second}").text
        assert "12315-91440300MA5FX0L12G.zip" in detail  # the earlier version is listed
        one = c.get(f"/packs/{first}/files/manifest.json")
        assert one.status_code == 200 and one.headers["content-disposition"].startswith(
            "attachment"
        )
        assert c.get(f"/packs/{first}/files/..%2F..%2Fsources.yaml").status_code == 404
    rows = audits(site, "pack")
    assert len(rows) == 2 and {detail["zip"] for _, _, detail in rows} == set(zips.values())
