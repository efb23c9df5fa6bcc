"""Speed work must not change findings: extraction output pinned on texts that reach every path.

Each case was recorded with the analysis as it was before the speed work of issue #13 (the
full comparison over thousands of texts is `bench/analysis_snapshot.py`). The cases cover
obfuscated phones (numerals, keycaps, circled and full-width digits), ids after labels read by
sound, spelled-out emails, sites, firm names written in parts, branches, banks, bracketed
regions, brands in 【】 and before industry words, USCC codes, Traditional script, invisible
characters and character soup (jieba's HMM). The detector's verdict is tested elsewhere.
The fast paths are also checked against the plain computation they replace.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from pipelines import businesses, contact_labels, contacts
from pipelines.analyze import analyze_text
from pipelines.lexicon import Lexicon
from pipelines.normalize import compact, normalize


@dataclass(frozen=True)
class Case:
    text: str
    contacts: list[tuple[str, str, int, int]]  # kind, value, start, end
    businesses: list[tuple[str, str, int, int, str]]  # name, form, start, end, region
    uscc: list[tuple[str, bool, int, int]]  # code, valid, start, end
    compact: str  # the compact normalized view


CASES = [
    Case(
        "專業徵信修復，不成功不收費，加V：xinc888，電話：１３８-００１３-８０００",
        contacts=[("wechat", "xinc888", 17, 24), ("phone", "+8613800138000", 28, 41)],
        businesses=[],
        uscc=[],
        compact="专业征信修复,不成功不收费,加v:xinc888,电话:13800138000",
    ),
    Case(
        "征✨信✨修✨复 逾期消除 黑户也能做 ☎ 139 1234 5678 微信同号",
        contacts=[("phone", "+8613912345678", 21, 34), ("wechat", "13912345678", 21, 34)],
        businesses=[],
        uscc=[],
        compact="征信修复逾期消除黑户也能做13912345678微信同号",
    ),
    Case(
        "停息挂账找我们，联系一三八零零一三八零零零，扣扣 2389471025",
        contacts=[("phone", "+8613800138000", 10, 21), ("qq", "2389471025", 25, 35)],
        businesses=[],
        uscc=[],
        compact="停息挂账找我们,联系一三八零零一三八零零零,扣扣2389471025",
    ),
    Case(
        "威芯：kaka_fix66（备注来意），秋秋号：一二三四五六七八",
        contacts=[("wechat", "kaka_fix66", 3, 13), ("qq", "12345678", 24, 32)],
        businesses=[],
        uscc=[],
        compact="威芯:kakafix66备注来意,秋秋号:一二三四五六七八",
    ),
    Case(
        "代理退保请发邮件 xinc888 at 163 dot com 或 tuibao(at)qq.com，"
        "官网 www.tuibao-help.cn/about",
        contacts=[
            ("email", "xinc888@163.com", 9, 31),
            ("email", "tuibao@qq.com", 34, 50),
            ("url", "www.tuibao-help.cn", 54, 78),
        ],
        businesses=[],
        uscc=[],
        compact="代理退保请发邮件xinc888at163dotcom或tuibaoatqqcom,官网wwwtuibaohelpcnabout",
    ),
    Case(
        "深圳市 鑫诚 信息咨询 有限公司（统一社会信用代码：91440300MA5F0AEH7Y）专业债务协商",
        contacts=[],
        businesses=[("深圳市鑫诚信息咨询有限公司", "company", 0, 16, "深圳市")],
        uscc=[("91440300MA5F0AEH7Y", False, 26, 44)],
        compact="深圳市鑫诚信息咨询有限公司统一社会信用代码:91440300ma5f0aeh7y专业债务协商",
    ),
    Case(
        "我们是广州·安信商务服务有限公司的合作伙伴，中国工商银行股份有限公司深圳南山支行可办理。",
        contacts=[],
        businesses=[
            ("广州安信商务服务有限公司", "company", 3, 16, "广州"),
            ("中国工商银行股份有限公司深圳南山支行", "branch", 22, 40, "深圳"),
        ],
        uscc=[],
        compact="我们是广州安信商务服务有限公司的合作伙伴,中国工商银行股份有限公司深圳南山支行可办理。",
    ),
    Case(
        "【金盾信用】专业征信修复，金盾(北京)信用管理有限公司出品，税号：9144 0300 MA5F 0AEH 7Y",
        contacts=[],
        businesses=[("金盾(北京)信用管理有限公司", "company", 13, 27, "北京")],
        uscc=[("91440300MA5F0AEH7Y", False, 33, 55)],
        compact="金盾信用专业征信修复,金盾北京信用管理有限公司出品,税号:91440300ma5f0aeh7y",
    ),
    Case(
        "【阳光法务】专业停息挂账，上海浦东发展银行信用卡中心 400-820-8820 转 123",
        contacts=[("phone", "+864008208820", 27, 45)],
        businesses=[
            ("阳光法务", "brand", 1, 5, ""),
            ("上海浦东发展银行信用卡中心", "shop", 13, 26, ""),
        ],
        uscc=[],
        compact="阳光法务专业停息挂账,上海浦东发展银行信用卡中心4008208820转123",
    ),
    Case(
        "鑫诚法务专注代理维权，座机 (021) 6288-1234，订单号 13800138000 不是电话",
        contacts=[("phone", "+862162881234", 14, 29)],
        businesses=[("鑫诚法务", "brand", 0, 4, "")],
        uscc=[],
        compact="鑫诚法务专注代理维权,座机02162881234,订单号13800138000不是电话",
    ),
    Case(
        "身份证号 440301199001011234，银行卡 6222 0212 3456 7890 123，金额 ¥13800138000 元",
        contacts=[],
        businesses=[],
        uscc=[],
        compact="身份证号440301199001011234,银行卡6222021234567890123,金额¥13800138000元",
    ),
    Case(
        "楼主说得对，今天去银行办业务排了两个小时的队。新华书店旁边的五金店也关门了。",
        contacts=[],
        businesses=[("新华书店", "shop", 23, 27, "")],
        uscc=[],
        compact="楼主说得对,今天去银行办业务排了两个小时的队。新华书店旁边的五金店也关门了。",
    ),
    Case(
        "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经行",
        contacts=[],
        businesses=[("能下过子说产种面而方后多定行", "shop", 43, 57, "")],
        uscc=[],
        compact="的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经行",
    ),
    Case(
        "警惕“征信修复”骗局，人民银行提示任何机构都无权删除真实的逾期记录。"
        "IP属地：广东 作者：反诈小助手",
        contacts=[],
        businesses=[],
        uscc=[],
        compact="警惕征信修复骗局,人民银行提示任何机构都无权删除真实的逾期记录。ip属地:广东作者:反诈小助手",
    ),
    Case(
        "網貸逾期？停息掛賬找我們，專業處理，免費評估。V信: law2024 电话 0755-86001234",
        contacts=[("wechat", "law2024", 27, 34), ("phone", "+8675586001234", 38, 51)],
        businesses=[],
        uscc=[],
        compact="网贷逾期?停息挂账找我们,专业处理,免费评估。v信:law2024电话075586001234",
    ),
    Case(
        "1️⃣3️⃣8️⃣0️⃣0️⃣1️⃣3️⃣8️⃣0️⃣0️⃣0️⃣ 加薇~~~：shangan_99 ①③⑨①②③④⑤⑥⑦⑧",
        contacts=[
            ("phone", "+8613800138000", 0, 33),
            ("wechat", "shangan_99", 40, 50),
            ("phone", "+8613912345678", 51, 62),
        ],
        businesses=[],
        uscc=[],
        compact="13800138000加薇:shangan9913912345678",
    ),
    Case(
        "TCL科技集团股份有限公司与华为技术有限公司无关，腾讯科技(深圳)有限公司北京分公司",
        contacts=[],
        businesses=[
            ("TCL科技集团股份有限公司", "company", 0, 13, ""),
            ("华为技术有限公司", "company", 14, 22, ""),
            ("腾讯科技(深圳)有限公司北京分公司", "branch", 25, 42, "深圳"),
        ],
        uscc=[],
        compact="tcl科技集团股份有限公司与华为技术有限公司无关,腾讯科技深圳有限公司北京分公司",
    ),
    Case(
        "wxid_abc12345 是默认微信号；qq邮箱 87654321；联系邮箱：service@example.com.cn",
        contacts=[
            ("wechat", "wxid_abc12345", 0, 13),
            ("email", "87654321@qq.com", 26, 34),
            ("qq", "87654321", 26, 34),
            ("email", "service@example.com.cn", 40, 62),
        ],
        businesses=[],
        uscc=[],
        compact="wxidabc12345是默认微信号;qq邮箱87654321;联系邮箱:serviceexamplecomcn",
    ),
    Case(
        "鑫诚咨询、安信达财富管理中心、恒信代理记账服务部、金诚信工作室都在招代理，高佣金",
        contacts=[],
        businesses=[
            ("鑫诚咨询", "brand", 0, 4, ""),
            ("安信达财富管理中心", "shop", 5, 14, ""),
            ("金诚信工作室", "shop", 25, 31, ""),
        ],
        uscc=[],
        compact="鑫诚咨询、安信达财富管理中心、恒信代理记账服务部、金诚信工作室都在招代理,高佣金",
    ),
    Case(
        "征 信 修 复 包过\u200b内部渠道\u200d，先办事后收费，全国可办，徽芯 tuibao_01",
        contacts=[],
        businesses=[],
        uscc=[],
        compact="征信修复包过内部渠道,先办事后收费,全国可办,徽芯tuibao01",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.text[:12] for c in CASES])
def test_findings_as_before(case: Case) -> None:
    a = analyze_text(case.text, model=False)
    assert [(c.kind, c.value, c.start, c.end) for c in a.contacts] == case.contacts
    assert [(b.name, b.form, b.start, b.end, b.region) for b in a.businesses] == case.businesses
    assert [(u.code, u.valid, u.start, u.end) for u in a.uscc] == case.uscc
    assert compact(normalize(case.text)).text == case.compact


# A lexicon of its own (the bundled one is tuned by others): overlapping entries of every kind,
# a variant sharing a spelling, a term inside a longer cue.
LEXICON = {
    "version": 1,
    "categories": {
        "credit_repair": {
            "label": "征信修复",
            "terms": [
                "征信修复",
                {"term": "修复征信", "variants": ["徵信修復"]},
                "征信",
                {"term": "逾期消除", "weight": 0.6},
            ],
        },
        "debt_relief": {"label": "债务减免", "terms": ["停息挂账", "停息", "挂账", "协商还款"]},
    },
    "promotion_cues": {
        "guarantee": ["不成功不收费", "成功", "包过"],
        "channel": ["内部渠道", "渠道"],
    },
    "warning_cues": {"scam": ["骗局", "征信修复骗局", "警惕"]},
}


@pytest.mark.parametrize(
    ("text", "hits"),
    [
        (
            "警惕“征信修复”骗局，不成功不收费",
            [
                ("warning_cue", "警惕", 0, 2),
                ("warning_cue", "征信修复骗局", 2, 8),
                ("term", "修复征信", 2, 6),
                ("promotion_cue", "不成功不收费", 9, 15),
            ],
        ),
        (
            "專業徵信修復停息挂账挂账停息，内部渠道包过成功",
            [
                ("term", "修复征信", 2, 6),
                ("term", "停息挂账", 6, 10),
                ("term", "挂账", 10, 12),
                ("term", "停息", 12, 14),
                ("promotion_cue", "内部渠道", 15, 19),
                ("promotion_cue", "包过", 19, 21),
                ("promotion_cue", "成功", 21, 23),
            ],
        ),
        (
            "征✨信✨修✨复逾期消除征信修复骗局",
            [
                ("term", "修复征信", 0, 4),
                ("term", "逾期消除", 4, 8),
                ("warning_cue", "征信修复骗局", 8, 14),
                ("term", "修复征信", 8, 12),
            ],
        ),
    ],
)
def test_lexicon_hits_as_before(text: str, hits: list[tuple[str, str, int, int]]) -> None:
    """Longest first and non-overlapping per kind, in order of start: as before the packed keys."""
    view = compact(normalize(text))
    found = Lexicon.from_dict(LEXICON).find(view)
    assert [(h.entry.kind, h.entry.term, h.start, h.end) for h in found] == hits


def _soup(n: int, seed: int) -> list[str]:
    """Random strings of common characters, firm suffixes, letters and digits."""
    rng = random.Random(seed)
    pieces = "的一是在了和人这中大为上个我以要他时来用们生到作地于出就分对成会可主发年动同工也能"
    pieces += "行部店社厂司鑫诚金盾信息咨询有限公司科技深圳广州市区微信扣电话 abc123-·"
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))) for _ in range(n)]


def test_word_cut_is_jiebas() -> None:
    """The word cut behind business names (`_segment`, its scores memoized) gives jieba's own
    words with HMM on soup, where dictionary routes and new words both occur."""
    tok = businesses._jieba()[0]
    for s in _soup(400, seed=13):
        assert businesses._segment(s) == list(tok.cut(s, HMM=True)), s


def test_packed_lexicon_find_is_the_tuple_find() -> None:
    """The packed sort keys of Lexicon.find order and keep hits exactly as plain tuples do."""
    lex = Lexicon.load()
    texts = [*_soup(200, seed=7), *(c.text for c in CASES)]
    texts += ["征信修复停息挂账代理退保不成功不收费内部渠道" * 3]
    for text in texts:
        view = compact(normalize(text))
        assert lex.find(view) == lex._find_tuples(view), text


def test_remembered_labels_are_labels_before() -> None:
    """labelled_ids remembers verdicts by the stretch before an id; each equals the verdict
    read in the whole text, near its start and far from it."""
    rules = contacts._rules().sound
    filler = "普通的一句话没有标签" * 4
    for case in CASES:
        for text in (case.text, filler + case.text):
            starts = [m.start() for m in contacts._rules().run.finditer(normalize(text).text)]
            norm = normalize(text).text
            starts += list(contacts._id_tokens(norm))
            expected = [(a, contact_labels.labels_before(rules, norm, a)) for a in starts if a]
            expected = [(a, k) for a, k in expected if k]
            assert list(contact_labels.labelled_ids(rules, norm, starts)) == expected
