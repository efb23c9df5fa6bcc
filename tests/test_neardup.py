"""Near-duplicate ads (pipelines/neardup.py): one ad posted twice with other furniture,
counters and dates is one ad; a template pushed by accounts with their own contacts, or two
ads of one promoter, are not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipelines.neardup import (
    MIN_AD_CHARS,
    SAME_AD_JACCARD,
    SKETCH,
    AdPage,
    Poster,
    ad_body,
    compare,
    fingerprint,
    near_duplicate,
    same_ad,
)

# --- ads written for these tests ---------------------------------------------------------

CREDIT = (
    "征信花了、逾期记录多，贷款总被拒？我们是专业征信修复团队，银行内部渠道，可消除逾期记录、"
    "查询记录，不成功不收费，已帮助上千位客户成功上岸。先办事后收费，全国可做，名额有限。"
    "联系电话 138 0013 8000，微信同号 xinc888。"
)
# The same promoter's other ad: other service, same contact line and selling phrases.
DEBT = (
    "信用卡、网贷逾期被催收？我们帮你跟银行协商还款，办理停息挂账，个性化分期最长60期，"
    "减免罚息违约金，不成功不收费。先办事后收费，全国可做。"
    "联系电话 138 0013 8000，微信同号 xinc888。"
)
# One template as three accounts post it: other platform, manager, phone and WeChat.
REFUND = (
    "买了分红险、万能险、年金险后悔了？{team}专业代理退保，保单三年五年都能退，全额退回，"
    "不收任何前期费用，退不了不收费。已成功办理上千单，全国受理，{who}一对一服务。"
    "电话 {phone}，V信 {wechat}，备注退保。"
)
REFUND_A = REFUND.format(team="【恒信金服】", who="王经理", phone="139 1234 5678", wechat="hx5678")
REFUND_B = REFUND.format(team="安泰维权团队", who="李老师", phone="137 7777 2222", wechat="at2222")
REFUND_C = REFUND.format(team="【恒信金服】", who="王经理", phone="139 1234 5678", wechat="hx5678")

# Site furniture and what changes between postings, as main-text extraction leaves them.
FORUM_A = (
    "发表于 2026-10-12 09:31 | 查看: 1234 | 回复: 12\n{ad}\n"
    "本帖最后由 xinchengzx 于 2026-10-13 08:00 编辑"
)
FORUM_B = "楼主 发布时间：2026年10月20日 21:05 阅读 5.6万\n{ad}\n——诚信经营，十年老店，欢迎咨询"
CLASSIFIEDS = "浏览 325 次 更新时间：10月20日\n{ad}\nIP属地：广东"
TIEBA = "{ad}\n3楼 2026-10-21 来自手机\n顶一下，有需要的私聊"
SIGNED = "{ad}\n签名：鑫诚征信 专注信用修复十年 诚信为本 客户至上 全国服务热线欢迎来电咨询"

XIN = frozenset({("phone", "+8613800138000"), ("wechat", "xinc888")})
XIN_PHONE = frozenset({("phone", "+8613800138000")})
XIN_WECHAT = frozenset({("wechat", "xinc888")})
HX = frozenset({("phone", "+8613912345678"), ("wechat", "hx5678")})
AT = frozenset({("phone", "+8613777772222"), ("wechat", "at2222")})
TEAM_QQ_1 = frozenset({("qq", "800800"), ("phone", "+8613912345678")})
TEAM_QQ_2 = frozenset({("qq", "800800"), ("phone", "+8613777772222")})


def page(
    text: str,
    contacts: frozenset[tuple[str, str]] = frozenset(),
    source: str = "",
    author: str = "",
    title: str = "",
) -> AdPage:
    """An AdPage of a text stored as analysis stores it (title line first when there is one)."""
    stored = f"{title}\n{text}" if title else text
    return AdPage(fingerprint(stored, title), Poster(contacts, source, author))


CASES: dict[str, tuple[AdPage, AdPage, bool]] = {
    "one ad on two forums": (
        page(FORUM_A.format(ad=CREDIT), XIN, "bbs-a", "xinchengzx", "征信修复 专业处理逾期"),
        page(FORUM_B.format(ad=CREDIT), XIN, "bbs-b", "鑫诚征信", "专业征信修复 不成功不收费"),
        True,
    ),
    "forum and classifieds": (
        page(FORUM_A.format(ad=CREDIT), XIN, "bbs-a", "xinchengzx"),
        page(CLASSIFIEDS.format(ad=CREDIT), XIN, "info", "鑫诚"),
        True,
    ),
    "forum and a tieba repost with a bump": (
        page(FORUM_B.format(ad=CREDIT), XIN, "bbs-b"),
        page(TIEBA.format(ad=CREDIT), XIN, "tieba"),
        True,
    ),
    "reposted on one forum by one account": (
        page(FORUM_A.format(ad=CREDIT), XIN, "bbs-a", "xinchengzx", "征信修复"),
        page(
            FORUM_A.format(ad=CREDIT).replace("1234", "87"), XIN, "bbs-a", "XinChengZX", "修复征信"
        ),
        True,
    ),
    "a signature on one posting": (
        page(CREDIT, XIN, "bbs-a"),
        page(SIGNED.format(ad=CREDIT), XIN, "bbs-b"),
        True,
    ),
    "a site that hides the phone": (
        page(FORUM_A.format(ad=CREDIT), XIN, "bbs-a"),
        page(CLASSIFIEDS.format(ad=CREDIT.replace("138 0013 8000", "***")), XIN_WECHAT, "info"),
        True,
    ),
    "written in Traditional characters": (
        page(CREDIT, XIN, "bbs-a"),
        page("徵信花了、逾期記錄多，貸款總被拒？" + CREDIT[16:], XIN, "bbs-tw"),
        True,
    ),
    "template, other phone and WeChat": (
        page(REFUND_A, HX, "bbs-a", "退保小助手01"),
        page(REFUND_B, AT, "bbs-b", "维权君"),
        False,
    ),
    "template, a shared team QQ but each their own phone": (
        page(REFUND_A, TEAM_QQ_1, "bbs-a"),
        page(REFUND_B, TEAM_QQ_2, "bbs-b"),
        False,
    ),
    "template copy, no contact on one": (
        page(REFUND_A, HX, "bbs-a"),
        page(REFUND_A.split("电话")[0], frozenset(), "bbs-b"),
        False,
    ),
    "one promoter, two ads": (
        page(FORUM_A.format(ad=CREDIT), XIN, "bbs-a", "xinchengzx"),
        page(FORUM_A.format(ad=DEBT), XIN, "bbs-a", "xinchengzx"),
        False,
    ),
    "one source, two accounts, one QQ (sock puppets)": (
        page(REFUND_A, HX, "bbs-a", "退保小助手01"),
        page(REFUND_C, HX, "bbs-a", "退保小助手02"),
        False,
    ),
    "two sources, two account names, same contacts": (
        page(REFUND_A, HX, "bbs-a", "退保小助手01"),
        page(REFUND_C, HX, "bbs-b", "恒信退保"),
        True,
    ),
    "no contacts, one account of one source": (
        page(FORUM_A.format(ad=CREDIT.split("联系")[0]), frozenset(), "bbs-a", "xinchengzx"),
        page(FORUM_B.format(ad=CREDIT.split("联系")[0]), frozenset(), "bbs-a", "xinchengzx"),
        True,
    ),
    "no contacts, no account": (
        page(FORUM_A.format(ad=CREDIT.split("联系")[0]), frozenset(), "bbs-a"),
        page(FORUM_B.format(ad=CREDIT.split("联系")[0]), frozenset(), "bbs-a"),
        False,
    ),
    "no contacts, one account name on two sources": (
        page(CREDIT.split("联系")[0], frozenset(), "bbs-a", "xinchengzx"),
        page(CREDIT.split("联系")[0], frozenset(), "bbs-b", "xinchengzx"),
        False,
    ),
    "a reply quoting the contact is not the ad": (
        page(CREDIT, XIN_WECHAT, "bbs-a"),
        page("靠谱的，已经帮很多人处理好了，加我微信 xinc888 详聊", XIN_WECHAT, "bbs-a"),
        False,
    ),
    "short, only the date differs": (
        page("征信修复加V：xinc888（10月12日）", XIN_WECHAT, "bbs-a"),
        page("征信修复 加V xinc888 2026-10-20 21:05", XIN_WECHAT, "bbs-b"),
        True,
    ),
    "short, another service": (
        page("征信修复加V：xinc888", XIN_WECHAT, "bbs-a"),
        page("代理退保加V：xinc888", XIN_WECHAT, "bbs-a"),
        False,
    ),
    "short, another number": (  # digits are masked: the contacts tell them apart
        page("征信修复加V：xinc888", XIN_WECHAT, "bbs-a"),
        page("征信修复加V：xinc666", frozenset({("wechat", "xinc666")}), "bbs-a"),
        False,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_same_ad(case: str) -> None:
    a, b, expected = CASES[case]
    verdict = compare(a, b)
    assert verdict.same is expected, verdict
    assert same_ad(b, a) is expected  # symmetric
    assert verdict.reason


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        (FORUM_A.format(ad=CREDIT), FORUM_B.format(ad=CREDIT), True),
        (CREDIT, SIGNED.format(ad=CREDIT), True),
        (REFUND_A, REFUND_B, True),  # a template is near-duplicate text: contacts decide
        (CREDIT, DEBT, False),
        (FORUM_A.format(ad=CREDIT), FORUM_A.format(ad=DEBT), False),
        (REFUND_A, CREDIT, False),
        ("", "", False),  # no text is nobody's ad
        # longer than SKETCH shingles: estimated from the smallest hashes
        (FORUM_A.format(ad=CREDIT + DEBT), TIEBA.format(ad=CREDIT + DEBT), True),
        (CREDIT + DEBT, DEBT + REFUND_A, False),
    ],
)
def test_near_duplicate_text(a: str, b: str, near: bool) -> None:
    assert near_duplicate(fingerprint(a), fingerprint(b)) is near


@pytest.mark.parametrize(
    ("text", "title", "body"),
    [
        ("征信修复\n专业修复，不成功不收费", "征信修复", "专业修复不成功不收费"),
        ("征信修复\n专业修复", "另一个标题", "征信修复专业修复"),  # not its title: kept
        ("发表于 2026-10-12 09:31 查看: 1234 | 回复: 12 修复", "", "修复"),
        ("2024年5月17日 5月17号 21:05:33 3天前 昨天 修复", "", "修复"),
        ("阅读 5.6万 1.2w浏览 回复 12 条 点赞数：8 修复", "", "修复"),
        ("本帖最后由 xin 于 2026-10-13 08:00 编辑 修复 IP属地：广东", "", "修复"),
        ("3楼 12# 楼主 沙发 来自手机 修复", "", "修复"),
        ("最长分60期，加QQ 123456", "", "最长分0期加qq0"),
        ("徵信修復 ＡＢＣ", "", "征信修复abc"),
    ],
)
def test_ad_body_masks_what_changes_between_postings(text: str, title: str, body: str) -> None:
    assert ad_body(text, title) == body


def test_long_bodies_are_sketched() -> None:
    long = fingerprint(CREDIT + DEBT + REFUND_A)
    assert long.shingles > SKETCH and len(long.sketch) == 8 * SKETCH


def test_short_bodies_compare_whole() -> None:
    short = fingerprint("征信修复加V：xinc888")
    assert short.short and not short.sketch and short.chars < MIN_AD_CHARS
    long = fingerprint(CREDIT)
    assert not long.short and len(long.sketch) == 8 * min(long.shingles, SKETCH)
    assert not near_duplicate(short, long)


def test_thresholds_leave_room_on_both_sides() -> None:
    """The same ad clears the threshold by a margin; another ad of one promoter stays far."""
    same = compare(page(FORUM_A.format(ad=CREDIT), XIN), page(FORUM_B.format(ad=CREDIT), XIN))
    other = compare(page(FORUM_A.format(ad=CREDIT), XIN), page(FORUM_A.format(ad=DEBT), XIN))
    assert same.jaccard >= SAME_AD_JACCARD + 0.1
    assert other.jaccard <= SAME_AD_JACCARD - 0.2


def test_fingerprints_are_the_same_in_every_process() -> None:
    """Lead keys depend on them: no per-process hash seed may leak in."""
    code = (
        "from pipelines.neardup import fingerprint; import sys; "
        "sys.stdout.write(fingerprint(sys.argv[1]).sketch.hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, CREDIT], capture_output=True, text=True, check=True
    )
    assert out.stdout == fingerprint(CREDIT).sketch.hex()
