"""Benchmark the web workspace on 100,000 leads in PostgreSQL: leads list and dashboard.

    .venv/bin/python bench/web.py                        # build (or reuse) and measure
    .venv/bin/python bench/web.py --leads 20000 --repeat 10
    .venv/bin/python bench/web.py --rebuild              # drop the bench database first

The database (`greywatch_bench_web` on the PostgreSQL of $GREYWATCH_TEST_PG_URL, default
postgres:postgres@127.0.0.1) is filled through the project's own storage code: pages and
hand-made analyses saved with `storage.repo.save_pages` in batches (so lead keys, entities
and mentions are what a crawl would leave), crawl runs with `start_run`/`finish_run`, then
`link_actors` and `link_templates`. Generated from a fixed seed: 60 sources over 45 days,
four categories, ~20,000 posting actors with phones and WeChat ids, 3,000 firms, a quarter
of the leads copies of 400 template wordings posted by several accounts, plus warnings.

Each page is requested through the real app (`create_app` under Starlette's TestClient,
signed in as an analyst), so the time is the server's whole work for the request: routing,
session check, queries and rendering; no network. Median and p95 over --repeat requests,
twice in one run on the same data (the first is the baseline):

    --compare code     (default) the leads list found by grouping every finding first (the
                       first version, `storage.repo._lead_stmt`) and the dashboard counted on
                       every request, then the current code (storage.leadlist, the cached
                       dashboard; "dashboard, counted" clears the cache before each request)
    --compare indexes  the current code without, then with, migration 0006's indexes
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import and_, create_engine, func, or_, select, text
from sqlalchemy.engine import make_url

from pipelines.model import Analysis, Business, Contact, Detection, Evidence
from storage.db import get_engine, migrate, session_scope
from storage.models import Base, Finding, User
from storage.repo import PageRecord, finish_run, save_pages, start_run, upsert_source

PG_ADMIN = "postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/postgres"
BENCH_DB = "greywatch_bench_web"
INDEX_NAMES = (
    "ix_documents_fetched_at_id",
    "ix_documents_source_id_fetched_at",
    "ix_findings_kind_document_id",
    "ix_mentions_entity_id_document_id",
    "ix_crawl_runs_source_id_started_at",
    "ix_actors_first_seen",
    "ix_templates_last_seen",
)
BATCH = 1000  # pages per save_pages call (one transaction each)
DAYS = 45
N_SOURCES = 60
N_FIRMS = 3000
N_TEMPLATES = 400
TEMPLATED_SHARE = 0.25
WARNING_SHARE = 0.1  # warnings and other pages stored beside the leads

CATEGORIES = {
    "credit_repair": ("征信修复", "消除逾期记录", "征信洗白", "花户修复"),
    "debt_relief": ("停息挂账", "债务减免", "协商还款", "个性化分期"),
    "refund_agency": ("代理退保", "全额退保", "保费退还", "退费维权"),
    "complaint_agency": ("代理维权", "代投诉", "投诉退款", "维权代办"),
}
CUES = ("不成功不收费", "内部渠道", "百分百成功", "免费评估", "私信咨询", "加微信详聊")
FILLER = (
    "我们团队专业处理各类银行网贷信用卡问题，多年经验，已帮助上万客户，流程透明，"
    "当天受理快速见效，全国可办，材料简单，隐私保密，欢迎咨询了解方案，"
)
CITIES = ("深圳市", "广州市", "上海市", "北京市", "杭州市", "成都市", "武汉市", "长沙市")
BRAND = "鑫诚信安恒通金盾正兴华融达汇嘉博泰宏远瑞丰盛德昌鼎富源佳和顺祥隆睿智卓越"
TRADES = ("信息咨询", "商务服务", "企业管理咨询", "财税咨询", "法律咨询", "网络科技")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def _span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


class World:
    """The fixed-seed vocabulary of the generated pages."""

    def __init__(self, n_leads: int, seed: int = 12) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.firms = [
            f"{rng.choice(CITIES)}{''.join(rng.sample(BRAND, 2))}{rng.choice(TRADES)}有限公司"
            for _ in range(N_FIRMS)
        ]
        self.n_actors = max(10, n_leads // 5)
        self.templates = [
            "".join(rng.sample(FILLER, len(FILLER))) + rng.choice(CUES) for _ in range(N_TEMPLATES)
        ]

    def page(self, i: int, lead: bool) -> tuple[PageRecord, Analysis]:
        """Page number `i`: a lead (promotion) or a warning, with its analysis."""
        rng = self.rng
        source = f"site-{rng.randrange(N_SOURCES):02d}"
        actor = int(rng.paretovariate(1.2) * 7) % self.n_actors
        phone, wechat = f"+86139{actor:08d}", f"wx{actor:05d}gw"
        cats = rng.sample(sorted(CATEGORIES), 1 if rng.random() < 0.8 else 2)
        words = [rng.choice(CATEGORIES[c]) for c in cats]
        firm = self.firms[int(rng.paretovariate(1.1)) % N_FIRMS] if rng.random() < 0.4 else ""
        body = self.templates[i % N_TEMPLATES] if rng.random() < TEMPLATED_SHARE else ""
        if not body:
            body = "".join(rng.sample(FILLER, 40)) + rng.choice(CUES)
        if lead:
            text = f"{firm}专业{'、'.join(words)}，{body}。电话{phone[3:]}，微信{wechat}。第{i}号"
            kind, score = "promotion", round(rng.uniform(0.5, 0.99), 3)
        else:
            text = f"警惕“{words[0]}”骗局！警方提醒：{body}。举报电话12315。第{i}号"
            kind, score = "warning", round(rng.uniform(0.0, 0.3), 3)
        title = f"{words[0]}{'咨询' if lead else '提醒'}{i}"
        shown = list(zip(cats, words, strict=True)) if lead else [(cats[0], words[0])]
        evidence = tuple(Evidence("term", c, w, w, *_span(text, w)) for c, w in shown)
        contacts: tuple[Contact, ...] = ()
        businesses: tuple[Business, ...] = ()
        if lead:
            contacts = (
                Contact("phone", phone, phone[3:], *_span(text, phone[3:])),
                Contact("wechat", wechat, wechat, *_span(text, wechat)),
            )
            if firm:
                businesses = (Business(firm, "company", firm, *_span(text, firm)),)
        fetched = self.now - timedelta(seconds=rng.randrange(DAYS * 86400))
        author = f"{rng.choice(SURNAMES)}顾问{actor % 5000}" if rng.random() < 0.7 else ""
        html = f"<html><head><title>{title}</title></head><body><p>{text}</p></body></html>"
        record = PageRecord(
            url=f"https://{source}.example.cn/thread-{i}-1-1.html",
            body=html.encode(),
            fetched_at=fetched,
            source_id=source,
            title=title,
            text=text,
            author=author,
        )
        detection = Detection(kind, tuple(cats), score, evidence, f"命中：{'、'.join(words)}")
        analysis = Analysis(
            id=record.url,
            detection=detection,
            contacts=contacts,
            businesses=businesses,
            title=title,
            text=text,
        )
        return record, analysis


def pg_url(admin: str, name: str) -> str:
    """The URL of database `name` on the server of `admin`."""
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def recreate(admin: str, name: str) -> None:
    """Drop and create the bench database."""
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def exists(admin: str, name: str) -> bool:
    """Whether the bench database exists on the server."""
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        found = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    engine.dispose()
    return bool(found)


def build(url: str, n_leads: int) -> None:
    """Fill the database at `url` with `n_leads` leads (and warnings), runs, actors, templates."""
    from storage.linking import link_actors, link_templates

    engine = get_engine(url)
    migrate(engine)
    world = World(n_leads)
    n_warn = int(n_leads * WARNING_SHARE)
    total = n_leads + n_warn
    t0 = time.perf_counter()
    with session_scope(engine) as session:
        for s in range(N_SOURCES):
            upsert_source(session, f"site-{s:02d}", f"某金融论坛{s:02d}", {})
    for lo in range(0, total, BATCH):
        pages = [world.page(i, lead=i % 11 != 10) for i in range(lo, min(lo + BATCH, total))]
        with session_scope(engine) as session:
            save_pages(session, pages, "bench")
        done = min(lo + BATCH, total)
        if done % 10_000 == 0 or done == total:
            rate = done / (time.perf_counter() - t0)
            print(f"  saved {done:,} pages ({rate:,.0f} pages/s)", flush=True)
    with session_scope(engine) as session:
        rng = random.Random(5)
        for s in range(N_SOURCES):
            for _ in range(6):
                run_id = start_run(session, f"site-{s:02d}", "schedule")
                failed = s % 9 == 0 and rng.random() < 0.8
                finish_run(
                    session,
                    run_id,
                    "failed" if failed else "finished",
                    {"downloader/response_count": 120},
                    120,
                    100,
                    3 if failed else 0,
                    message="crawl exit code 1: connection refused" if failed else "",
                )
    t1 = time.perf_counter()
    with session_scope(engine) as session:
        link_actors(session)
    with session_scope(engine) as session:
        link_templates(session, ("promotion",))
    print(f"  linked actors and templates in {time.perf_counter() - t1:,.0f} s", flush=True)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    print(f"built {total:,} pages in {time.perf_counter() - t0:,.0f} s", flush=True)


def lead_count(url: str) -> int:
    """Leads (promotion findings) stored at `url`; 0 when the schema is missing."""
    engine = get_engine(url)
    try:
        with session_scope(engine, write=False) as session:
            kind = Finding.kind == "promotion"
            return session.scalar(select(func.count()).select_from(Finding).where(kind)) or 0
    except Exception:
        return 0


def set_indexes(url: str, present: bool) -> None:
    """Drop (present=False) or create migration 0006's indexes, then VACUUM ANALYZE (as
    autovacuum would soon: index-only scans need the visibility map)."""
    engine = get_engine(url)
    wanted = {ix.name: ix for t in Base.metadata.tables.values() for ix in t.indexes}
    with engine.begin() as conn:
        for name in INDEX_NAMES:
            index = wanted[name]
            if present:
                index.create(conn, checkfirst=True)
            else:
                index.drop(conn, checkfirst=True)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def sign_in(client: object, url: str) -> None:
    """Create the bench analyst (once per database) and sign the client in."""
    from tests.web_util import add_user, login

    with session_scope(get_engine(url), write=False) as session:
        known = session.scalar(select(User.id).where(User.name == "bench"))
    if known is None:
        add_user(url, "bench", "analyst", "bench-password-1")
    login(client, "bench", "bench-password-1")  # type: ignore[arg-type]


def timed(get: Callable[[], int], repeat: int) -> tuple[float, float]:
    """(median, p95) milliseconds of `repeat` calls (after one warm-up)."""
    status = get()
    if status != 200:
        raise SystemExit(f"request failed with HTTP {status}")
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        get()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


_NEXT = re.compile(r'href="(/leads\?[^"]*?(?:after|cursor)=[^"]+)"')


def deep_page(client: object, start: str, hops: int) -> str:
    """The URL `hops` "next page" links after `start` (keyset pages)."""
    import html as html_lib

    url = start
    for _ in range(hops):
        page = client.get(url).text  # type: ignore[attr-defined]
        found = _NEXT.search(page)
        if not found:
            break
        url = html_lib.unescape(found.group(1))
    return url


def targets(client: object, url: str) -> list[tuple[str, str]]:
    """(label, path) of the pages measured: some filters pick values from the data."""
    engine = get_engine(url)
    with engine.connect() as conn:
        phone = conn.scalar(
            text(
                "SELECT e.key FROM entities e JOIN mentions m ON m.entity_id = e.id "
                "WHERE e.kind = 'phone' GROUP BY e.key ORDER BY count(*) DESC LIMIT 1"
            )
        )
        firm = conn.scalar(
            text(
                "SELECT e.key FROM entities e JOIN mentions m ON m.entity_id = e.id "
                "WHERE e.kind = 'business' GROUP BY e.key ORDER BY count(*) DESC LIMIT 1"
            )
        )
    digits = (phone or "+8613900000000")[3:]
    return [
        ("leads, first page", "/leads"),
        ("leads, keyset page 50", deep_page(client, "/leads", 50)),
        ("leads, category 征信修复", "/leads?category=credit_repair"),
        ("leads, since 7d + category", "/leads?since=7d&category=debt_relief"),
        ("leads, contact (phone)", f"/leads?contact={digits}"),
        ("leads, keyword 停息挂账", "/leads?keyword=%E5%81%9C%E6%81%AF%E6%8C%82%E8%B4%A6"),
        ("leads, firm", f"/leads?firm={firm or '鑫诚'}"),
        ("leads, source", "/leads?source=site-07"),
        ("dashboard", "/"),
        # the floor: a page that runs no real query (session check, rendering, the machine)
        ("empty page (floor)", "/templates?min_size=1000000"),
    ]


def grouped_newest_leads(
    session: Any,
    f: Any,
    *,
    after: Any = None,
    before: Any = None,
    limit: int = 51,
    finding_ids: Sequence[int] = (),
) -> list[Any]:
    """The first version's query for a keyset page (every finding grouped by lead first),
    with the current cursor: the baseline of --compare code."""
    from storage.models import Document
    from storage.repo import _lead_stmt

    stmt = _lead_stmt(replace(f, limit=None), finding_ids).order_by(None)
    at, doc_id = Document.fetched_at, Document.id
    if before is not None:
        stmt = stmt.where(
            or_(at > before.fetched_at, and_(at == before.fetched_at, doc_id > before.document_id))
        ).order_by(at.asc(), doc_id.asc())
    else:
        if after is not None:
            stmt = stmt.where(
                or_(at < after.fetched_at, and_(at == after.fetched_at, doc_id < after.document_id))
            )
        stmt = stmt.order_by(at.desc(), doc_id.desc())
    return [(fi, doc, k, int(r)) for fi, doc, k, r in session.execute(stmt.limit(limit)).all()]


@contextmanager
def first_version() -> Iterator[None]:
    """Swap in the first version's leads query and an uncached dashboard."""
    from greywatch.web import leadquery
    from greywatch.web.routes import dashboard as dashboard_route
    from storage import dashboard as board
    from storage.repo import _lead_pages

    saved = (leadquery.newest_leads, leadquery.lead_pages, dashboard_route.cached_dashboard)
    leadquery.newest_leads = grouped_newest_leads  # type: ignore[assignment]
    leadquery.lead_pages = _lead_pages  # type: ignore[assignment]
    dashboard_route.cached_dashboard = lambda s, now, days: board.dashboard(s, now, days)  # type: ignore[assignment]
    try:
        yield
    finally:
        leadquery.newest_leads, leadquery.lead_pages, dashboard_route.cached_dashboard = saved


