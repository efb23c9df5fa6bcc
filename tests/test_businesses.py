"""Business names and USCC codes as they appear on real pages, listings and ads."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from stdnum.cn.uscc import calc_check_digit

from pipelines import businesses
from pipelines.businesses import extract_businesses, extract_uscc


def _code(body: str) -> str:
    """A valid USCC: 17 characters + the GB 32100 check character."""
    return body + calc_check_digit(body)


SEED = (
    Path(__file__).resolve().parent
    / "pages"
    / (
        "www.example-rebao.tw__caijing__20231014-5127.txt"  # a seed warning article
    )
)
VALID = _code("91440300MA5FAB12C")  # a Shenzhen company
VALID_BJ = _code("91110108MA01XK3H2")  # a Beijing (Haidian) company
VALID_Y = _code("Y1440300MA5F00001")  # authority Y (other), which stdnum alone rejects
WRONG_CHECK = VALID[:17] + ("1" if VALID[17] != "1" else "2")

# (text, [(name, form, region)]) — every name found, in order of appearance.
NAMES: list[tuple[str, list[tuple[str, str, str]]]] = [
    # --- legal-form suffixes
    ("深圳市鑫诚信息咨询有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("鑫诚信息咨询有限公司", [("鑫诚信息咨询有限公司", "company", "")]),
    ("深圳市鑫诚信息咨询有限责任公司", [("深圳市鑫诚信息咨询有限责任公司", "company", "深圳市")]),
    ("TCL科技集团股份有限公司", [("TCL科技集团股份有限公司", "company", "")]),
    (
        "广东省深圳市金盾信用管理有限公司",
        [("广东省深圳市金盾信用管理有限公司", "company", "广东省深圳市")],
    ),
    ("南山区恒信财税服务有限公司", [("南山区恒信财税服务有限公司", "company", "南山区")]),
    (
        "广西壮族自治区南宁市华融商务咨询有限公司",
        [("广西壮族自治区南宁市华融商务咨询有限公司", "company", "广西壮族自治区南宁市")],
    ),
    # --- real firms whose names hold verbs, stop words or dictionary entries
    ("华为技术有限公司", [("华为技术有限公司", "company", "")]),
    ("北京字节跳动科技有限公司", [("北京字节跳动科技有限公司", "company", "北京")]),
    ("平安普惠融资担保有限公司", [("平安普惠融资担保有限公司", "company", "")]),
    ("招联消费金融有限公司", [("招联消费金融有限公司", "company", "")]),
    ("我是马上消费金融股份有限公司的员工", [("马上消费金融股份有限公司", "company", "")]),
    # a dictionary word that jieba splits at a stop character (同城 → 同 + 城) is kept whole
    ("同城信息技术有限公司招聘客服", [("同城信息技术有限公司", "company", "")]),
    ("我在同城信息技术有限公司上班", [("同城信息技术有限公司", "company", "")]),
    # --- region in brackets (ASCII and full-width)
    ("百度在线网络技术(北京)有限公司", [("百度在线网络技术(北京)有限公司", "company", "北京")]),
    ("鑫诚(深圳市)信息咨询有限公司", [("鑫诚(深圳市)信息咨询有限公司", "company", "深圳市")]),
    ("腾讯科技(深圳)有限公司", [("腾讯科技(深圳)有限公司", "company", "深圳")]),
    ("腾讯科技（深圳）有限公司", [("腾讯科技(深圳)有限公司", "company", "深圳")]),
    ("鑫诚（广州）信息咨询有限公司", [("鑫诚(广州)信息咨询有限公司", "company", "广州")]),
    ("金盾(香港)有限公司", [("金盾(香港)有限公司", "company", "香港")]),
    ("华夏恒信（集团）有限公司", [("华夏恒信(集团)有限公司", "company", "")]),
    # --- Traditional input, full-width letters
    ("深圳市鑫誠信息諮詢有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("廣州市金盾法務諮詢有限公司", [("广州市金盾法务咨询有限公司", "company", "广州市")]),
    ("ＴＣＬ科技集團股份有限公司", [("TCL科技集团股份有限公司", "company", "")]),
    # --- branches
    (
        "中国平安财产保险股份有限公司深圳分公司",
        [("中国平安财产保险股份有限公司深圳分公司", "branch", "深圳")],
    ),
    ("招商银行股份有限公司深圳分行", [("招商银行股份有限公司深圳分行", "branch", "深圳")]),
    ("华夏银行深圳分行", [("华夏银行深圳分行", "branch", "深圳")]),
    (
        "消费者投诉了深圳市鑫诚信息咨询有限公司南山分公司",
        [("深圳市鑫诚信息咨询有限公司南山分公司", "branch", "深圳市")],
    ),
    # --- small-firm suffixes
    ("广东省深圳市南山区鑫诚商行", [("广东省深圳市南山区鑫诚商行", "shop", "广东省深圳市南山区")]),
    ("广州市天河区华信贸易商行", [("广州市天河区华信贸易商行", "shop", "广州市天河区")]),
    ("老王五金店", [("老王五金店", "shop", "")]),
    ("南山区鑫诚便利店", [("南山区鑫诚便利店", "shop", "南山区")]),
    ("鑫诚文印社的老板", [("鑫诚文印社", "shop", "")]),
    ("东莞市长安镇鑫诚五金加工厂", [("东莞市长安镇鑫诚五金加工厂", "shop", "东莞市长安镇")]),
    (
        "北京市朝阳区金盾法律咨询服务部",
        [("北京市朝阳区金盾法律咨询服务部", "shop", "北京市朝阳区")],
    ),
    (
        "上海市浦东新区金诚信息咨询经营部",
        [("上海市浦东新区金诚信息咨询经营部", "shop", "上海市浦东新区")],
    ),
    ("鑫诚信息咨询工作室", [("鑫诚信息咨询工作室", "shop", "")]),
    ("北京金杜律师事务所", [("北京金杜律师事务所", "shop", "北京")]),
    (
        "信永中和会计师事务所（特殊普通合伙）",
        [("信永中和会计师事务所(特殊普通合伙)", "shop", "")],
    ),
    ("深圳市恒信财税服务中心", [("深圳市恒信财税服务中心", "shop", "深圳市")]),
    ("平安普惠客户服务中心", [("平安普惠客户服务中心", "shop", "")]),
    ("新华书店", [("新华书店", "shop", "")]),
    ("58同城信息技术有限公司", [("58同城信息技术有限公司", "company", "")]),
    ("成都鑫诚文化传播有限公司", [("成都鑫诚文化传播有限公司", "company", "成都")]),
    ("上海浦东发展银行", [("上海浦东发展银行", "company", "")]),
    ("深圳农村商业银行", [("深圳农村商业银行", "company", "深圳")]),
    ("鑫诚汽车维修中心", [("鑫诚汽车维修中心", "shop", "")]),
    ("深圳市南山区鑫诚汽车美容店", [("深圳市南山区鑫诚汽车美容店", "shop", "深圳市南山区")]),
    ("平阳县鑫诚生猪养殖专业合作社", [("平阳县鑫诚生猪养殖专业合作社", "shop", "平阳县")]),
    ("小王工作室", [("小王工作室", "shop", "")]),
    ("重庆市渝中区鑫诚火锅店", [("重庆市渝中区鑫诚火锅店", "shop", "重庆市渝中区")]),
    (
        "厦门市思明区恒信信息咨询服务部",
        [("厦门市思明区恒信信息咨询服务部", "shop", "厦门市思明区")],
    ),
    (
        "湖南省长沙市岳麓区金诚信息咨询中心",
        [("湖南省长沙市岳麓区金诚信息咨询中心", "shop", "湖南省长沙市岳麓区")],
    ),
    (
        "安徽省合肥市蜀山区鑫诚商贸行",
        [("安徽省合肥市蜀山区鑫诚商贸行", "shop", "安徽省合肥市蜀山区")],
    ),
    (
        "杭州鑫诚网络科技有限公司宁波分公司",
        [("杭州鑫诚网络科技有限公司宁波分公司", "branch", "杭州")],
    ),
    (
        "中国工商银行股份有限公司北京朝阳支行",
        [("中国工商银行股份有限公司北京朝阳支行", "branch", "北京")],
    ),
    ("广东鑫诚律师事务所深圳分所", [("广东鑫诚律师事务所深圳分所", "branch", "广东")]),
    (
        "中国建设银行股份有限公司深圳市分行",
        [("中国建设银行股份有限公司深圳市分行", "branch", "深圳市")],
    ),
    # --- left boundary inside sentences
    (
        "近日市场监管部门依法查处了一批违规从事征信修复业务的深圳市鑫诚信息咨询有限公司",
        [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")],
    ),
    (
        f"经查，深圳市鑫诚信息咨询有限公司（统一社会信用代码：{VALID}）无征信资质",
        [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")],
    ),
    ("深圳鑫诚财税代理有限公司的法务部", [("深圳鑫诚财税代理有限公司", "company", "深圳")]),
    (
        "我们是深圳市鑫诚信息咨询有限公司的客户经理",
        [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")],
    ),
    ("投诉深圳市鑫诚信息咨询有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("知名企业深圳市金盾信息咨询有限公司", [("深圳市金盾信息咨询有限公司", "company", "深圳市")]),
    ("2023年深圳市鑫诚信息咨询有限公司成立", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    (
        "这家公司叫做广州市金诚信用管理有限公司，大家注意",
        [("广州市金诚信用管理有限公司", "company", "广州市")],
    ),
    (
        "我司是正规注册的深圳市鑫诚商务服务有限公司",
        [("深圳市鑫诚商务服务有限公司", "company", "深圳市")],
    ),
    ("请与鑫诚信息咨询有限公司联系", [("鑫诚信息咨询有限公司", "company", "")]),
    ("联系我们：鑫诚商务咨询工作室", [("鑫诚商务咨询工作室", "shop", "")]),
    ("我在鑫诚商行买的", [("鑫诚商行", "shop", "")]),
    ("状告鑫诚信息咨询有限公司", [("鑫诚信息咨询有限公司", "company", "")]),
    ("曝光恒信财税服务部", [("恒信财税服务部", "shop", "")]),
    ("公司名称：深圳市鑫诚信息咨询有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("加入恒信财税服务部，月入过万", [("恒信财税服务部", "shop", "")]),
    # --- several names in one text
    (
        "深圳市鑫诚信息咨询有限公司和广州市金盾法务咨询有限公司联合举办",
        [
            ("深圳市鑫诚信息咨询有限公司", "company", "深圳市"),
            ("广州市金盾法务咨询有限公司", "company", "广州市"),
        ],
    ),
    (
        "鑫诚信息咨询有限公司金盾信用管理有限公司",
        [("鑫诚信息咨询有限公司", "company", ""), ("金盾信用管理有限公司", "company", "")],
    ),
    (
        "合作单位：深圳市鑫诚信息咨询有限公司、老王五金店、【金诚法务】",
        [
            ("深圳市鑫诚信息咨询有限公司", "company", "深圳市"),
            ("老王五金店", "shop", ""),
            ("金诚法务", "brand", ""),
        ],
    ),
    # --- brand-only mentions in ads
    ("联系鑫诚法务，专业处理债务", [("鑫诚法务", "brand", "")]),
    ("停息挂账找金盾信息咨询，微信同号", [("金盾信息咨询", "brand", "")]),
    ("各位老铁，逾期了别慌，恒信财税帮你协商还款", [("恒信财税", "brand", "")]),
    ("XX财税代理记账", [("XX财税", "brand", "")]),
    ("华融企业管理咨询", [("华融企业管理咨询", "brand", "")]),
    ("金诚信法务团队为您服务", [("金诚信法务", "brand", "")]),
    ("深圳鑫诚法务", [("深圳鑫诚法务", "brand", "深圳")]),
    ("专业征信修复，联系电话13800138000，鑫诚法务为您服务", [("鑫诚法务", "brand", "")]),
    ("【鑫诚法务】专业停息挂账【联系方式】", [("鑫诚法务", "brand", "")]),
    ("【金诚】全国可办", [("金诚", "brand", "")]),
    ("鑫誠法務，專業協商還款", [("鑫诚法务", "brand", "")]),
    ("鑫诚咨询电话：13800138000", [("鑫诚咨询", "brand", "")]),
    ("【深圳鑫诚法务】", [("深圳鑫诚法务", "brand", "深圳")]),
    ("🔥鑫诚法务🔥金盾咨询-专业停息挂账", [("鑫诚法务", "brand", ""), ("金盾咨询", "brand", "")]),
    ("鑫诚法务工作室", [("鑫诚法务工作室", "shop", "")]),
    ("深圳市鑫诚\u200b信息咨询有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    # --- names written in parts: reported compact, the span covers the separators
    ("深圳市 鑫诚 信息咨询 有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("深圳市鑫诚信息咨询有限 公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("广州·安信商务服务有限公司", [("广州安信商务服务有限公司", "company", "广州")]),
    ("东莞市恒通 财税咨询服务部", [("东莞市恒通财税咨询服务部", "shop", "东莞市")]),
    ("深圳市\u3000鑫诚信息咨询有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("深圳市・鑫诚信息咨询有限公司", [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")]),
    ("鑫誠 信息諮詢 有限公司", [("鑫诚信息咨询有限公司", "company", "")]),
    (
        "广东省 深圳市 鑫诚信息咨询有限公司",
        [("广东省深圳市鑫诚信息咨询有限公司", "company", "广东省深圳市")],
    ),
    ("华为 技术有限公司", [("华为技术有限公司", "company", "")]),
    ("腾讯科技（深圳） 有限公司", [("腾讯科技(深圳)有限公司", "company", "深圳")]),
    ("华夏银行 深圳分行", [("华夏银行深圳分行", "branch", "深圳")]),
    (
        "招商银行 股份有限公司 深圳分行",
        [("招商银行股份有限公司深圳分行", "branch", "深圳")],
    ),
    (
        "鑫诚 信息咨询 有限公司（特殊普通合伙）",
        [("鑫诚信息咨询有限公司(特殊普通合伙)", "company", "")],
    ),
    (
        "【停息挂账】深圳市 鑫诚 信息咨询 有限公司 专业团队 微信同号",
        [("深圳市鑫诚信息咨询有限公司", "company", "深圳市")],
    ),
    (
        "深圳市 鑫诚信息咨询有限公司 和 广州市 金盾法务咨询有限公司",
        [
            ("深圳市鑫诚信息咨询有限公司", "company", "深圳市"),
            ("广州市金盾法务咨询有限公司", "company", "广州市"),
        ],
    ),
    # --- common words as brands: with a legal form, or in 【】/quotes before a service claim
    ("平安债务协商中心", [("平安债务协商中心", "shop", "")]),
    ("阳光信用修复工作室", [("阳光信用修复工作室", "shop", "")]),
    ("幸福财税服务部", [("幸福财税服务部", "shop", "")]),
    ("阳光法务有限公司", [("阳光法务有限公司", "company", "")]),
    ("【阳光法务】专业停息挂账，不成功不收费", [("阳光法务", "brand", "")]),
    ("【阳光法务】專業停息掛賬", [("阳光法务", "brand", "")]),
    ("“幸福法务”协商还款，微信同号", [("幸福法务", "brand", "")]),
    ("「平安财税」：征信修复、消除逾期", [("平安财税", "brand", "")]),
    ("『和谐财税』 个性化分期 协商还款", [("和谐财税", "brand", "")]),
    ("【诚信法务】代理退保，全额退", [("诚信法务", "brand", "")]),
    ("【深圳阳光法务】停息挂账", [("深圳阳光法务", "brand", "深圳")]),
    ("警惕“阳光法务”代理维权骗局", [("阳光法务", "brand", "")]),
]

NO_NAMES: list[str] = [
    "本公司专业处理征信问题",
    "在中心城区开设门店",
    "欢迎到店咨询",
    "去银行办理",
    "有限公司",
    "该公司涉嫌虚假宣传",
    "服务中心",
    "客户服务中心",
    "有限公司注册流程",
    "公司注册需要哪些材料",
    "本店专业办理信用卡分期",
    "我们进行了全面的调查",
    "我在中心医院上班",
    "银行工作人员",
    "他在商店门口等我",
    "这个工厂很大",
    "市中心的房价",
    "全部门店都在营业",
    "我行积极开展金融知识宣传",
    "各大银行都可以办理",
    "社会各界共同参与",
    "以客户为中心",
    "公司内部管理",
    "【征信修复】【专业团队】",
    "免费咨询，欢迎咨询，在线咨询，电话咨询",
    "法律咨询请拨打12348",
    "心理咨询师",
    "某某咨询公司",
    "某科技有限公司",
    "于某经营公司与工商注册信息不一致",
    "市监局要求其停止开展业务",
    "平台进行了调查",
    "个人工作室",
    "律师事务所",
    "各大律师事务所",
    "本工作室专业代理",
    "该事务所已注销",
    "专业法务",
    "资深法务团队",
    "公司法务",
    "财税咨询",
    "代理记账财税",
    "速来咨询",
    "加微咨询",
    "一对一咨询",
    "信用卡逾期咨询",
    "停息挂账法务",
    "上岸法务",
    "我们的店",
    "开了一家小店",
    "这家店",
    "淘宝店铺",
    "本行",
    "我公司在北京市朝阳区设有办事处",
    # from saved forum and news pages
    "自己打银行客服电话协商就行，说明收入下降的真实情况",
    "用户可以在这里发布动态、结识同行、交流经营经验",
    "持卡人完全可以自行与银行协商",
    "自己和银行协商",
    "到中国人民银行征信中心查询",
    "各地人民银行",
    "商业银行网上银行、手机银行均可查询",
    "",
    # separators that are not inside a name: nothing to bridge
    "我们是 有限公司",
    "全国可办 有限公司",
    "专业团队 有限公司",
    "欢迎 信息咨询有限公司",
    "上岸 信息咨询有限公司",
    "专业征信修复 信用管理有限公司",
    "停息挂账 个性化分期 服务中心",
    "征信修复・停息挂账・个性化分期",
    "深圳市 鑫诚",
    # common words in prose, or without a bracket and a service claim
    "阳光法务",
    "幸福法务",
    "阳光下的法务问题",
    "平安健康",
    "祝您平安健康，阖家幸福",
    "阳光法务专业停息挂账",
    "【阳光法务】",
    "【阳光法务】退费流程",
    "“阳光法务”这个说法不准确",
    "【热线咨询】停息挂账",
    "【免费咨询】停息挂账",
    "【专业法务】停息挂账",
    "【银行法务】停息挂账",
    "【专家法务】停息挂账",
    "【上岸法务】停息挂账",
]


@pytest.mark.parametrize(("text", "expected"), NAMES)
def test_names(text: str, expected: list[tuple[str, str, str]]) -> None:
    found = extract_businesses(text)
    assert [(b.name, b.form, b.region) for b in found] == expected
    for b in found:
        assert text[b.start : b.end] == b.raw


@pytest.mark.parametrize("text", NO_NAMES)
def test_no_names(text: str) -> None:
    assert extract_businesses(text) == []


# (text, [raw]) — what the names quote: a bridged name keeps its separators; words before a
# separator that are not part of the name stay out ("联系 ", "我们是 ").
RAWS: list[tuple[str, list[str]]] = [
    ("深圳市 鑫诚 信息咨询 有限公司", ["深圳市 鑫诚 信息咨询 有限公司"]),
    ("深圳市鑫诚信息咨询有限 公司的客户经理", ["深圳市鑫诚信息咨询有限 公司"]),
    ("广州·安信商务服务有限公司", ["广州·安信商务服务有限公司"]),
    ("东莞市恒通 财税咨询服务部", ["东莞市恒通 财税咨询服务部"]),
    ("深圳市\u3000鑫诚信息咨询有限公司", ["深圳市\u3000鑫诚信息咨询有限公司"]),
    ("联系 深圳市鑫诚信息咨询有限公司", ["深圳市鑫诚信息咨询有限公司"]),
    ("联系 鑫诚 信息咨询有限公司", ["鑫诚 信息咨询有限公司"]),
    ("我们是 深圳市 鑫诚信息咨询有限公司的员工", ["深圳市 鑫诚信息咨询有限公司"]),
    ("征信修复 停息挂账 鑫诚信息咨询有限公司", ["鑫诚信息咨询有限公司"]),
    ("停息挂账 金盾 信用管理有限公司", ["金盾 信用管理有限公司"]),
    ("我们是正规公司 鑫诚信息咨询有限公司", ["鑫诚信息咨询有限公司"]),
    ("北京 上海 深圳市鑫诚信息咨询有限公司", ["深圳市鑫诚信息咨询有限公司"]),
    ("2023 深圳市鑫诚信息咨询有限公司", ["深圳市鑫诚信息咨询有限公司"]),
    # two separators, or a line break: a layout break, not a name part
    ("深圳市  鑫诚信息咨询有限公司", ["鑫诚信息咨询有限公司"]),
    ("深圳市\n鑫诚信息咨询有限公司", ["鑫诚信息咨询有限公司"]),
    ("深圳市鑫诚信息咨询有限\n公司", ["深圳市鑫诚信息咨询"]),  # a brand, as before
    # one-character forms (行, 店, 部) are not bridged for: 进行, 银行 … are too common
    ("老王 五金店", []),
]


@pytest.mark.parametrize(("text", "raws"), RAWS)
def test_raw_spans(text: str, raws: list[str]) -> None:
    found = extract_businesses(text)
    assert [b.raw for b in found] == raws
    for b in found:
        assert text[b.start : b.end] == b.raw
        assert not set(b.name) & set(" ·・\u3000")


def test_spans_index_the_original_text() -> None:
    text = "經查，\u200b深圳市鑫誠信息諮詢有限公司（以下簡稱鑫誠）于2021年成立。"
    [b] = extract_businesses(text)
    assert b.raw == "深圳市鑫誠信息諮詢有限公司"
    assert text[b.start : b.end] == b.raw
    assert b.name == "深圳市鑫诚信息咨询有限公司"


def test_sorted_without_overlaps() -> None:
    text = "鑫诚法务即深圳市鑫诚信息咨询有限公司，其南山分店为鑫诚便利店。恒信财税亦同。" * 3
    found = extract_businesses(text)
    starts = [b.start for b in found]
    assert starts == sorted(starts)
    assert all(a.end <= b.start for a, b in itertools.pairwise(found))
    assert "深圳市鑫诚信息咨询有限公司" in {b.name for b in found}


def test_seed_article_names_no_firm() -> None:
    """The seed warning article names a lender brand and an anonymized firm only (某地一家…公司)."""
    text = SEED.read_text(encoding="utf-8")
    assert [b.name for b in extract_businesses(text)] == []


# --- jieba start-up cache: results never depend on it

_RUN_EXTRACTION = """
import json, sys
from pipelines.businesses import extract_businesses
for text in json.loads(sys.stdin.read()):
    found = [(b.name, b.form, b.region, b.raw, b.start, b.end) for b in extract_businesses(text)]
    print(json.dumps(found, ensure_ascii=False))
