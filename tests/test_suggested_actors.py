"""Suggested actors: accounts posting one template's wording from one IP location within a
time window (pipelines.poster, pipelines.link.suggest_actors, storage.linking, the CLI)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch import cmd_link
from pipelines.analyze import analyze_text
from pipelines.link import Post, suggest_actors
from pipelines.poster import Poster, extract_poster
from storage import linking, repo

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "poster"),
    [
        ("退保小助手 IP属地：广东 2026-11-01 回复", Poster("", "广东")),
        ("作者：维权达人 | IP属地:四川", Poster("维权达人", "四川")),
        ("发布于 广东省 · 3小时前", Poster("", "广东")),
        ("ip归属地：美国", Poster("", "美国")),
        ("发布于 2026-11-01 08:00", Poster("", "")),  # a date, not a place
        ("我来自广东，想退保", Poster("", "")),  # what a post says is not its IP location
        ("", Poster("", "")),
    ],
)
def test_extract_poster(text: str, poster: Poster) -> None:
    assert extract_poster(text) == poster


def test_analysis_carries_account_and_ip_location() -> None:
    analysis = analyze_text("作者：维权达人 IP属地：广东\n保险公司销售误导，要求全额退保。")
    assert analysis.extra == {"account": "维权达人", "ip_location": "广东"}
    assert analyze_text("要求全额退保").extra == {}


def post(doc: int, account: str, location: str, hours: float, template: int = 1) -> Post:
    return Post(doc, account, location, T0 + hours * H, template)


SUGGEST_CASES = [
    pytest.param(
        [post(1, "客户甲", "广东", 0), post(2, "客户乙", "广东", 5), post(3, "客户丙", "广东", 20),
         post(4, "客户丁", "四川", 6)],
        [("客户丙", "客户乙", "客户甲")],
        id="three-customers-one-place-one-day; another-province-apart",
    ),
    pytest.param(
        [post(1, "客户甲", "广东", 0), post(2, "客户乙", "广东", 100)],
        [],
        id="outside-the-window",
    ),
    pytest.param(
        [post(1, "客户甲", "广东", 0), post(2, "客户乙", "广东", 60),
         post(3, "客户丙", "广东", 120)],
        [("客户丙", "客户乙", "客户甲")],
        id="a-chain-within-the-window",
    ),
    pytest.param(
        [post(1, "客户甲", "广东", 0), post(2, "客户甲", "广东", 2)],
        [],
        id="one-account-reposting-is-no-suggestion",
    ),
    pytest.param(
        [post(1, "客户甲", "广东", 0, 1), post(2, "客户乙", "广东", 1, 2)],
        [],
        id="different-templates",
    ),
    pytest.param(
        [post(1, "客户甲", "", 0), post(2, "客户乙", "", 1)],
        [],
        id="unknown-location",
    ),
    pytest.param(
        [post(1, "客户甲", "广东", 0, 1), post(2, "客户乙", "广东", 1, 1),
         post(3, "客户乙", "浙江", 200, 2), post(4, "客户丙", "浙江", 201, 2)],
        [("客户丙", "客户乙", "客户甲")],
        id="accounts-linked-by-two-templates",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("posts", "expected"), SUGGEST_CASES)
def test_suggest_actors(posts: list[Post], expected: list[tuple[str, ...]]) -> None:
    found = suggest_actors(posts)
    assert [tuple(sorted(s.accounts)) for s in found] == expected
    for s in found:
        for ev in s.evidence:
            assert len({p.account for p in ev.posts}) > 1
            assert all(p.location == ev.location for p in ev.posts)


COMPLAINT = (
    "尊敬的领导您好，我是{name}，联系电话{phone}。本人于2021年在贵公司购买了一份保险，"
    "当时业务员承诺随时可以全额退保，并隐瞒了保单的现金价值和扣费规则。现在家庭经济困难，"
    "无力继续缴费，多次联系客服均被推诿。根据《保险法》及相关规定，贵公司存在销售误导，"
    "现要求全额退还已缴纳的保费，如不处理，我将向12378和12315进行投诉。"
)
# (source, account, IP location, hours after T0, name, phone, where the page shows the place)
CUSTOMERS = [
    ("weibo", "客户甲", "广东", 0, "郭某", "13700001111", "html"),
    ("weibo", "客户乙", "广东", 6, "潘某", "13700002222", "html"),
    ("tieba", "客户丙", "广东", 20, "杨某", "13700003333", "selector"),
    ("weibo", "客户丁", "四川", 8, "于某", "13700004444", "html"),
]


def _save_customers(engine: Engine) -> dict[str, int]:
    ids = {}
    with Session(engine) as session:
        repo.upsert_source(session, "weibo", "微博", {})
        repo.upsert_source(
            session, "tieba", "贴吧", {"fields": {"ip_location": ".ip", "account": ".who"}}
        )
        for i, (source, account, place, hours, name, phone, shown) in enumerate(CUSTOMERS):
            text = COMPLAINT.format(name=name, phone=phone)
            if shown == "selector":  # only the source's selectors find the poster
                head = f"<span class='who'>{account}</span><span class='ip'>{place}</span>"
                author = ""
            else:
                head = f"<div class='meta'>{account} · IP属地：{place}</div>"
                author = account
            page = repo.PageRecord(
                url=f"https://{source}.example.cn/p/{i}",
                body=f"<html><body>{head}<p>{text}</p></body></html>".encode(),
                fetched_at=T0 + hours * H,
                source_id=source,
                author=author,
                text=text,
            )
            ids[account] = repo.save_page(session, page, analyze_text(text), "lex").document_id
        linking.link_actors(session)
        linking.link_templates(session)
        session.commit()
    return ids


def test_three_customers_from_one_place_are_one_suggested_actor(sqlite_engine: Engine) -> None:
    ids = _save_customers(sqlite_engine)
    with Session(sqlite_engine) as session:
        (found,) = linking.suggested_actors(session)
        assert linking.list_actors(session) == []  # no shared contact: nothing proven
        assert linking.suggested_actors(session, window_hours=4) == []
    assert sorted(found.accounts) == ["客户丙", "客户乙", "客户甲"]
    assert found.locations == ["广东"]
    (evidence,) = found.evidence
    assert evidence.template_id == found.template_ids[0]
    assert evidence.template_excerpt.startswith("尊敬的领导您好")
    assert [p.document_id for p in evidence.posts] == [ids["客户甲"], ids["客户乙"], ids["客户丙"]]
    assert [p.when for p in evidence.posts] == [T0, T0 + 6 * H, T0 + 20 * H]
    assert (found.first_seen, found.last_seen) == (T0, T0 + 20 * H)
    assert found.proven_actor_ids == []  # single-document actors are not shown as proven


def _app() -> typer.Typer:
    app = typer.Typer()
    cmd_link.register(app)
    return app


def test_cli_lists_suggested_actors_apart(sqlite_engine: Engine) -> None:
    _save_customers(sqlite_engine)
    url = sqlite_engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    result = runner.invoke(_app(), ["actors", "--suggested", "--db", url])
    assert result.exit_code == 0, result.output
    assert "suggested actor S1: 3 accounts" in result.output
    assert "IP属地 广东" in result.output and "四川" not in result.output
    assert "北京时间" in result.output
    assert "1 suggested actors" in result.output
    result = runner.invoke(_app(), ["actors", "--suggested", "--json", "--db", url])
    (row,) = json.loads(result.output)
    assert len(row["evidence"][0]["posts"]) == 3
    result = runner.invoke(_app(), ["actors", "--db", url])  # proven actors: none here
    assert result.exit_code == 0 and "0 actors with 2+ documents" in result.output
    result = runner.invoke(_app(), ["link", "--db", url])
    assert "suggested actors: 1" in result.output


def test_cli_window_below_one_hour_is_refused(sqlite_engine: Engine) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(_app(), ["actors", "--suggested", "--window", "0", "--db", url])
    assert result.exit_code == 2
