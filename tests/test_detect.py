"""Detection: promotion vs. warning vs. other, categories, evidence spans (table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.analyze import analyze_html, analyze_text
from pipelines.detect import TOPIC_GATE_SCORE, RuleVerdict, decide, on_topic
from pipelines.lexicon import Lexicon, segment, watch_terms
from pipelines.normalize import compact, normalize
from pipelines.signals import load_signals, page_signals

SEED = (
    Path(__file__).resolve().parent
    / "pages"
    / (
        "www.example-rebao.tw__caijing__20231014-5127.txt"  # a seed warning article
    )
)

CR, DR, RF, CA = "credit_repair", "debt_relief", "refund_agency", "complaint_agency"

PROMOTIONS = [
    # (text, expected categories that must be present)
    ("专业征信修复，不成功不收费，加V：xinc888", {CR}),
    ("專業徵信修復，不成功不收費，詳詢薇信 xinc888", {CR}),
    ("征✨信✨修✨复 内部渠道 当天处理 电话 13800138000", {CR}),
    ("征 信 修 复，包过！微信同号13800138000", {CR}),
    ("逾期记录删除、征信洗白，全国办理，先办事后收费，V：credit_fix01", {CR}),
    ("信用卡逾期？网贷逾期？停息挂账、个性化分期找我，滴滴我 vx: tingxi2023", {DR}),
    ("停息掛賬 個性化分期 協商還款 專業團隊 聯繫電話 0755-86001234", {DR}),
    ("网贷协商、减免罚息、只还本金，前期不收费，QQ 123456789", {DR}),
    ("负债上岸：债务优化方案，免费评估，加我微信 shangan_666", {DR}),
    ("代理退保，全额退保，不成功不收费，微信同号 13912345678", {RF}),
    ("保险买了不想要？全额退保，已成功上百单，私信我", {RF}),
    ("砍头息退还、会员费退还、担保费退还，专业处理，电话 400-820-8820", {RF}),
    ("代理维权，代写投诉信，投诉模板一套99元，需要的私聊", {CA}),
    ("金融维权代理：教你写投诉模板，12378投诉必回电，加V zhengxin_law", {CA}),
    ("征信修复+停息挂账+代理退保 一站式服务，诚招代理，高佣金，加微信 daili888", {CR, DR, RF}),
    ("【鑫诚法务】征信修复 逾期消除 不成功全额退款 ☎ 138-0013-8000", {CR}),
    ("想上岸的朋友看过来：停息挂账，协商分期，成功案例无数，私信", {DR}),
    ("信用修复专家，任何逾期都能处理，一口价，扫码添加", {CR}),
    ("代办退费：贷款服务费、会员费全部退回，先退后收费，咨询电话13800138000", {RF}),
    ("专业代投诉，帮你把钱要回来，有需要的朋友私信", {CA}),
    ("有逾期的看过来，停息挂帐，了解一下，微信 tx_helper", {DR}),
    ("徵信洗白 黑戶也能做 內部關係 100%成功 扣扣 987654321", {CR}),
    ("代理退保 代理退费 代理维权 三合一，合法合规，律师团队，联系方式见主页", {RF, CA}),
    ("信用卡协商还款，个性化分期最长60期，免费咨询热线 021-62881234", {DR}),
    ("退保找我，不成功不收费，加微信 tuibao01", {RF}),
]

WARNINGS = [
    "警惕“征信修复”骗局！人民银行提示：征信记录无法修复，任何机构都无权删除真实的逾期记录。",
    "银保监会风险提示：谨防“代理退保”陷阱，不法分子以全额退保为名收取高额手续费。",
    "警方通报：一团伙以“停息挂账”为名实施诈骗，已被立案查处。",
    "市场监管部门查处一家虚假宣传“信用修复”的公司，责令其整改。",
    "提醒：所谓“代理维权”实为套路，消费者切勿上当受骗。",
    "揭秘代投诉黑灰产：投诉模板批量复制，专项整治正在开展。",
    "法院判决：以“征信洗白”为名诈骗他人钱财，被告人获刑三年。",
    "消费者权益保护：识别“债务减免”骗局，防范个人信息泄露。",
    "記者調查：“徵信修復”廣告背後的騙局，多人被騙。",
    "千万别信“个性化分期包过”，都是骗局！我就是被骗了五千块。",
]

OTHERS = [
    "本店承接家电维修、空调清洗，电话 13800138000，欢迎咨询。",
    "二手房出售，南山区三室两厅，业主急售，联系电话 0755-86001234。",
    "今天天气不错，和朋友去爬山了。",
    "征信报告在哪里查？想看看自己的信用记录。",
    "保险犹豫期内可以退保吗？",
    "7天无理由退款，退费流程见订单页面。",
    "招聘：行政助理一名，五险一金，联系 hr@example.com",
    "",
    "Python 开发工程师，熟悉 Scrapy 与 SQLAlchemy。",
    "信用卡账单分期手续费怎么算？",
]


@pytest.mark.parametrize(("text", "cats"), PROMOTIONS)
def test_promotions(text: str, cats: set[str]) -> None:
    a = analyze_text(text, doc_id="t")
    assert a.kind == "promotion", a.detection.reason
    assert cats <= set(a.detection.categories)
    assert 0.5 <= a.detection.score <= 1.0
    assert a.detection.reason.startswith("推广")


@pytest.mark.parametrize("text", WARNINGS)
def test_warnings(text: str) -> None:
    a = analyze_text(text)
    assert a.kind == "warning", a.detection.reason
    assert a.detection.score < 0.5
    assert a.detection.categories  # a warning still says which service it is about


@pytest.mark.parametrize("text", OTHERS)
def test_others(text: str) -> None:
    a = analyze_text(text)
    assert a.kind == "other", a.detection.reason
    assert a.detection.score < 0.5


def test_seed_article_is_a_warning_with_all_four_categories() -> None:
    text = SEED.read_text(encoding="utf-8")
    a = analyze_text(text)
    assert a.kind == "warning"
    assert set(a.detection.categories) == {CR, DR, RF, CA}


def test_seed_article_as_html_keeps_spam_out() -> None:
    body = SEED.read_text(encoding="utf-8")
    paras = "".join(f"<p>{line.strip()}</p>" for line in body.splitlines() if line.strip())
    title = body.splitlines()[0]
    html = f"<html><head><title>{title}</title></head><body>{paras}</body></html>"
    a = analyze_html(html, url="http://www.example-rebao.tw/caijing/20231014-5127.html")
    assert a.kind == "warning"
    assert "安盈普惠" in a.text and "經聲紋比對" in a.text
    for spam in ("蜘蛛池", "欧美", "一区二区", "國產精品", "k3w9x"):
        assert spam not in a.text, spam


@pytest.mark.parametrize(
    ("text", "term", "raw"),
    [
        ("專業徵信修復，不成功不收費", "征信修复", "徵信修復"),
        ("征✨信✨修✨复 包过", "征信修复", "征✨信✨修✨复"),
        ("ＡＢＣ停 息 挂 账，私信", "停息挂账", "停 息 挂 账"),
        ("全額退保找我", "代理退保", "全額退保"),
        ("代\u200b投\u200b诉，私聊", "代投诉", "代\u200b投\u200b诉"),
    ],
)
def test_evidence_quotes_the_original_span(text: str, term: str, raw: str) -> None:
    a = analyze_text(text)
    ev = [e for e in a.detection.evidence if e.term == term]
    assert ev, a.detection.evidence
    assert ev[0].raw == raw
    assert text[ev[0].start : ev[0].end] == raw


def test_words_do_not_match_across_sentences() -> None:
    view = compact(normalize("这是征。信修复不是"))
    assert not [h for h in Lexicon.load().find(view) if h.entry.term == "征信修复"]


def test_longest_term_wins_over_its_part() -> None:
    hits = Lexicon.load().find(compact(normalize("代理退保")))
    assert [h.entry.term for h in hits if h.entry.kind == "term"] == ["代理退保"]


def test_lexicon_terms_segment_as_units_in_jieba() -> None:
    words = segment("专业征信修复不成功不收费停息挂账")
    assert "征信修复" in words and "停息挂账" in words and "不成功不收费" in words


def test_watch_terms_come_from_the_data_file() -> None:
    terms = watch_terms()
    assert "征信修复" in terms and "代理退保" in terms
    assert "退费" not in terms  # generic words are not searched


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("[]", "expected a mapping"),
        ("categories: {}", "'categories' must be a non-empty mapping"),
        ("categories: {a: {label: x}}", "categories.a: needs a 'terms' list"),
        ("categories: {a: {terms: [{weight: 1}]}}", "categories.a.terms[0]: needs 'term'"),
        ("categories: {a: {terms: [{term: 征信, weight: 2}]}}", "'weight' must be a number"),
        (
            "categories: {a: {terms: [征信修复]}, b: {terms: [征信修复]}}",
            "listed under both 'a' and 'b'",
        ),
        ("categories: {a: {terms: [' ']}}", "empty after normalization"),
        ("categories: {a: {terms: [x]}}\npromotion_cues: [x]", "'promotion_cues' must map"),
        ("categories: [a\n", "not valid UTF-8 YAML"),
    ],
)
def test_bad_lexicon_files_name_the_place(tmp_path: Path, yaml_text: str, message: str) -> None:
    from greywatch.errors import ConfigError

    path = tmp_path / "lexicon.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError, match=None) as err:
        Lexicon.load(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_custom_lexicon_changes_detection(tmp_path: Path) -> None:
    path = tmp_path / "lex.yaml"
    path.write_text(
        "version: 9\ncategories:\n  loan_fraud:\n    label: 贷款诈骗\n"
        "    terms: [{term: 黑户贷款, weight: 1.0}]\n"
        "promotion_cues:\n  cta: [私信]\n",
        encoding="utf-8",
    )
    lex = Lexicon.load(path)
    a = analyze_text("黑户贷款秒下，私信", lexicon=lex)
    assert a.kind == "promotion" and a.detection.categories == ("loan_fraud",)
    assert lex.version.startswith("9-")


# Written for these tests: lawful trades selling hard (contacts, guarantees, counters, buttons).
OFF_TOPIC_ADS = [
    "专业疏通下水道、马桶、地漏，二十分钟上门，通不了不收费！已服务 3 万多户，电话 139 0571 2286",
    "少儿美术小班课🎨 试听免费，已有 600 多位小朋友在这里学画，加微信 meishu_xx 预约名额",
    "【搬家拉货】小面包 150 起，全程不加价，损坏包赔，我们团队十年老店，点击预约👉",
]


@pytest.mark.parametrize("text", OFF_TOPIC_ADS)
def test_ads_of_lawful_trades_are_not_leads(text: str) -> None:
    d = analyze_text(text).detection
    assert d.kind == "other", d.reason
    assert d.score < 0.5 and not d.categories


def _verdict(kind: str = "other", score: float = 0.0) -> RuleVerdict:
    return RuleVerdict(kind, (), "", score, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("score", "rules", "topical", "kind"),
    [
        (0.97, _verdict(), True, "promotion"),
        (0.97, _verdict(), False, "other"),  # off topic: not a lead, however it sells
        (0.30, _verdict("promotion", 0.8), False, "promotion"),  # the rule floor has terms
        (0.10, _verdict(), False, "warning"),  # the gate only takes promotions away
    ],
)
def test_decide_gates_off_topic_promotions(
    score: float, rules: RuleVerdict, topical: bool, kind: str
) -> None:
    probs = {"promotion": score, "warning": 0.6, "other": 0.4 - score / 2}
    got, final, _, _ = decide(score, probs, {CR: 0.9}, rules, topical)
    assert got == kind
    assert (final >= 0.5) == (got == "promotion")
    if not topical and got != "promotion":
        assert final <= TOPIC_GATE_SCORE


@pytest.mark.parametrize(
    ("text", "topical"),
    [
        ("本店空调清洗，上门服务，电话 13800138000", False),
        ("信用卡还不上了怎么办", True),  # a topic word, no service word
        ("专业征信修复，加V xinc888", True),  # a service word
        ("給你嘅卡數做個重組", True),  # Traditional script, normalized first
    ],
)
def test_on_topic(text: str, topical: bool) -> None:
    sig = load_signals()
    norm = normalize(text)
    view = compact(norm)
    hits = Lexicon.load().find(view)
    values = page_signals(sig, norm.text, view.text, hits, [], 0)
    assert on_topic(values, sig.names, hits) is topical