"""
ROOT = Path(__file__).resolve().parents[1]
CACHE_TEXTS = [t for t, _ in NAMES] + NO_NAMES + [t for t, _ in RAWS]


def _extract_in_subprocess(cache_home: Path) -> str:
    """Names found in CACHE_TEXTS by a fresh process whose cache home is `cache_home`."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN_EXTRACTION],
        input=json.dumps(CACHE_TEXTS),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
        check=True,
    )
    return done.stdout


def test_cold_warm_and_garbled_cache_give_identical_results(tmp_path: Path) -> None:
    cold = _extract_in_subprocess(tmp_path)  # empty cache home: computed, then written
    [cache] = (tmp_path / "greywatch").glob("jieba-*.bin")
    assert _extract_in_subprocess(tmp_path) == cold  # read back
    cache.write_bytes(b"greywatch-jieba\x00" + os.urandom(4096))  # garbage after the magic
    assert _extract_in_subprocess(tmp_path) == cold
    assert cache.stat().st_size > 1_000_000  # rebuilt and rewritten
    assert len(cold.splitlines()) == len(CACHE_TEXTS)


def test_prepared_state_equals_posseg_and_add_word(tmp_path: Path) -> None:
    """Tokenizer state and POS subset are the same without a cache (unwritable cache home),
    with a cold and with a warm one, and equal the old way: add_word on a fresh tokenizer
    and the full jieba.posseg table."""
    import jieba
    import jieba.posseg

    rules = businesses._rules()
    ref = jieba.Tokenizer()
    ref.initialize()
    dictionary_freq = dict(ref.FREQ)
    for word in businesses._added_words(rules):
        ref.add_word(word)
    kept, common = businesses._pos_kept(rules)
    ref_tags = {
        w: tag
        for w, tag in jieba.posseg.dt.word_tag_tab.items()
        if tag in kept
        or (tag in common and dictionary_freq.get(w, 0) >= businesses.COMMON_WORD_FREQ)
    }
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for cache, attempt in ((blocker, "unwritable"), (tmp_path, "cold"), (tmp_path, "warm")):
        tok = jieba.Tokenizer()
        tags = businesses._prepare(tok, jieba.__version__, rules, cache)
        assert (tok.FREQ, tok.total, tags) == (ref.FREQ, ref.total, ref_tags), attempt
    assert len(list(tmp_path.glob("jieba-*.bin"))) == 1


