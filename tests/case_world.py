"""A small demo world for casework tests: pages saved through storage.repo.save_page,
registrations, business matches and one actor, as the crawler, registry and linking
helpers would leave them. Analyses are written out by hand so spans are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.model import Analysis, Business, Contact, Detection, Evidence, UsccMention
from storage.models import Actor, BusinessMatch, Entity, Registration
from storage.repo import PageRecord, save_page, upsert_source

XINCHENG = "深圳市鑫诚信息咨询有限公司"
XINCHENG_USCC = "91440300MA5FX0L12G"
XINCHENG_SCOPE = "信息咨询服务（不含许可类信息咨询服务）；企业管理咨询；商务信息咨询"
ANXIN = "广州市安信商务服务有限公司"
ANXIN_USCC = "91440101MA59A0C12L"
HENGTONG = "东莞市恒通财税咨询服务部"
ZHENGXIN = "杭州正信法律咨询有限公司"
ZHENGXIN_USCC = "91330106MA2H3K0L4W"


def at(day: int, hour: int = 2) -> datetime:
    """A UTC time in November 2026."""
    return datetime(2026, 11, day, hour, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Page:
    """One demo page: its text, what the analysis found in it, and how it was fetched."""

    url: str
    source: str
    title: str
    text: str
    kind: str
    categories: tuple[str, ...]
    score: float
    terms: tuple[tuple[str, str], ...] = ()  # (category, matched word)
    contacts: tuple[tuple[str, str, str], ...] = ()  # (kind, value, raw)
    businesses: tuple[str, ...] = ()
    uscc: tuple[str, ...] = ()
    fetched: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    encoding: str = "utf-8"


PAGES = (
    Page(
        "http://forum.demo.test/t/101",
        "demo-forum",
        "征信花了？专业征信修复",
        f"{XINCHENG}专业征信修复，消除逾期记录，不成功不收费！\n"
        f"统一社会信用代码{XINCHENG_USCC}。联系电话13800138000，微信xinc888。",
        "promotion",
        ("credit_repair",),
        0.93,
        terms=(("credit_repair", "征信修复"), ("credit_repair", "消除逾期")),
        contacts=(("phone", "+8613800138000", "13800138000"), ("wechat", "xinc888", "xinc888")),
        businesses=(XINCHENG,),
        uscc=(XINCHENG_USCC,),
        fetched=at(3),
    ),
    Page(
        "http://blog.demo.test/p/7",
        "demo-blog",
        '=HYPERLINK("http://evil.test","点我")',
        "征信洗白，内部渠道，有需要的朋友\n打电话 138-0013-8000 详询。",
        "promotion",
        ("credit_repair",),
        0.81,
        terms=(("credit_repair", "征信洗白"),),
        contacts=(("phone", "+8613800138000", "138-0013-8000"),),
        fetched=at(5),
        encoding="gbk",
    ),
    Page(
        "http://forum.demo.test/t/202",
        "demo-forum",
        "信用卡逾期？停息挂账找我们",
        f"{ANXIN}办理停息挂账、协商还款，电话13912345678。",
        "promotion",
        ("debt_relief",),
        0.88,
        terms=(("debt_relief", "停息挂账"), ("debt_relief", "协商还款")),
        contacts=(("phone", "+8613912345678", "13912345678"),),
        businesses=(ANXIN,),
        fetched=at(8),
    ),
    Page(
        "http://forum.demo.test/t/303",
        "demo-forum",
        "代理退保 全额退保",
        f"{HENGTONG}代理退保，全额退保，扣扣123456789。",
        "promotion",
        ("refund_agency",),
        0.9,
        terms=(("refund_agency", "代理退保"), ("refund_agency", "全额退保")),
        contacts=(("qq", "123456789", "123456789"),),
        businesses=(HENGTONG,),
        fetched=at(9),
    ),
    Page(
        "http://news.demo.test/a/1",
        "demo-news",
        "警惕“征信修复”骗局",
        f"市场监管部门提醒：{XINCHENG}等机构宣称征信修复，消费者切勿上当。",
        "warning",
        ("credit_repair",),
        0.1,
        terms=(("credit_repair", "征信修复"),),
        businesses=(XINCHENG,),
        fetched=at(10),
    ),
    Page(
        "http://forum.demo.test/t/404",
        "demo-forum",
        "代理维权 投诉模板",
        f"{ZHENGXIN}提供代理维权服务，投诉模板免费领，微信zhengxin_law。",
        "promotion",
        ("complaint_agency",),
        0.6,
        terms=(("complaint_agency", "代理维权"), ("complaint_agency", "投诉模板")),
        contacts=(("wechat", "zhengxin_law", "zhengxin_law"),),
        businesses=(ZHENGXIN,),
        fetched=at(12),
    ),
)


def html_of(page: Page) -> bytes:
    """The raw page as a server would send it (GBK pages stay GBK)."""
    body = (
        f'<html><head><meta charset="{page.encoding}"><title>{page.title}</title></head>'
        f"<body><article><h1>{page.title}</h1><p>{page.text}</p></article></body></html>"
    )
    return body.encode(page.encoding)


def reason_of(page: Page) -> str:
    """A two-line reason, as detectors write them (the line break must survive exports)."""
    return f"命中词：{'、'.join(raw for _, raw in page.terms)}\n判定：{page.kind}"


def analysis_of(page: Page) -> Analysis:
    """The analysis a detector would return for `page`, spans found in its text."""
    text = page.text

    def span(raw: str) -> tuple[int, int]:
        start = text.index(raw)
        return start, start + len(raw)

    evidence = tuple(Evidence("term", cat, raw, raw, *span(raw)) for cat, raw in page.terms)
    return Analysis(
        id=page.url,
        detection=Detection(page.kind, page.categories, page.score, evidence, reason_of(page)),
        contacts=tuple(Contact(k, v, raw, *span(raw)) for k, v, raw in page.contacts),
        businesses=tuple(Business(n, "company", n, *span(n)) for n in page.businesses),
        uscc=tuple(UsccMention(c, True, c, *span(c)) for c in page.uscc),
        title=page.title,
        text=text,
    )


@dataclass(frozen=True)
class World:
    """Ids the tests refer to."""

    doc_ids: dict[str, int]  # url → document id
    entity_ids: dict[str, int]  # business name → entity id
    actor_id: int


def build_world(session: Session) -> World:
    """Save the demo pages, registrations, matches and the shared-phone actor; commit."""
    for sid in sorted({p.source for p in PAGES}):
        upsert_source(session, sid, sid, {})
    doc_ids = {}
    for page in PAGES:
        record = PageRecord(
            url=page.url,
            body=html_of(page),
            fetched_at=page.fetched,
            source_id=page.source,
            title=page.title,
            text=page.text,
            encoding=page.encoding,
        )
        doc_ids[page.url] = save_page(session, record, analysis_of(page), "test-1").document_id
    regs = {
        XINCHENG: Registration(
            uscc=XINCHENG_USCC,
            name=XINCHENG,
            name_norm=XINCHENG,
            legal_rep="张三",
            status="存续",
            address="深圳市福田区福华路1号",
            scope=XINCHENG_SCOPE,
            source_file="/data/registry-2026-11.csv",
            source_row=2,
        ),
        ANXIN: Registration(
            uscc=ANXIN_USCC,
            name=ANXIN,
            name_norm=ANXIN,
            legal_rep="李四",
            status="注销",
            address="广州市天河区体育西路2号",
            scope="商务信息咨询",
            source_file="/data/registry-2026-11.csv",
            source_row=3,
        ),
        ZHENGXIN: Registration(
            uscc=ZHENGXIN_USCC,
            name=ZHENGXIN,
            name_norm=ZHENGXIN,
            legal_rep="王五",
            status="存续",
            address="杭州市西湖区文三路3号",
            scope="法律咨询（不含律师事务所业务）",
            source_file="/data/registry-2026-11.csv",
            source_row=4,
        ),
    }
    session.add_all(regs.values())
    session.flush()
    entity_ids = {
        e.key: e.id for e in session.scalars(select(Entity).where(Entity.kind == "business")).all()
    }
    verdicts = {
        XINCHENG: ("out_of_scope", "征信修复不在登记经营范围内，且属于禁止登记事项"),
        ANXIN: ("inactive", "登记状态为注销"),
        HENGTONG: ("not_registered", "未找到该名称的登记信息"),
        ZHENGXIN: ("in_scope", "法律咨询覆盖代理维权"),
    }
    for name, (verdict, reason) in verdicts.items():
        reg = regs.get(name)
        session.add(
            BusinessMatch(
                entity_id=entity_ids[name],
                registration_id=reg.id if reg else None,
                method="exact_name" if reg else "none",
                confidence=1.0 if reg else 0.0,
                reason=f"与登记名称完全一致：{name}"
                if reg
                else f"没有字号与“{name}”相同或相近的登记",
                verdict=verdict,
                verdict_reason=reason,
            )
        )
    actor = Actor(label="13800138000", size=2)
    session.add(actor)
    session.flush()
    for e in session.scalars(
        select(Entity).where(Entity.key.in_(["+8613800138000", "xinc888"]))
    ).all():
        e.actor_id = actor.id
    session.commit()
    return World(doc_ids, entity_ids, actor.id)
