"""Templates that survive the swaps campaigns make (pipelines.link masking, title, threshold).

The test set: reposted promoter campaigns and unrelated posts on the same topics, written for
these tests.

Each campaign is one body (150–250 characters) that promoters repost with other platform
names, team names, firms, people, amounts and contacts, a re-punctuated line or a dropped
closing sentence, under a title of their own. The unrelated posts are short posts (ads,
warnings, questions, diaries) about the same services, none a copy of another.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipelines.link import (
    NAME_MASK,
    TemplateCluster,
    cluster_templates,
    template_body,
    template_text,
)
from pipelines.model import Analysis, Detection
from storage import linking, repo
from storage.models import Finding

# Slots: {plat} platform, {team} team, {firm} firm, {who} person, {tel} phone, {wx} WeChat,
# {n} count, {amt} amount, {days} days, {city} city.
CAMPAIGNS: tuple[str, ...] = (
    # scam-loss recovery
    "在{plat}投资被骗的朋友注意了！平台以各种理由不给出金，客服失联，网站打不开，你的钱还有机会"
    "追回。{team}专注网络诈骗资金追回八年，已帮助{n}位受害者挽回损失，与多地律所合作，先追回后"
    "收费，不成功不收取任何费用。时间拖得越久越难追，请尽快联系{who}，电话{tel}，微信{wx}。",
    "本人亲身经历：去年在{plat}被骗{amt}元，报警后一直没有进展，后来朋友介绍了{team}，只用了{days}"
    "天就把本金追回来了，真的很感激。现在把联系方式分享给同样被骗的朋友，不要再相信什么导师带单、"
    "内幕消息了。他们只收追回后的佣金，前期不用花一分钱，有需要的加{wx}，说是我介绍的。",
    "{plat}已经暴雷，大量投资者无法提现！请受害者不要相信平台所谓的解冻费、保证金、税费，那都是"
    "二次诈骗。我们{team}正在统一登记受害人信息，集中向平台发起追款，已有{n}人登记成功。登记免费，"
    "需提供转账记录和聊天截图，名额有限，截止到本月底。登记请联系{who}：{tel}（微信同号）。",
    "被虚拟币平台骗了怎么办？很多人以为钱转出去就追不回来了，其实只要对方账户还没被注销，就可以"
    "通过司法冻结和协商退款把钱拿回来。{firm}旗下{team}拥有专业的区块链追踪技术，可以查到资金流向，"
    "最快{days}个工作日出结果。不成功全额退款，签正规合同，保护个人隐私。咨询热线{tel}。",
    "网赌被黑不给提款的兄弟看过来！{plat}以流水不足、系统维护、账户异常为借口不出款的，我们有专业"
    "技术团队协助出款，成功率高达百分之九十。先出款后收费，出多少按比例给，不出不收钱。已帮{n}位"
    "兄弟成功出款，最高一笔出了{amt}元。有需要的加{team}客服{wx}，二十四小时在线。",
    "刷单被骗、杀猪盘被骗、投资理财被骗的家人们，请保存好所有转账记录和聊天记录。{team}与{firm}合作，"
    "专门处理各类网络诈骗追款案件，全国可办理。我们不收前期费用，追回后按比例收取服务费，签订正规"
    "委托协议。已累计追回资金{amt}余元，上百个成功案例可查。联系{who}{tel}，微信{wx}。",
    "在{plat}做外汇被骗的请联系我。平台前期让你小额盈利出金，等你加大投入后就冻结账户，说你违规"
    "操作。我自己也被骗了{amt}，后来找到{team}帮忙，走的是正规法律程序，两个月拿回了大部分本金。"
    "他们只对真实受害人提供帮助，假冒的一律不理。联系方式：{wx}，电话{tel}。",
    # debt relief
    "信用卡、网贷逾期的朋友看过来！{team}专业办理停息挂账、个性化分期、减免罚息，最长可分{n}期，"
    "只还本金。银行内部渠道，{firm}正规经营，签订服务合同，不成功不收费。已帮助上万名负债人成功上岸，"
    "{days}天出方案。逾期越久越被动，别等被起诉才着急，现在咨询{who}，电话{tel}，微信同号。",
    "负债{amt}万以上、每月还款压力大、被催收骚扰的，可以找我们协商。{team}拥有多年银行工作经验，熟悉"
    "各大银行和网贷平台的协商政策，帮你申请停息挂账、延期还款、减免利息。全程不用你出面，不上门不"
    "爆通讯录。首次咨询免费，添加微信{wx}，发送负债情况，{who}一对一给出解决方案。",
    "还在拆东墙补西墙吗？{plat}、借呗、微粒贷、信用卡逾期都能协商。{firm}是专业的债务优化机构，与多家"
    "银行有合作，可以帮你把利息降下来，分成{n}期慢慢还，每月还款减少一半以上。前期零费用，成功后再"
    "收取服务费，正规公司，合同保障。咨询热线{tel}，{team}欢迎你来电。",
    "网贷逾期被爆通讯录怎么办？先别慌，{team}教你合法维权，停止暴力催收，申请只还本金。我们已帮{n}位"
    "客户减免了高额利息和违约金，平均减免比例超过百分之四十。专业法务一对一服务，全国可办理，最快"
    "{days}天见效。私信或加{wx}了解详情，{who}为你解答。",
    "协商还款找{team}，个人负债重组专家！信用卡协商分期{n}期，网贷协商停息只还本金，车贷房贷逾期也"
    "能处理。办理流程简单：提交资料、评估方案、签约、银行受理，全程透明可查。{firm}持证经营，十年老"
    "品牌，不成功不收费。地址：{city}市中心商务大厦，电话{tel}。",
    "本人曾经负债{amt}万，每天被催收电话打爆，差点走上绝路。后来在{plat}上找到{team}，帮我把几张信用卡"
    "都办了停息挂账，现在每个月只还几千块，生活终于回到正轨。写这篇帖子是想帮帮和我一样的人，真的"
    "不要放弃，有需要的可以加{who}的微信{wx}，说是我介绍的有优惠。",
    "逾期不可怕，可怕的是不懂政策。根据银行相关规定，持卡人因经济困难无力还款的，可以申请个性化"
    "分期。{team}帮您准备材料、撰写困难说明、对接银行，分期最长{n}期，免息免违约金。已服务客户{amt}"
    "余人，好评率百分之九十九。详情咨询{tel}（{who}），或到{city}门店面谈。",
    # refund agency
    "买了保险想退却只能退一点现金价值？{team}专业代理全额退保，不管保单买了几年，只要存在销售误导、"
    "未如实告知、代签名等情况，都可以帮你退回全部保费。已成功办理{n}单，最多一单退回{amt}元。先办理"
    "后收费，按退回金额比例收取，退不回不收钱。咨询{who}，电话{tel}，微信{wx}。",
    "教育培训、健身卡、美容卡交了钱想退费？商家不退不要怕，{team}代理各类退费维权，熟悉投诉流程，"
    "帮你写投诉材料、对接监管部门，平均{days}天到账。{firm}正规注册，全程签约保障，退不成不收费。"
    "已帮助{n}位消费者拿回血汗钱。加微信{wx}发送合同照片，免费评估能退多少。",
    "在{plat}借款被收了高额砍头息、会员费、担保费的，这些费用都可以申请退回！{team}已帮上千名借款人"
    "成功退费，最高退回{amt}元。我们熟悉各平台的投诉渠道和处理规则，你只需要提供借款记录，剩下的"
    "交给我们。不退费不收钱，退费成功后收取部分服务费。联系{who}：{tel}。",
    "代理退保，百分百全额退！{firm}携手{team}，专业处理人寿险、分红险、重疾险、理财险退保，帮你把交的"
    "保费一分不少拿回来。无需本人到场，全程线上办理，最快{days}个工作日到账。不成功不收费，签订保密"
    "协议。全国客户均可咨询，热线{tel}，{who}随时为您服务。",
    "我妈被业务员忽悠买了{n}份保险，每年交好几万，后来才知道根本不是存款。找了{team}帮忙投诉，他们"
    "教我们准备证据、写投诉信，前后不到一个月就全额退回了{amt}元保费。真心推荐给有同样遭遇的朋友，"
    "他们的{who}很专业也很耐心，微信{wx}，电话{tel}，提我名字就行。",
    "贷款被强制搭售保险、会员的朋友注意：根据规定，捆绑销售属于违规行为，搭售的费用可以全额退回！"
    "{team}代办{plat}等平台的搭售退费，手续简单，只需提供借款合同和扣款记录，{days}天左右出结果。"
    "已帮{n}位借款人退回费用。先退款后付费，请认准{who}，微信{wx}，其他都是冒充。",
)

TITLES: tuple[str, ...] = (
    "{plat}出金难？看这里",
    "【{plat}】受害者必看",
    "被骗了千万别放弃",
    "真实经历分享，{team}靠谱",
    "逾期的朋友进来看看",
    "停息挂账真实案例",
    "代理退保找{team}",
    "转给需要的人",
    "{who}：这些钱都能要回来",
    "求扩散！",
)

PLATFORMS = (
    "“鼎盛资本”", "「恒信金服」", "汇丰达国际平台", "“金元宝理财”", "『盛世优选』", "“聚财宝”",
    "宏远数字资产平台", "“华鑫环球”", "「富通外汇」", "“安鑫贷”", "嘉和国际交易平台", "“百利金融”",
)  # fmt: skip
TEAMS = (
    "正义追损团队", "蓝盾维权工作室", "张律师团队", "信和法务中心", "启航债务优化团队",
    "明德工作室", "“金盾”维权团队", "鑫诚法务团队", "「安信」协商团队", "远航上岸工作室",
    "和顺法律服务团队", "“守护者”追回团队",
)  # fmt: skip
FIRMS = (
    "深圳市鑫诚信息咨询有限公司", "广州恒达商务服务有限公司", "“安鑫”咨询公司",
    "东莞市恒通财税咨询服务部", "上海明德法律咨询有限公司", "杭州正和企业管理有限公司",
)  # fmt: skip
PEOPLE = ("王经理", "李老师", "陈律师", "刘顾问", "赵主任", "孙专员", "周经理", "吴老师")
CITIES = ("深圳", "广州", "东莞", "上海", "杭州", "成都", "长沙", "郑州")
WECHATS = ("xinc888", "zs_2023a", "hui-fu66", "wq88990", "ab12345cd", "dsjr_kefu", "sz-ts520")
PREFIXES = ("", "", "", "转发扩散！", "#维权# ", "🔥🔥", "急！")
# Rewordings promoters make between reposts (each repost takes a few of them).
REWORDINGS = (
    ("朋友", "家人"), ("联系", "咨询"), ("不成功不收费", "不成功不收取费用"), ("专业", "正规"),
    ("已帮助", "已帮"), ("已经", "已"), ("可以", "能"), ("正规", "合法"), ("免费", "0费用"),
    ("真的", "确实"), ("电话", "手机"), ("全国", "全国各地"), ("最快", "最短"), ("我们", "本团队"),
)  # fmt: skip

UNRELATED: tuple[str, ...] = (
    "警惕！所谓“征信修复”都是骗局，个人不良信用记录保存五年，任何机构都无权删除，请大家不要上当。",
    "请问信用卡逾期三个月了，银行打电话说要起诉，我该怎么跟银行协商分期？求有经验的朋友指点。",
    "今天终于把最后一笔网贷还清了，三年来第一次睡了个好觉，记录一下，以后再也不碰网贷了。",
    "代理退保黑产调查：有人交了几千元“服务费”，保单退了一半，剩下的钱再也要不回来。",
    "银保监会提示：警惕代理退保中的风险，消费者可通过保险公司官方渠道依法维护自身权益。",
    "我在某平台投资亏了钱，有人私信说能帮我追回，要先交五千块手续费，这是不是又一个骗局？",
    "专业代办各类贷款，房产抵押、车辆抵押、信用贷款，利息低放款快，手续简单当天可批。",
    "律师提醒：所谓“停息挂账”并非法律概念，银行是否同意个性化分期需要结合持卡人实际情况。",
    "网贷催收打电话到我单位了，领导找我谈话，现在特别焦虑，不知道该怎么办，有没有人经历过？",
    "公安机关提醒：“追损”“反诈中心工作人员”主动联系你说能帮你追回被骗资金的，都是诈骗。",
    "信用卡分期手续费到底怎么算？我算了一下实际年化利率快百分之十五了，比说的高多了。",
    "分享一下我和银行协商的过程：打客服电话说明情况，提供收入证明，最后批了六十期分期。",
    "本店长期收购二手手机、笔记本电脑，价格公道，上门回收，欢迎来电咨询。",
    "健身房老板跑路了，办的年卡还有八个月没用，会员们一起去市场监管局投诉了，等消息。",
    "保险买了五年想退，保险公司说只能退现金价值，大概是交的一半，这个合理吗？",
    "法院判决：某“债务优化”公司以帮助协商还款为名收取高额服务费，被认定构成诈骗罪。",
    "小额贷款逾期会不会坐牢？只要不是恶意透支，一般属于民事纠纷，但也要积极还款。",
    "求助：被拉进一个炒股群，导师带单前几次都赚了，后来投入二十万就提不出来了，怎么办？",
    "专业财税代理，公司注册、代理记账、税务筹划，十年经验，服务中小企业上千家。",
    "今日新闻：多地警方联合打掉一个以“征信修复”为名实施诈骗的犯罪团伙，涉案金额上千万元。",
    "听说可以通过投诉让网贷平台减免利息，我试着打了金融消费投诉热线，工作人员态度挺好的。",
    "教培机构退费难怎么办？可以先与机构协商，协商不成向教育部门或消费者协会投诉。",
    "月薪五千负债十五万，每个月还完信用卡只剩几百块生活费，真的看不到头了。",
    "提醒大家，不要相信网上所谓的内部渠道洗白征信，我花了三千块，征信报告一点没变。",
    "新人求问：网商贷和借呗哪个利息低？准备借两万装修，打算一年内还清。",
    "保险公司回访电话一定要认真听，如果当时说了不清楚，后面想以销售误导为由退保会容易很多。",
    "朋友被杀猪盘骗了三十多万，报警以后警察说尽量追，但能追回多少不好说，大家千万警惕网恋投资。",
    "招聘：金融公司招电话销售若干名，底薪加提成，有经验者优先，工作地点市中心。",
    "银行客服说可以申请延期还款，但需要提供失业证明或者医院的病历，准备材料中。",
    "第三方维权机构收费前一定要看清合同，很多所谓不成功不收费，最后各种名目扣钱。",
    "信用卡额度降了，是不是因为最近网贷查询太多？征信花了多久能恢复？",
    "某电视台曝光：一些“退费代理”冒充律师，诱导消费者恶意投诉，再从退款中抽成四成。",
    "我爸在老年保健品讲座上买了两万块的产品，想退，商家一直拖，准备去市场监管部门投诉。",
    "今天去银行打了征信报告，发现有一笔三年前的逾期，当时完全不知道，现在房贷批不下来。",
    "关于网络借贷利率上限的规定：超过合同成立时一年期贷款市场报价利率四倍的部分不受保护。",
    "有没有一起打官司的？某理财平台暴雷了，我们几十个投资人准备集体起诉，律师费平摊。",
    "装修贷被银行搭售了一份意外险，客户经理说不买不给批，这种情况能投诉吗？",
    "揭秘网上的“上岸”培训课：收费九百九，教的都是网上能搜到的协商技巧。",
    "保险代理人年终冲业绩，给我推荐了一款分红险，说比存银行划算，大家觉得靠谱吗？",
    "个人破产制度什么时候全国推行？深圳已经试点了，负债的人能不能去深圳申请？",
    "二手车贷款提前还款要收违约金吗？合同里写了百分之三，感觉不太合理。",
    "反诈中心提醒：凡是让你下载陌生软件、共享屏幕、转账到安全账户的，一律是诈骗。",
    "网贷平台的会员费到底能不能退？我借款时被默认勾选了会员，每月扣一百九十九。",
    "我被催收了两年，最后还是自己跟平台谈的，只还本金加一点利息，其实不用找中介。",
    "消费者协会发布提示：预付费消费要谨慎，单次充值金额不宜过大，保留好合同和收据。",
    "外汇平台出金一直显示审核中，已经一个月了，客服只会说耐心等待，是不是跑路了？",
    "今天陪朋友去法院立案，起诉借钱不还的同事，立案流程比想象的简单。",
    "有人在群里推荐什么债务重组专家，收费八千，说能让银行减免一半，我没敢信。",
    "信用修复正规途径：按时还款、结清欠款，不良记录自结清之日起保存五年后自动删除。",
    "分期乐逾期了两期，今天收到短信说要上门，真的会上门吗？有点害怕。",
    "招商：诚招各地代理商，产品为家用净水器，零加盟费，提供全套营销方案。",
    "在二手平台卖东西被骗了，对方说要交保证金才能解冻账户，还好我没转钱。",
    "理财经理推荐的私募产品亏了百分之四十，当初说是保本的，有录音，可以维权吗？",
    "记账第一百天：负债从二十三万降到十八万，继续加油，戒掉冲动消费。",
    "某地金融监管局通报：三家机构以“代理维权”名义非法收集消费者个人信息被查处。",
    "请问法律援助怎么申请？被网贷公司起诉了，请不起律师。",
    "美容院办的卡还剩一万多，店要转让了，说新老板不认，这种情况找谁？",
    "投资群里的“老师”天天晒收益截图，让大家跟着买原始股，看着就像骗子。",
    "信用卡年费被扣了，打电话给银行说明情况后全部退回来了，大家记得打电话问问。",
    "车贷还剩一年，最近手头紧，银行同意延期三个月，但利息照算。",
)


def reposts(seed: int = 11) -> tuple[list[str], list[str], list[int]]:
    """(titles, bodies, campaign number or -1) for 3–5 reposts of every campaign and then
    every unrelated post; the same lists for the same seed."""
    rng = random.Random(seed)
    titles: list[str] = []
    bodies: list[str] = []
    labels: list[int] = []
    for number, body in enumerate(CAMPAIGNS):
        for copy in range(3 + number % 3):
            slots = {
                "plat": rng.choice(PLATFORMS),
                "team": rng.choice(TEAMS),
                "firm": rng.choice(FIRMS),
                "who": rng.choice(PEOPLE),
                "city": rng.choice(CITIES),
                "tel": "1" + "".join(rng.choices("3456789", k=1)) + str(rng.randrange(10**9)),
                "wx": rng.choice(WECHATS) + str(rng.randrange(100)),
                "n": str(rng.choice((36, 48, 60, 120, 300, 1200, 3600))),
                "amt": str(rng.randrange(2, 90) * 1000),
                "days": str(rng.randint(3, 15)),
            }
            text = body.format(**slots)
            for old, new in rng.sample(REWORDINGS, 4):
                text = text.replace(old, new, 1)
            if copy % 3 == 1:  # re-punctuated with decorations
                text = text.replace("，", rng.choice((" ", " ✨ ", "～", "，，")), 3)
            if copy == 3:  # the closing sentence (contacts) dropped
                text = text[: text.rstrip("。").rfind("。") + 1] or text
            titles.append(rng.choice(TITLES).format(**slots))
            bodies.append(rng.choice(PREFIXES) + text)
            labels.append(number)
    for text in UNRELATED:
        titles.append(text[:12])
        bodies.append(text)
        labels.append(-1)
    return titles, bodies, labels


def stored_text(title: str, body: str) -> str:
    """The document text as analysis stores it: the title, then the body (not repeated when
    the body already starts with it)."""
    return body if not title or body.startswith(title) else f"{title}\n{body}"


# --------------------------------------------------------------------------------- the tests


def pair_scores(clusters: list[TemplateCluster], labels: list[int]) -> tuple[float, float]:
    """(recall, precision) of same-template pairs: two reposts of one campaign in one cluster."""
    truth = {
        (i, j)
        for i, j in itertools.combinations(range(len(labels)), 2)
        if labels[i] >= 0 and labels[i] == labels[j]
    }
    found = {pair for c in clusters for pair in itertools.combinations(sorted(c.doc_ids), 2)}
    hits = len(truth & found)
    return hits / len(truth), hits / len(found) if found else 1.0


def test_the_corpus_is_what_the_issue_describes() -> None:
    titles, bodies, labels = reposts()
    assert len(CAMPAIGNS) == 20 and len(UNRELATED) == 60
    assert len(set(UNRELATED)) == 60
    per_campaign = [labels.count(n) for n in range(len(CAMPAIGNS))]
    assert min(per_campaign) == 3 and max(per_campaign) == 5
    full = [len(b) for b, n in zip(bodies, labels, strict=True) if n >= 0]
    assert min(full) >= 100 and max(full) <= 250
    assert len({t for t, n in zip(titles, labels, strict=True) if n == 0}) > 1  # own titles


@pytest.mark.parametrize("seed", [11, 1, 2, 3, 4])
def test_reposts_group_with_high_recall_and_precision(seed: int) -> None:
    titles, bodies, labels = reposts(seed)
    texts = [template_body(stored_text(t, b), t) for t, b in zip(titles, bodies, strict=True)]
    recall, precision = pair_scores(cluster_templates(enumerate(texts)), labels)
    assert recall >= 0.8
    assert precision >= 0.95


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("在“鼎盛资本”投资被骗", "在「恒信金服」投资被骗"),
        ("在汇丰达国际平台投资被骗", "在宏远数字资产平台投资被骗"),
        ("加入正义追损团队，", "加入蓝盾维权工作室，"),
        ("深圳市鑫诚信息咨询有限公司正规经营", "广州恒达商务服务有限公司正规经营"),
        ("请联系王经理，电话13800138000", "请联系李老师，电话 139-1234-5678"),
        ("已帮二十四位客户，退回3000元", "已帮一百二十位客户，退回45000元"),
        ("微信xinc888", "微信hui-fu66"),
    ],
)
def test_what_campaigns_swap_is_masked(a: str, b: str) -> None:
    filler = "停息挂账个性化分期减免罚息不成功不收费" * 2  # past MIN_TEMPLATE_CHARS
    assert template_text(a + filler) == template_text(b + filler)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("专业办理停息挂账、个性化分期、减免罚息，不成功不收费，银行内部渠道", "减免罚息"),
        ("根据《保险法》的规定，销售误导的保单可以申请退保，请保留好证据", "保险法"),
        ("信用卡逾期的朋友看过来，先别慌，逾期不可怕，可怕的是不懂政策", "可怕的是不懂政策"),
    ],
)
def test_the_wording_itself_is_kept(text: str, kept: str) -> None:
    masked = template_text(text * 2)  # twice: past MIN_TEMPLATE_CHARS
    assert masked is not None and kept in masked and NAME_MASK not in masked


@pytest.mark.parametrize(
    ("text", "title", "body"),
    [
        ("受害者必看\n在鼎盛平台被骗", "受害者必看", "在鼎盛平台被骗"),
        ("在鼎盛平台被骗", "在鼎盛平台", "在鼎盛平台被骗"),  # body starts with its title
        ("在鼎盛平台被骗", "", "在鼎盛平台被骗"),
    ],
)
def test_the_title_line_is_not_compared(text: str, title: str, body: str) -> None:
    assert template_body(text, title) == body


T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_link_templates_groups_reposts_stored_with_their_titles(sqlite_engine: Engine) -> None:
    titles, bodies, labels = reposts()
    ids: list[int] = []
    with Session(sqlite_engine) as session:
        for i, (title, body) in enumerate(zip(titles, bodies, strict=True)):
            text = stored_text(title, body)
            page = repo.PageRecord(
                url=f"https://bbs.example.cn/t/{i}",
                body=f"<html><body><h1>{title}</h1>{body}</body></html>".encode(),
                fetched_at=T0 + timedelta(hours=i),
                source_id="bbs",
                title=title,
                text=text,
            )
            det = Detection("promotion", ("debt_relief",), 0.9, (), "test")
            analysis = Analysis(str(i), det, text=text, title=title)
            ids.append(repo.save_page(session, page, analysis, "lex").document_id)
        linking.link_templates(session)
        session.commit()
        template_of = dict(session.execute(select(Finding.document_id, Finding.template_id)).all())
    groups: dict[int, list[int]] = {}
    for index, doc_id in enumerate(ids):
        if template_of[doc_id] is not None:
            groups.setdefault(template_of[doc_id], []).append(index)
    clusters = [TemplateCluster(tuple(g), g[0], 1.0) for g in groups.values()]
    recall, precision = pair_scores(clusters, labels)
    assert recall >= 0.8
    assert precision >= 0.95
