"""storage.linking and the link CLI on real databases (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import pytest
import typer
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch import cmd_link
from greywatch.errors import InputError
from pipelines.model import Analysis, Business, Contact, Detection, Evidence
from storage import linking, repo
from storage.models import Actor, Entity, Finding, Template

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
LEX = "test-lexicon"

XINCHENG = "深圳市鑫诚信息咨询有限公司"
HENGTONG = "东莞市恒通财税咨询服务部"
COMPLAINT = (
    "尊敬的领导您好，我是{name}，联系电话{phone}。本人于2021年在贵公司购买了一份保险，"
    "当时业务员承诺随时可以全额退保，并隐瞒了保单的现金价值和扣费规则。现在家庭经济困难，"
    "无力继续缴费，多次联系客服均被推诿。根据《保险法》及相关规定，贵公司存在销售误导，"
    "现要求全额退还已缴纳的保费，如不处理，我将向12378和12315进行投诉。"
)

# (url, source, author, day, category, text, contacts as (kind, value, raw), businesses, kind)
POSTS = {
    "credit-tieba": (
        "https://tieba.example.cn/p/1001",
        "tieba",
        "征信小王",
        0,
        "credit_repair",
        f"{XINCHENG}专业征信修复，逾期记录快速消除。电话13800138000，微信xinc888。",
        [("phone", "+8613800138000", "13800138000"), ("wechat", "xinc888", "xinc888")],
        [XINCHENG],
        "promotion",
    ),
    "credit-weibo": (
        "https://weibo.example.cn/s/2002",
        "weibo",
        "信用管家",
        3,
        "credit_repair",
        "征信花了？不良记录能洗白，当天见效，打1380-0138-000咨询。",
        [("phone", "+8613800138000", "1380-0138-000")],
        [],
        "promotion",
    ),
    "refund-qq": (
        "https://bbs.example.cn/t/3003",
        "bbs",
        "",
        5,
        "proxy_refund",
        f"{HENGTONG}代理退保，全额退保，扣扣123456789。",
        [("qq", "123456789", "123456789")],
        [HENGTONG],
        "promotion",
    ),
    "warning-news": (
        "https://news.example.cn/a/4004",
        "news",
        "记者",
        6,
        "credit_repair",
        "警惕征信修复骗局：有人在网上留下13800138000和扣扣123456789招揽生意。",
        [("phone", "+8613800138000", "13800138000"), ("qq", "123456789", "123456789")],
        [],
        "warning",
    ),
}
TEMPLATE_POSTS = {
    f"complaint-{i}": (
        f"https://forum{i}.example.cn/t/{5000 + i}",
        f"forum{i % 2}",
        author,
        i,
        "proxy_refund",
        COMPLAINT.format(name=name, phone=phone),
        [("phone", e164, phone)],
        [],
        "promotion",
    )
    for i, (author, name, phone, e164) in enumerate(
        [
            ("退保小助手", "郭某", "13700001111", "+8613700001111"),
            ("维权达人", "潘某", "13700002222", "+8613700002222"),
            ("", "杨某", "13700003333", "+8613700003333"),
            ("退保专家", "于某", "13700004444", "+8613700004444"),
        ]
    )
}


def _analysis(key: str, post: tuple) -> Analysis:
    _, _, _, _, category, text, contacts, businesses, kind = post
    term = next(t for t in ("征信修复", "退保", "征信") if t in text)
    start = text.index(term)
    ev = Evidence("term", category, term, term, start, start + len(term))
    det = Detection(kind, (category,), 0.9 if kind == "promotion" else 0.1, (ev,), "test")
    cs = tuple(
        Contact(k, v, raw, text.index(raw), text.index(raw) + len(raw)) for k, v, raw in contacts
    )
    bs = tuple(Business(b, "company", b, text.index(b), text.index(b) + len(b)) for b in businesses)
    return Analysis(key, det, cs, bs, text=text, title=text[:20])


def save(session: Session, key: str, post: tuple) -> int:
    url, source, author, day, *_ = post
    page = repo.PageRecord(
        url=url,
        body=f"<html><body>{post[5]}</body></html>".encode(),
        fetched_at=T0 + timedelta(days=day),
        source_id=source,
        author=author,
        title=post[5][:20],
        text=post[5],
    )
    doc_id = repo.save_page(session, page, _analysis(key, post), LEX).document_id
    session.commit()
    return doc_id


def save_all(session: Session, posts: dict[str, tuple]) -> dict[str, int]:
    return {key: save(session, key, post) for key, post in posts.items()}


def actor_of(session: Session, kind: str, key: str) -> int | None:
    return session.scalar(select(Entity.actor_id).where(Entity.kind == kind, Entity.key == key))


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- actors ----------------------------------------------------------------------------------


def test_shared_phone_across_sources_is_one_actor(session: Session) -> None:
    ids = save_all(session, POSTS)
    stats = linking.link_actors(session)
    session.commit()
    assert (stats.documents, stats.clusters, stats.linked, stats.biggest) == (3, 2, 1, 2)
    phone_actor = actor_of(session, "phone", "+8613800138000")
    assert phone_actor is not None
    assert actor_of(session, "wechat", "xinc888") == phone_actor
    assert actor_of(session, "business", XINCHENG) == phone_actor
    assert actor_of(session, "qq", "123456789") not in (None, phone_actor)
    actor = session.get(Actor, phone_actor)
    assert actor.size == 2
    assert actor.label == XINCHENG or actor.label == "phone +8613800138000"
    assert actor.first_seen.replace(tzinfo=UTC) == T0
    assert actor.last_seen.replace(tzinfo=UTC) == T0 + timedelta(days=3)

    detail = linking.actor_detail(session, phone_actor)
    assert [d.document_id for d in detail.documents] == [ids["credit-tieba"], ids["credit-weibo"]]
    assert detail.why == [
        ("phone", "+8613800138000", sorted([ids["credit-tieba"], ids["credit-weibo"]]))
    ]
    assert ("wechat", "xinc888") in detail.contacts
    assert detail.businesses == [XINCHENG]
    assert [a.id for a in linking.list_actors(session)] == [phone_actor]
    assert len(linking.list_actors(session, min_size=1)) == 2


def test_relinking_is_idempotent_and_a_merge_keeps_the_smallest_id(session: Session) -> None:
    save_all(session, POSTS)
    linking.link_actors(session)
    session.commit()
    first = {
        k: actor_of(session, k, v) for k, v in [("phone", "+8613800138000"), ("qq", "123456789")]
    }
    again = linking.link_actors(session)
    session.commit()
    assert (again.created, again.removed) == (0, 0)
    assert count(session, Actor) == 2
    assert actor_of(session, "phone", "+8613800138000") == first["phone"]
    assert actor_of(session, "qq", "123456789") == first["qq"]

    # a new post gives both the WeChat id and the QQ number: the two actors are one
    bridge = (
        "https://douyin.example.cn/v/6006", "douyin", "", 9, "credit_repair",
        "征信修复加微信xinc888或扣扣123456789。",
        [("wechat", "xinc888", "xinc888"), ("qq", "123456789", "123456789")],
        [], "promotion",
    )  # fmt: skip
    save(session, "bridge", bridge)
    merged = linking.link_actors(session)
    session.commit()
    assert (merged.created, merged.removed, merged.biggest) == (0, 1, 4)
    keep = min(first.values())
    assert actor_of(session, "phone", "+8613800138000") == keep
    assert actor_of(session, "qq", "123456789") == keep
    assert actor_of(session, "business", HENGTONG) == keep
    assert [a.id for a in session.scalars(select(Actor))] == [keep]
    why = {(k, v): docs for k, v, docs in linking.actor_detail(session, keep).why}
    assert set(why) == {("phone", "+8613800138000"), ("wechat", "xinc888"), ("qq", "123456789")}


def test_warning_pages_do_not_make_actors(session: Session) -> None:
    save(session, "warning-news", POSTS["warning-news"])
    stats = linking.link_actors(session)
    session.commit()
    assert (stats.documents, stats.clusters) == (0, 0)
    assert actor_of(session, "phone", "+8613800138000") is None


def test_unknown_actor_is_an_input_error(session: Session) -> None:
    with pytest.raises(InputError, match="actor 999 does not exist"):
        linking.actor_detail(session, 999)


# --- templates -------------------------------------------------------------------------------


def _template_of(session: Session, doc_ids: list[int]) -> set[int | None]:
    rows = session.scalars(select(Finding.template_id).where(Finding.document_id.in_(doc_ids)))
    return set(rows)


def test_copies_of_a_complaint_template_are_one_template(session: Session) -> None:
    ids = save_all(session, POSTS)
    copies = {k: v for k, v in TEMPLATE_POSTS.items() if k != "complaint-3"}
    tids = save_all(session, copies)
    stats = linking.link_templates(session)
    session.commit()
    assert (stats.clusters, stats.created, stats.biggest) == (1, 1, 3)
    (template_id,) = _template_of(session, list(tids.values()))
    assert template_id is not None
    assert _template_of(session, list(ids.values())) == {None}
    t = session.get(Template, template_id)
    # three accounts: two authors, and one anonymous post known by its phone
    assert (t.size, t.sources, t.accounts, t.days) == (3, 2, 3, 3)
    assert t.excerpt.startswith("尊敬的领导您好，我是郭某")
    assert len(t.signature) == 64

    detail = linking.template_detail(session, template_id)
    assert detail.representative_id == tids["complaint-0"]
    assert [d.document_id for d in detail.documents] == sorted(tids.values())
    assert all(d.similarity is not None and d.similarity >= 0.6 for d in detail.documents)
    assert [r.id for r in linking.list_templates(session)] == [template_id]

    # re-running changes nothing; a fourth copy joins the same template, same signature
    again = linking.link_templates(session)
    session.commit()
    assert (again.created, again.removed) == (0, 0)
    signature = t.signature
    fourth = save(session, "complaint-3", TEMPLATE_POSTS["complaint-3"])
    linking.link_templates(session)
    session.commit()
    session.expire_all()
    assert _template_of(session, [fourth]) == {template_id}
    t = session.get(Template, template_id)
    assert (t.size, t.accounts, t.signature) == (4, 4, signature)
    assert count(session, Template) == 1


def test_unknown_template_is_an_input_error(session: Session) -> None:
    with pytest.raises(InputError, match="template 7 does not exist"):
        linking.template_detail(session, 7)


# --- CLI -------------------------------------------------------------------------------------


def _app() -> typer.Typer:
    app = typer.Typer()
    cmd_link.register(app)
    return app


@pytest.fixture
def linked_db(engine: Engine) -> str:
    with Session(engine) as session:
        save_all(session, POSTS)
        save_all(session, TEMPLATE_POSTS)
    return str(engine.url.render_as_string(hide_password=False))


def test_cli_link_then_list_and_show(linked_db: str) -> None:
    runner = CliRunner()
    app = _app()
    result = runner.invoke(app, ["link", "--db", linked_db])
    assert result.exit_code == 0, result.output
    assert "actors: 6 (1 with 2+ documents" in result.output
    assert "templates: 1 (biggest 4 documents)" in result.output

    result = runner.invoke(app, ["actors", "--json"], env={"GREYWATCH_DATABASE_URL": linked_db})
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["size"] == 2

    result = runner.invoke(app, ["actor", str(row["id"]), "--db", linked_db])
    assert result.exit_code == 0, result.output
    assert "+8613800138000 is on documents" in result.output
    assert "tieba.example.cn" in result.output

    result = runner.invoke(app, ["templates", "--db", linked_db, "--json"])
    (tpl,) = json.loads(result.output)
    assert (tpl["size"], tpl["accounts"]) == (4, 4)
    result = runner.invoke(app, ["template", str(tpl["id"]), "--db", linked_db])
    assert result.exit_code == 0, result.output
    assert "representative" in result.output
    assert "4 documents by 4 accounts on 2 sources" in result.output


@pytest.mark.parametrize("args", [["link"], ["actors"], ["actor"], ["templates"], ["template"]])
def test_cli_commands_have_help(args: list[str]) -> None:
    result = CliRunner().invoke(_app(), [*args, "--help"])
    assert result.exit_code == 0
    assert "--db" in result.output


@pytest.mark.parametrize("verb", ["actor", "template"])
def test_cli_unknown_id_is_one_line_and_exit_2(
    verb: str,
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from greywatch.cli import main

    url = sqlite_engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("GREYWATCH_DATABASE_URL", url)
    monkeypatch.setattr(sys, "argv", ["greywatch", verb, "424242"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {verb} 424242 does not exist\nhint: list them with")
    assert "Traceback" not in err
