"""Actor and template clustering (pipelines.link): table-driven, realistic posts."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipelines.link import (
    MIN_TEMPLATE_CHARS,
    NAME_MASK,
    TEMPLATE_THRESHOLD,
    ActorLinker,
    DocContacts,
    TemplateIndex,
    cluster_actors,
    cluster_templates,
    similarity,
    template_text,
)
from pipelines.normalize import compact, normalize

SEED = (
    Path(__file__).resolve().parent
    / "pages"
    / (
        "www.example-rebao.tw__caijing__20231014-5127.txt"  # a seed warning article
    )
)
SEED_TEXT = SEED.read_text(encoding="utf-8")  # a missing fixture fails collection

PHONE_A = ("phone", "+8613800138000")
PHONE_B = ("phone", "+8613912345678")
WX_A = ("wechat", "xinc888")
QQ_C = ("qq", "123456789")
HOTLINE = ("phone", "+864008895511")  # a platform's customer-service number


def doc(doc_id: int, *contacts: tuple[str, str], businesses: tuple[str, ...] = ()) -> DocContacts:
    return DocContacts(doc_id, frozenset(contacts), frozenset(businesses))


ACTOR_CASES = [
    pytest.param(
        [doc(1, PHONE_A), doc(2, PHONE_A), doc(3, PHONE_B)],
        10,
        [(1, 2), (3,)],
        id="shared-phone-one-actor",
    ),
    pytest.param(
        [doc(1, PHONE_A), doc(2, PHONE_A, WX_A), doc(3, WX_A, QQ_C), doc(4, QQ_C)],
        10,
        [(1, 2, 3, 4)],
        id="chain-a-b-c",
    ),
    pytest.param(
        [doc(1, PHONE_A, HOTLINE), doc(2, PHONE_B, HOTLINE), doc(3, QQ_C, HOTLINE)],
        2,
        [(1,), (2,), (3,)],
        id="hub-past-the-cap-joins-nothing",
    ),
    pytest.param(
        [doc(1, PHONE_A, HOTLINE), doc(2, PHONE_B, HOTLINE)],
        2,
        [(1, 2)],
        id="at-the-cap-still-joins",
    ),
    pytest.param(
        [doc(1, ("url", "weibo.com")), doc(2, ("url", "weibo.com"))],
        10,
        [(1,), (2,)],
        id="platform-urls-do-not-join",
    ),
    pytest.param(
        [
            doc(1, PHONE_A, businesses=("深圳市鑫诚信息咨询有限公司",)),
            doc(2, PHONE_B, businesses=("深圳市鑫诚信息咨询有限公司",)),
        ],
        10,
        [(1,), (2,)],
        id="a-business-name-alone-does-not-join",
    ),
]


@pytest.mark.parametrize(("docs", "cap", "expected"), ACTOR_CASES)
def test_cluster_actors(docs: list[DocContacts], cap: int, expected: list[tuple[int, ...]]) -> None:
    clusters = cluster_actors(docs, max_docs_per_contact=cap)
    assert sorted(c.doc_ids for c in clusters) == sorted(expected)


def test_actor_cluster_says_why() -> None:
    docs = [
        doc(1, PHONE_A, businesses=("深圳市鑫诚信息咨询有限公司",)),
        doc(2, PHONE_A, WX_A),
        doc(3, WX_A),
    ]
    (cluster,) = cluster_actors(docs)
    assert cluster.contacts == (PHONE_A, WX_A)
    assert cluster.businesses == ("深圳市鑫诚信息咨询有限公司",)
    assert cluster.why == ((PHONE_A, (1, 2)), (WX_A, (2, 3)))


def test_cap_excludes_the_hub_from_the_cluster_contacts() -> None:
    docs = [doc(1, PHONE_A, HOTLINE), doc(2, PHONE_A, HOTLINE), doc(3, HOTLINE)]
    clusters = cluster_actors(docs, max_docs_per_contact=2)
    assert [c.doc_ids for c in clusters] == [(1, 2), (3,)]
    assert clusters[0].contacts == (PHONE_A,)


def test_linker_reports_merges_and_agrees_with_batch() -> None:
    linker = ActorLinker(max_docs_per_contact=10)
    assert linker.add(doc(5, PHONE_A)) == []
    assert linker.add(doc(7, QQ_C)) == []
    merges = linker.add(doc(6, PHONE_A, QQ_C))
    assert [(m.via, m.kept, m.absorbed) for m in merges] == [(PHONE_A, 5, 6), (QQ_C, 5, 7)]
    assert linker.find(7) == 5
    docs = [doc(5, PHONE_A), doc(7, QQ_C), doc(6, PHONE_A, QQ_C)]
    assert linker.clusters() == cluster_actors(docs, max_docs_per_contact=10)


def test_linker_splits_when_a_contact_becomes_a_hub() -> None:
    linker = ActorLinker(max_docs_per_contact=2)
    linker.add(doc(1, PHONE_A, HOTLINE))
    linker.add(doc(2, PHONE_B, HOTLINE))
    assert linker.find(2) == 1
    linker.add(doc(3, QQ_C, HOTLINE))  # third document: the hotline is a hub now
    assert HOTLINE in linker.hubs
    assert {linker.find(d) for d in (1, 2, 3)} == {1, 2, 3}


def test_linker_state_round_trips() -> None:
    linker = ActorLinker(max_docs_per_contact=3)
    for d in [doc(1, PHONE_A), doc(2, PHONE_A, WX_A), doc(3, QQ_C, businesses=("恒通财税",))]:
        linker.add(d)
    again = ActorLinker.from_json(linker.to_json())
    assert again.clusters() == linker.clusters()
    assert again.max_docs_per_contact == 3


# ---------------------------------------------------------------------------------- templates

COMPLAINT = (
    "尊敬的领导您好，我是{name}，身份证号码{idno}，联系电话{phone}。本人于2021年在贵公司购买了"
    "一份保险，当时业务员承诺随时可以全额退保，并隐瞒了保单的现金价值和扣费规则。现在家庭经济"
    "困难，无力继续缴费，多次联系客服均被推诿。根据《保险法》及相关规定，贵公司存在销售误导，"
    "现要求全额退还已缴纳的保费共计{amount}元，如不处理，我将向银保监会12378和12315进行投诉。"
)
AD = (
    "专业征信修复，逾期记录快速消除，黑户白户都能做，网贷信用卡逾期协商还款停息挂账，"
    "不成功不收费，已帮助上千位客户重获良好信用，正规公司办理，加微信{wx}详聊，电话{phone}"
)
DEBT_AD = (
    "信用卡还不上怎么办？专业团队为您提供个性化分期、停息挂账、减免罚息服务，"
    "银行内部渠道，三天出结果，前期零费用，成功后再收费，咨询热线{phone}，{name}为您服务"
)

COPIES = [
    COMPLAINT.format(name="郭某", idno="440301199001011234", phone="13800138000", amount="23000"),
    COMPLAINT.format(name="潘某", idno="440301198805054321", phone="13912345678", amount="18500"),
    COMPLAINT.format(name="杨某", idno="440301199212127890", phone="137 0000 1111", amount="9600"),
]


TEMPLATE_CASES = [
    pytest.param(COPIES, [(0, 1, 2)], id="same-template-different-names-phones"),
    pytest.param(
        [
            AD.format(wx="xinc888", phone="13800138000"),
            AD.format(wx="ZX-2023_abc", phone="１３９ １２３４ ５６７８"),
            "征信" + AD.format(wx="vx8888", phone="13700001111").replace("，", " ✨ "),
        ],
        [(0, 1, 2)],
        id="same-ad-obfuscated-differently",
    ),
    pytest.param(
        [
            COPIES[0],
            AD.format(wx="xinc888", phone="13800138000"),
            DEBT_AD.format(phone="13912345678", name="王经理"),
        ],
        [],
        id="different-texts-separate",
    ),
    pytest.param(
        ["加微信xinc888详聊", "加微信zhengxin_law详聊", "加微信abc12345详聊"],
        [],
        id="short-texts-not-templated",
    ),
    pytest.param(
        [SEED_TEXT, AD.format(wx="xinc888", phone="13800138000"), COPIES[0]],
        [],
        id="seed-article-vs-ads",
    ),
]


@pytest.mark.parametrize(("texts", "expected"), TEMPLATE_CASES)
def test_cluster_templates(texts: list[str], expected: list[tuple[int, ...]]) -> None:
    clusters = cluster_templates(enumerate(texts))
    assert [c.doc_ids for c in clusters] == expected
    for c in clusters:
        assert c.representative_id == c.doc_ids[0]
        assert TEMPLATE_THRESHOLD <= c.similarity_min <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        COPIES[0],
        AD.format(wx="ZX-2023_abc", phone="１３９ １２３４ ５６７８"),
        "徵信修復，逾期記錄消除，聯繫我們：微信 ＡＢＣ_１２３ ⑬⑧ 1️⃣ 征✨信-修复 \u200b隱形字符" * 2,
        SEED_TEXT,
    ],
)
def test_template_text_is_the_compact_normalized_text_masked(text: str) -> None:
    expected = compact(normalize(text)).text
    masked = template_text(text)
    assert masked is not None
    assert len(masked) <= len(expected)
    assert not any(ch.isdigit() and ch not in "0" + NAME_MASK for ch in masked)

    # the normalized text's letters, in order, apart from punctuation and what was masked
    def letters(s: str) -> str:
        return "".join(ch for ch in s if not (ch.isascii() and ch.isalnum()) and ch.isalpha())

    rest = iter(letters(expected))
    assert all(ch in rest for ch in letters(masked).replace(NAME_MASK, ""))


@pytest.mark.parametrize(
    ("text", "templated"),
    [
        ("加微信详聊" * 7, False),  # 35 characters
        ("加微信详聊" * 8, True),
        ("联系电话 138 0013 8000 " * 3, False),  # digits collapse to one mask each
    ],
)
def test_short_texts_are_not_templated(text: str, templated: bool) -> None:
    assert (template_text(text) is not None) == templated
    assert MIN_TEMPLATE_CHARS == 40


def test_similarity_orders_copies_above_different_ads() -> None:
    assert similarity(COPIES[0], COPIES[1]) >= 0.6
    assert similarity(COPIES[0], AD.format(wx="a", phone="1")) < 0.2
    assert similarity("短", COPIES[0]) == 0.0


def test_template_index_matches_batch_and_names_representative() -> None:
    texts = [
        DEBT_AD.format(phone="13912345678", name="王经理"),
        COPIES[0],
        AD.format(wx="xinc888", phone="13800138000"),
        COPIES[1],
        "太短了",
        COPIES[2],
        DEBT_AD.format(phone="13700001111", name="李女士"),
    ]
    index = TemplateIndex()
    reps = [index.add(i, t) for i, t in enumerate(texts)]
    assert reps == [0, 1, 2, 1, None, 1, 0]
    assert index.clusters() == cluster_templates(enumerate(texts))
    assert len(index) == 6


def test_many_distinct_ads_from_one_vocabulary_make_no_templates() -> None:
    # 300 ads built from the same jargon in different orders: shared words are not a template
    rng = random.Random(3)
    words = [
        "征信修复", "停息挂账", "协商还款", "代理退保", "全额退费", "投诉模板", "逾期消除",
        "专业团队", "不成功不收费", "银行内部", "当天办理", "加微信详聊", "正规公司", "免费咨询",
        "信用卡", "网贷", "个性化分期", "减免罚息", "律师团队", "成功案例", "保单", "现金价值",
    ]  # fmt: skip
    texts = ["，".join(rng.choices(words, k=25)) for _ in range(300)]
    assert cluster_templates(enumerate(texts)) == []


def test_signatures_do_not_depend_on_the_batch() -> None:
    # texts are hashed concatenated; shingles spanning two texts must not leak into either
    from pipelines.link import _signatures

    texts = [template_text(t) for t in (COPIES[0], AD.format(wx="a", phone="1"), COPIES[1])]
    together = _signatures(texts)
    for i, text in enumerate(texts):
        assert (together[i] == _signatures([text])[0]).all()