# (text, [(code, valid, raw, reason prefix)])
USCC: list[tuple[str, list[tuple[str, bool, str, str]]]] = [
    (f"统一社会信用代码：{VALID}", [(VALID, True, VALID, "")]),
    (f"营业执照 {VALID_BJ} 已年检", [(VALID_BJ, True, VALID_BJ, "")]),
    (f"统一社会信用代码：{WRONG_CHECK}", [(WRONG_CHECK, False, WRONG_CHECK, "bad check")]),
    (f"注册信息 {WRONG_CHECK} 可查", [(WRONG_CHECK, False, WRONG_CHECK, "bad check")]),
    (f"税号 {VALID[:17]}", [(VALID[:17], False, VALID[:17], "bad length")]),
    (f"纳税人识别号：{VALID}1", [(VALID + "1", False, VALID + "1", "bad length")]),
    (f"信用代码{VALID.lower()}", [(VALID, True, VALID.lower(), "")]),
    (
        "统一社会信用代码："
        + VALID.translate(str.maketrans("0123456789ABCDEFM", "０１２３４５６７８９ＡＢＣＤＥＦＭ")),
        [
            (
                VALID,
                True,
                VALID.translate(
                    str.maketrans("0123456789ABCDEFM", "０１２３４５６７８９ＡＢＣＤＥＦＭ")
                ),
                "",
            )
        ],
    ),
    (
        f"代码 {VALID[:4]} {VALID[4:8]} {VALID[8:12]} {VALID[12:16]} {VALID[16:]} 电话",
        [(VALID, True, f"{VALID[:4]} {VALID[4:8]} {VALID[8:12]} {VALID[12:16]} {VALID[16:]}", "")],
    ),
    (
        f"统一社会信用代码为 {VALID[:8]}-{VALID[8:]}",
        [(VALID, True, f"{VALID[:8]}-{VALID[8:]}", "")],
    ),
    (
        f"税号：{VALID} tel 13800138000",
        [(VALID, True, VALID, "")],
    ),
    (
        "统一社会信用代码：91440300MA5FAB12O1",
        [("91440300MA5FAB12O1", False, "91440300MA5FAB12O1", "bad charset")],
    ),
    (f"机构代码 {VALID_Y}", [(VALID_Y, True, VALID_Y, "")]),
    (f"统一社会信用代码（{VALID}）", [(VALID, True, VALID, "")]),
    (
        "注册号/统一社会信用代码：440301000123456",
        [("440301000123456", False, "440301000123456", "bad length")],
    ),
    ("税号：无，信用代码 3 位", []),
    ("身份证号：44030119900101123X", []),
    ("客户440301199001011234来电", []),
    (
        "统一社会信用代码：44030119900101123X",
        [("44030119900101123X", False, "44030119900101123X", "bad check")],
    ),
    ("订单编号123456789012345678", []),
    ("手机13800138000，银行卡6222021234567890123", []),
    (f"https://example.com/item?id=A{VALID}", []),
    (f"两家：{VALID}、{VALID_BJ}", [(VALID, True, VALID, ""), (VALID_BJ, True, VALID_BJ, "")]),
]


@pytest.mark.parametrize(("text", "expected"), USCC)
def test_uscc(text: str, expected: list[tuple[str, bool, str, str]]) -> None:
    found = extract_uscc(text)
    got = [
        (u.code, u.valid, u.raw, u.reason[: len(want[3])])
        for u, want in zip(found, expected, strict=False)
    ]
    assert len(found) == len(expected)
    assert got == expected
    for u in found:
        assert text[u.start : u.end] == u.raw
        assert bool(u.reason) != u.valid
