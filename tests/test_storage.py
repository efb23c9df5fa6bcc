"""storage.db and storage.repo on real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from greywatch.errors import StorageError
from pipelines.model import Analysis, Business, Contact, Detection, Evidence, UsccMention
from storage import db, repo
from storage.models import Base, CrawlRun, Document, Entity, Finding, Mention, Source

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
VALID_USCC = "91440300MA5DC12341"  # check character computed with stdnum.cn.uscc

AD_TEXT = (
    "深圳市鑫诚信息咨询有限公司专业征信修复，逾期记录快速消除，百分百成功！"
    "咨询电话13800138000，微信xinc888。统一社会信用代码91440300MA5DC12341。"
)
WARNING_TEXT = "警惕“征信修复”骗局！征信记录不能花钱修复，请勿轻信所谓的代理机构。"


def _span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


def ad_analysis(text: str = AD_TEXT, phone: str = "+8613800138000", score: float = 0.92):
    """A promotion of credit repair with a phone, a WeChat id, a business and a USCC."""
    ev = Evidence("term", "credit_repair", "征信修复", "征信修复", *_span(text, "征信修复"))
    contacts = []
    if "13800138000" in text:
        contacts.append(Contact("phone", phone, "13800138000", *_span(text, "13800138000")))
    if "xinc888" in text:
        contacts.append(Contact("wechat", "xinc888", "微信xinc888", *_span(text, "微信xinc888")))
    businesses = ()
    if "鑫诚" in text:
        name = "深圳市鑫诚信息咨询有限公司"
        businesses = (Business(name, "company", name, *_span(text, name), region="深圳市"),)
    usccs = ()
    if VALID_USCC in text:
        usccs = (UsccMention(VALID_USCC, True, VALID_USCC, *_span(text, VALID_USCC)),)
    det = Detection("promotion", ("credit_repair",), score, (ev,), "广告承诺征信修复并留联系方式")
    return Analysis("t", det, tuple(contacts), businesses, usccs, title="征信修复", text=text)


def warning_analysis(text: str = WARNING_TEXT) -> Analysis:
    ev = Evidence("warning_cue", "warning", "警惕", "警惕", *_span(text, "警惕"))
    det = Detection("warning", ("credit_repair",), 0.05, (ev,), "提醒消费者警惕骗局")
    return Analysis("w", det, text=text)


def page(
    url: str = "https://bbs.example.cn/t/1", body: bytes | None = None, **kw
) -> repo.PageRecord:
    body = body if body is not None else f"<html><body>{AD_TEXT}</body></html>".encode()
    kw.setdefault("fetched_at", T0)
    kw.setdefault("source_id", "demo-forum")
    return repo.PageRecord(url=url, body=body, **kw)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


# --- db.py -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "env_url", "home", "expected"),
    [
        ("sqlite:///a.db", "sqlite:///b.db", "/h", "sqlite:///a.db"),
        (None, "sqlite:///b.db", "/h", "sqlite:///b.db"),
        (None, None, "/srv/gw", "sqlite:////srv/gw/greywatch.db"),
    ],
)
def test_database_url_precedence(monkeypatch, explicit, env_url, home, expected):
    for name, value in (("GREYWATCH_DATABASE_URL", env_url), ("GREYWATCH_HOME", home)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert db.database_url(explicit) == expected


def test_migrated_schema_equals_models(db_url):
    engine = db.get_engine(db_url)
    assert db.current_revision(engine) is None
    db.migrate(engine)
    db.migrate(engine)  # idempotent
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
        assert set(Base.metadata.tables) <= set(conn.dialect.get_table_names(conn))


def test_upgrade_from_0001_keeps_business_matches(db_url):
    """A database made by the first release gains the match reason column, rows intact."""
    from sqlalchemy import text

    engine = db.get_engine(db_url)
    db.migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO entities (kind, key, display, first_seen, last_seen, "
                "review_status, review_note) VALUES ('business', '鑫诚', '鑫诚', "
                ":t, :t, 'new', '')"
            ),
            {"t": T0},
        )
        conn.execute(
            text(
                "INSERT INTO business_matches (entity_id, method, confidence, "
                "candidates, verdict, verdict_reason, matched_at) VALUES "
                "(1, 'none', 0, '[]', 'not_registered', '未找到', :t)"
            ),
            {"t": T0},
        )
    db.migrate(engine)
    assert db.current_revision(engine) == db.head_revision()
    with engine.connect() as conn:
        row = conn.execute(text("SELECT method, verdict_reason, reason FROM business_matches"))
        assert row.one() == ("none", "未找到", "")


def test_unmigrated_database_raises_storage_error_with_hint(db_url):
    engine = db.get_engine(db_url)
    with pytest.raises(StorageError) as err:
        db.check_schema(engine, create=False)  # (by default a new database gets its tables)
    assert "no greywatch tables" in str(err.value)
    assert "greywatch db upgrade" in err.value.hint


def test_outdated_schema_is_reported(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    db.dispose_engines()
    with pytest.raises(StorageError, match="revision 0001, this greywatch needs"):
        db.check_schema(db.get_engine(str(engine.url.render_as_string(hide_password=False))))


def test_unreachable_database_is_a_storage_error():
    engine = db.get_engine("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    with pytest.raises(StorageError, match=re.escape("127.0.0.1:1")):
        db.check_schema(engine)


def test_invalid_url_is_a_storage_error():
    with pytest.raises(StorageError, match="invalid database URL"):
        db.get_engine("not a url")


def test_session_scope_commits_or_rolls_back(engine):
    with db.session_scope(engine) as s:
        repo.upsert_source(s, "kept", "保留", {})
    with pytest.raises(RuntimeError), db.session_scope(engine) as s:
        repo.upsert_source(s, "dropped", "丢弃", {})
        raise RuntimeError("boom")
    with db.session_scope(engine) as s:
        assert set(s.scalars(select(Source.id))) == {"kept"}


# --- save_page -------------------------------------------------------------------------------


def test_save_page_stores_compressed_raw_and_hashes(session):
    body = f"<html><body>{AD_TEXT}</body></html>".encode()
    res = repo.save_page(session, page(body=body, etag='"abc"'), ad_analysis(), "lex-1")
    session.commit()
    doc = session.get(Document, res.document_id)
    assert (res.created, res.changed) == (True, True)
    assert zlib.decompress(doc.raw) == body and len(doc.raw) < len(body) + 20
    assert doc.raw_sha256 == hashlib.sha256(body).hexdigest()
    assert doc.text == AD_TEXT and doc.title == "征信修复" and doc.etag == '"abc"'
    assert doc.text_hash == repo.text_hash(AD_TEXT) != hashlib.sha256(AD_TEXT.encode()).hexdigest()


def test_text_hash_ignores_obfuscation():
    assert repo.text_hash("征信修复 VX：ＸＩＮＣ８８８") == repo.text_hash("征信修复 vx:xinc888")
    assert repo.text_hash("徵信修復") == repo.text_hash("征信修复")
    assert repo.text_hash("征信修复") != repo.text_hash("债务减免")


@pytest.mark.parametrize(
    ("second_body", "changed"),
    [(None, False), (b"<html>edited</html>", True)],
)
def test_save_page_is_idempotent_by_url(session, second_body, changed):
    first = repo.save_page(session, page(), ad_analysis(), "lex-1")
    again = repo.save_page(
        session, page(body=second_body, fetched_at=T0 + timedelta(hours=1)), ad_analysis(), "lex-1"
    )
    session.commit()
    assert again == repo.SaveResult(first.document_id, created=False, changed=changed)
    assert [count(session, m) for m in (Document, Finding, Entity, Mention)] == [1, 1, 4, 4]


def test_reanalysis_replaces_finding_and_mentions_but_keeps_review(session):
    res = repo.save_page(session, page(), ad_analysis(), "lex-1")
    finding = session.scalar(select(Finding))
    finding.review_status, finding.review_note = "confirmed", "已核实：电话可打通"
    session.commit()
    repo.save_page(session, page(), warning_analysis(), "lex-2")
    session.commit()
    session.expire_all()
    finding = session.scalar(select(Finding))
    assert (finding.document_id, finding.kind, finding.lexicon_version) == (
        res.document_id,
        "warning",
        "lex-2",
    )
    assert finding.evidence[0]["term"] == "警惕"
    assert (finding.review_status, finding.review_note) == ("confirmed", "已核实：电话可打通")
    assert count(session, Finding) == 1 and count(session, Mention) == 0
    assert session.get(Document, res.document_id).text == WARNING_TEXT


def test_mentions_carry_raw_span_and_note(session):
    text = AD_TEXT + "（微信同号）"
    analysis = ad_analysis(text)
    extra = Contact(
        "wechat", "+8613800138000", "13800138000", *_span(text, "13800138000"), "微信同号"
    )
    bad = UsccMention("91440300MA5DC12340", False, "91440300MA5DC12340", 0, 18, "bad check")
    analysis = Analysis(
        "t",
        analysis.detection,
        (*analysis.contacts, extra),
        analysis.businesses,
        (*analysis.uscc, bad),
        text=text,
    )
    res = repo.save_page(session, page(), analysis, "lex-1")
    session.commit()
    rows = session.execute(
        select(Entity.kind, Entity.key, Mention.raw, Mention.start, Mention.end, Mention.note)
        .join(Mention.entity)
        .where(Mention.document_id == res.document_id)
        .order_by(Mention.start, Entity.kind)
    ).all()
    name = "深圳市鑫诚信息咨询有限公司"
    assert [tuple(r) for r in rows] == [
        ("business", name, name, 0, len(name), "company 深圳市"),
        ("phone", "+8613800138000", "13800138000", *_span(text, "13800138000"), ""),
        ("wechat", "+8613800138000", "13800138000", *_span(text, "13800138000"), "微信同号"),
        ("wechat", "xinc888", "微信xinc888", *_span(text, "微信xinc888"), ""),
        ("uscc", VALID_USCC, VALID_USCC, *_span(text, VALID_USCC), ""),
    ]
    for _kind, _key, raw, start, end, _note in rows:
        assert text[start:end] == raw


@pytest.mark.parametrize("batched", [False, True], ids=["page-by-page", "one-batch"])
@pytest.mark.parametrize(
    ("fetch_offsets_h", "first_h", "last_h"),
    [
        ((0, 5), 0, 5),
        ((5, 0), 0, 5),  # an older page crawled later widens first_seen backwards
        ((3, 9, 1), 1, 9),
    ],
)
def test_entity_first_and_last_seen(session, fetch_offsets_h, first_h, last_h, batched):
    pages = []
    for i, hours in enumerate(fetch_offsets_h):
        # a non-UTC timezone on input: stored and compared as the same instant
        at = (T0 + timedelta(hours=hours)).astimezone(timezone(timedelta(hours=8)))
        pages.append((page(url=f"https://tieba.example.cn/p/{i}", fetched_at=at), ad_analysis()))
    if batched:
        repo.save_pages(session, pages, "lex-1")
    else:
        for record, analysis in pages:
            repo.save_page(session, record, analysis, "lex-1")
    session.commit()
    phone = session.scalars(select(Entity).where(Entity.kind == "phone")).one()
    assert repo.utc(phone.first_seen) == T0 + timedelta(hours=first_h)
    assert repo.utc(phone.last_seen) == T0 + timedelta(hours=last_h)
    assert count(session, Entity) == 4  # phone, wechat, business, uscc: never duplicated
    assert count(session, Mention) == 4 * len(fetch_offsets_h)


def test_save_pages_mixes_new_stored_and_repeated_urls(session):
    """One batch: a stored page changed, a new page saved twice, a page of an unknown source."""
    u1, u2, u3 = (f"https://bbs.example.cn/t/{n}" for n in (1, 2, 3))
    first = repo.save_page(session, page(url=u1), ad_analysis(), "lex-1")
    session.commit()
    batch = [
        (page(url=u1, body=b"<html>edited</html>"), warning_analysis()),
        (page(url=u2, fetched_at=T0 + timedelta(hours=2)), ad_analysis()),
        (page(url=u2, fetched_at=T0 + timedelta(hours=3), body=b"<p>v2</p>"), ad_analysis()),
        (page(url=u3, source_id="new-board"), ad_analysis()),
    ]
    results = repo.save_pages(session, batch, "lex-2")
    session.commit()
    assert [(r.created, r.changed) for r in results] == [
        (False, True),
        (True, True),
        (False, True),  # the second copy of u2 replaces the first, as a later crawl would
        (True, True),
    ]
    assert results[0].document_id == first.document_id
    assert results[1].document_id == results[2].document_id != results[3].document_id
    assert [count(session, m) for m in (Document, Finding, Mention)] == [3, 3, 8]
    u1_doc = session.get(Document, first.document_id)
    assert (u1_doc.finding.kind, u1_doc.finding.lexicon_version) == ("warning", "lex-2")
    assert zlib.decompress(u1_doc.raw) == b"<html>edited</html>" and u1_doc.text == WARNING_TEXT
    u2_doc = session.get(Document, results[1].document_id)
    assert zlib.decompress(u2_doc.raw) == b"<p>v2</p>"
    assert repo.utc(u2_doc.fetched_at) == T0 + timedelta(hours=3)
    assert session.get(Source, "new-board").name == "new-board"
    assert repo.save_pages(session, [], "lex-2") == []


def test_save_pages_recovers_when_another_writer_stored_the_url_first(session, monkeypatch):
    """Between our look-up and our insert another crawl saved the URL: the unique constraint
    fires, and the batch updates that row instead of failing or duplicating it."""
    first = repo.save_page(session, page(url="https://bbs.example.cn/t/9"), ad_analysis(), "v")
    session.commit()
    real, calls = repo._stored, []

    def stale_then_real(s, urls):
        calls.append(urls)
        return {} if len(calls) == 1 else real(s, urls)  # the first look-up missed the row

    monkeypatch.setattr(repo, "_stored", stale_then_real)
    batch = [
        (page(url="https://bbs.example.cn/t/9", body=b"<p>edited</p>"), warning_analysis()),
        (page(url="https://bbs.example.cn/t/10"), ad_analysis()),
    ]
    results = repo.save_pages(session, batch, "v2")
    session.commit()
    assert len(calls) == 2
    assert results[0] == repo.SaveResult(first.document_id, created=False, changed=True)
    assert results[1].created
    assert [count(session, m) for m in (Document, Finding)] == [2, 2]
    assert session.get(Document, first.document_id).finding.kind == "warning"


def test_known_pages_per_source(session):
    repo.save_page(
        session,
        page(url="https://a.example.cn/1", etag='"e1"', last_modified="Mon"),
        ad_analysis(),
        "v",
    )
    repo.save_page(
        session, page(url="https://b.example.cn/1", source_id="other"), ad_analysis(), "v"
    )
    session.commit()
    known = repo.known_pages(session, "demo-forum")
    assert list(known) == ["https://a.example.cn/1"]
    k = known["https://a.example.cn/1"]
    body = f"<html><body>{AD_TEXT}</body></html>".encode()
    assert (k.raw_sha256, k.etag, k.last_modified, k.fetched_at) == (
        hashlib.sha256(body).hexdigest(),
        '"e1"',
        "Mon",
        T0,
    )
    assert repo.known_pages(session, "nope") == {}


# --- runs ------------------------------------------------------------------------------------


def test_run_rows(session):
    run_id = repo.start_run(session, "new-source", trigger="schedule")
    session.commit()
    assert session.get(Source, "new-source").name == "new-source"
    run = session.get(CrawlRun, run_id)
    assert (run.status, run.trigger, run.finished_at) == ("running", "schedule", None)
    stats = {"start_time": datetime(2026, 11, 1, tzinfo=UTC), "item_scraped_count": 3}
    repo.finish_run(session, run_id, "finished", stats, pages=5, items=3, errors=1, message="ok")
    session.commit()
    session.expire_all()
    run = session.get(CrawlRun, run_id)
    assert (run.status, run.pages, run.items, run.errors, run.message) == (
        "finished",
        5,
        3,
        1,
        "ok",
    )
    assert run.stats == {"start_time": "2026-11-01T00:00:00+00:00", "item_scraped_count": 3}
    assert run.finished_at is not None
    assert [r.id for r in repo.list_runs(session, "new-source")] == [run_id]


@pytest.mark.parametrize(
    ("run_id", "status", "error"),
    [(999, "finished", StorageError), (None, "done", ValueError)],
)
def test_finish_run_rejects(session, run_id, status, error):
    real = repo.start_run(session, "s")
    with pytest.raises(error):
        repo.finish_run(session, run_id or real, status, {}, 0, 0, 0)


def test_upsert_source_updates(session):
    repo.upsert_source(session, "tieba", "贴吧", {"start_urls": ["https://tieba.example.cn"]})
    repo.upsert_source(session, "tieba", "百度贴吧", {"depth": 2})
    session.commit()
    src = session.get(Source, "tieba")
    assert (src.name, src.config) == ("百度贴吧", {"depth": 2})


# --- leads -----------------------------------------------------------------------------------


def _leads_world(session: Session) -> None:
    """Four documents: two promotions, a warning, and a low-score promotion on another day."""
    repo.save_page(session, page(url="https://example.cn/f/1"), ad_analysis(), "v")
    debt = "停息挂账、协商还款找我们，一对一服务，电话13912345678"
    det = Detection(
        "promotion",
        ("debt_relief",),
        0.8,
        (Evidence("term", "debt_relief", "停息挂账", "停息挂账", 0, 4),),
        "承诺停息挂账",
    )
    phone = Contact("phone", "+8613912345678", "13912345678", *_span(debt, "13912345678"))
    repo.save_page(
        session,
        page(url="https://example.cn/t/2", source_id="tieba", fetched_at=T0 + timedelta(days=2)),
        Analysis("d", det, (phone,), text=debt),
        "v",
    )
    repo.save_page(session, page(url="https://example.cn/n/3"), warning_analysis(), "v")
    repo.save_page(
        session,
        page(url="https://example.cn/f/4", fetched_at=T0 - timedelta(days=3)),
        # Its own wording: the same text at two URLs is one lead (tests/test_leads_dedupe.py).
        ad_analysis("征信修复，另一家，电话13800138000", score=0.3),
        "v",
    )
    session.flush()
    lead = session.scalar(select(Finding).join(Document).where(Document.url.endswith("/2")))
    lead.review_status = "dismissed"
    session.commit()


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (repo.LeadFilter(), ["f/1", "t/2", "f/4"]),
        (repo.LeadFilter(kinds=()), ["f/1", "t/2", "f/4", "n/3"]),
        (repo.LeadFilter(kinds=("warning",)), ["n/3"]),
        (repo.LeadFilter(min_score=0.5), ["f/1", "t/2"]),
        (repo.LeadFilter(categories=("debt_relief",)), ["t/2"]),
        (repo.LeadFilter(categories=("debt_relief", "credit_repair")), ["f/1", "t/2", "f/4"]),
        (repo.LeadFilter(categories=("credit",)), []),  # whole labels only
        (repo.LeadFilter(sources=("tieba",)), ["t/2"]),
        (repo.LeadFilter(review=("new",)), ["f/1", "f/4"]),
        (repo.LeadFilter(since=T0 - timedelta(days=1)), ["f/1", "t/2"]),
        (repo.LeadFilter(until=T0 + timedelta(days=1)), ["f/1", "f/4"]),
        (repo.LeadFilter(limit=1), ["f/1"]),
    ],
)
def test_query_leads_filters(session, flt, expected):
    _leads_world(session)
    got = [r.url.removeprefix("https://example.cn/") for r in repo.query_leads(session, flt)]
    assert got == expected


def test_query_leads_by_actor(session):
    _leads_world(session)
    actor_entity = session.scalars(select(Entity).where(Entity.key == "+8613912345678")).one()
    from storage.models import Actor

    actor = Actor(label="安信")
    session.add(actor)
    session.flush()
    actor_entity.actor_id = actor.id
    session.commit()
    rows = repo.query_leads(session, repo.LeadFilter(actor_id=actor.id))
    assert [r.url for r in rows] == ["https://example.cn/t/2"] and rows[0].actor_ids == [actor.id]


def test_lead_row_has_everything_to_defend_it(session):
    _leads_world(session)
    row = repo.query_leads(session, repo.LeadFilter(limit=1))[0]
    assert (row.url, row.source_id, row.kind, row.categories, row.score) == (
        "https://example.cn/f/1",
        "demo-forum",
        "promotion",
        ["credit_repair"],
        0.92,
    )
    assert row.contacts == [
        {"kind": "phone", "value": "+8613800138000", "raw": "13800138000"},
        {"kind": "wechat", "value": "xinc888", "raw": "微信xinc888"},
    ]
    assert row.businesses == ["深圳市鑫诚信息咨询有限公司"]
    assert row.evidence[0]["raw"] == "征信修复" and row.reason == "广告承诺征信修复并留联系方式"
    assert "征信修复" in row.excerpt and row.fetched_at == T0 and row.fetched_at.tzinfo
    assert (row.review_status, row.actor_ids, row.template_id) == ("new", [], None)
    assert len(row.raw_sha256) == 64


def test_query_leads_rejects_unknown_review_status(session):
    with pytest.raises(ValueError, match="review status"):
        repo.query_leads(session, repo.LeadFilter(review=("maybe",)))


# --- reanalyze -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("only_stale", "commit_every", "expected"), [(True, None, 1), (False, None, 2), (False, 1, 2)]
)
def test_reanalyze(session, only_stale, commit_every, expected):
    repo.save_page(session, page(url="https://f.example.cn/old"), ad_analysis(), "lex-1")
    repo.save_page(session, page(url="https://f.example.cn/new"), ad_analysis(), "lex-2")
    session.commit()
    seen, calls = [], []

    def analyze(doc: Document) -> Analysis:
        seen.append(doc.url)
        assert repo.html_of(doc) == f"<html><body>{AD_TEXT}</body></html>"
        return warning_analysis()

    n = repo.reanalyze(
        session,
        analyze,
        "lex-2",
        only_stale=only_stale,
        progress=lambda d, t: calls.append((d, t)),
        commit_every=commit_every,
    )
    session.commit()
    assert n == expected == len(seen)
    assert calls == [(i, expected) for i in range(expected + 1)]
    kinds = dict(session.execute(select(Document.url, Finding.kind).join(Finding)).all())
    assert kinds["https://f.example.cn/old"] == "warning"
    assert kinds["https://f.example.cn/new"] == ("warning" if not only_stale else "promotion")
    assert {f.lexicon_version for f in session.scalars(select(Finding))} == {"lex-2"}


def test_open_reader_does_not_block_a_writer(engine):
    with Session(engine) as reader:
        assert reader.scalar(select(func.count()).select_from(Source)) == 0  # transaction open
        with db.session_scope(engine) as writer:
            repo.upsert_source(writer, "tieba", "贴吧", {})
        reader.rollback()
        assert reader.scalar(select(Source.name)) == "贴吧"


def test_listing_does_not_wait_for_a_writer(engine):
    with db.session_scope(engine) as writer:
        repo.upsert_source(writer, "tieba", "贴吧", {})  # holds the write lock until commit
        with db.session_scope(engine, write=False) as reader:
            assert reader.scalar(select(func.count()).select_from(Source)) == 0


def test_migrating_a_create_all_database_says_what_to_do(db_url):
    engine = db.get_engine(db_url)
    Base.metadata.create_all(engine)
    db.check_schema(engine)  # usable as it is
    with pytest.raises(StorageError, match="already exists") as err:
        db.migrate(engine)
    assert "no migration record" in err.value.hint


def test_missing_postgres_database_hints_createdb(pg_session_url):
    from sqlalchemy.engine import make_url

    url = make_url(pg_session_url).set(database="greywatch_no_such_db")
    engine = db.get_engine(url.render_as_string(hide_password=False))
    with pytest.raises(StorageError, match="does not exist") as err:
        db.check_schema(engine)
    assert "createdb" in err.value.hint


@pytest.mark.parametrize("batch", [1, 5], ids=["page-by-page", "batches"])
def test_concurrent_writers_share_entities_without_errors(engine, batch):
    """Parallel crawls save pages naming the same contacts: one entity, no lock errors, no
    deadlock (entities are upserted in one order by every writer)."""
    from concurrent.futures import ThreadPoolExecutor

    def crawl(worker: int) -> None:
        for start in range(0, 5, batch):
            with db.session_scope(engine) as s:
                records = [
                    (page(url=f"https://bbs.example.cn/w{worker}/{i}", source_id=f"s{worker}"),
                     ad_analysis())
                    for i in range(start, start + batch)
                ]  # fmt: skip
                repo.save_pages(s, records, "lex-1")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(crawl, range(4)))  # re-raises any worker's error
    with Session(engine) as s:
        assert count(s, Document) == 20 and count(s, Mention) == 80
        assert count(s, Entity) == 4  # phone, wechat, business, uscc