def measure(url: str, repeat: int, compare: str) -> None:
    """Print median/p95 per page for the baseline, then the current state (see --compare)."""
    from storage.dashboard import clear_cache
    from tests.web_util import client_for

    if compare == "indexes":
        phases = (("without 0006 indexes", False), ("with 0006 indexes", True))
    else:
        set_indexes(url, True)
        phases = (("first version", False), ("current code", True))
    with client_for(url, secure_cookies=False) as client:
        sign_in(client, url)
        pages = targets(client, url)

        def counted() -> int:
            clear_cache()
            return client.get("/").status_code

        results: dict[str, dict[str, tuple[float, float]]] = {}
        for label, current in phases:
            if compare == "indexes":
                set_indexes(url, current)
            with nullcontext() if current else first_version():
                results[label] = {
                    name: timed(lambda p=path: client.get(p).status_code, repeat)
                    for name, path in pages
                }
                results[label]["dashboard, counted"] = timed(counted, repeat)
    before, after = results.values()
    names = [name for name, _ in pages] + ["dashboard, counted"]
    first, second = (f"{label} med/p95 ms" for label in results)
    print(f"\n{'page':32} {first:>28} {second:>26} {'ratio':>6}")
    for name in names:
        (bm, bp), (am, ap) = before[name], after[name]
        print(f"{name:32} {bm:17.1f} /{bp:8.1f} {am:15.1f} /{ap:8.1f} {bm / am:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="drop the bench database first")
    parser.add_argument("--db-name", default=BENCH_DB)
    parser.add_argument(
        "--compare",
        choices=("code", "indexes"),
        default="code",
        help="baseline: the first version's code (default) or no 0006 indexes",
    )
    args = parser.parse_args()
    admin = os.environ.get("GREYWATCH_TEST_PG_URL", PG_ADMIN)
    url = pg_url(admin, args.db_name)
    if args.rebuild or not exists(admin, args.db_name):
        recreate(admin, args.db_name)
    migrate(get_engine(url))  # a database built by an older greywatch gains the new migrations
    have = lead_count(url)
    if have != args.leads:
        if have:
            recreate(admin, args.db_name)
        print(f"building {args.leads:,} leads in {make_url(url).database} …", flush=True)
        build(url, args.leads)
    print(f"{lead_count(url):,} leads in PostgreSQL database {make_url(url).database}")
    print(f"(machine: {os.cpu_count()} cores shared with other jobs; figures are noisy)")
    measure(url, args.repeat, args.compare)
    print("the database is kept for re-runs; --rebuild starts over")


if __name__ == "__main__":
    main()
