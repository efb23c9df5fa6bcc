"""Company names: the matching key and the region | brand core | industry | form split."""

from __future__ import annotations

import pytest

from pipelines.names import (
    NameParts,
    area_code_city,
    bare_region_prefix,
    find_region,
    normalize_name,
    split_name,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("深圳市鑫诚信息咨询有限公司", "深圳市鑫诚信息咨询有限公司"),
        ("深圳市鑫誠信息諮詢有限公司", "深圳市鑫诚信息咨询有限公司"),  # Traditional
        ("金盾（北京）信用管理有限公司", "金盾(北京)信用管理有限公司"),  # full-width brackets
        ("金盾【北京】信用管理有限公司", "金盾(北京)信用管理有限公司"),
        ("金盾〔北京〕信用管理有限公司", "金盾(北京)信用管理有限公司"),
        ("深圳市 鑫诚 信息咨询 有限公司", "深圳市鑫诚信息咨询有限公司"),  # spaces
        ("深圳市鑫诚信息咨询有限责任公司", "深圳市鑫诚信息咨询有限公司"),
        ("深圳市鑫诚信息咨询股份有限公司", "深圳市鑫诚信息咨询股份有限公司"),  # stays distinct
        ("ＡＢＣ咨询有限公司", "abc咨询有限公司"),  # full-width, lower-cased
        ("鑫诚\u200b信息咨询", "鑫诚信息咨询"),  # zero-width space
        ("鑫诚·信息咨询", "鑫诚信息咨询"),
    ],
)
def test_normalize_name(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


@pytest.mark.parametrize(
    ("name", "region", "brand", "industry", "form"),
    [
        # the demo world
        ("深圳市鑫诚信息咨询有限公司", "深圳", "鑫诚", "信息咨询", "有限公司"),
        ("深圳市鑫城企业管理咨询有限公司", "深圳", "鑫城", "企业管理咨询", "有限公司"),
        ("广州市安信商务服务有限公司", "广州", "安信", "商务服务", "有限公司"),
        ("金盾(北京)信用管理有限公司", "北京", "金盾", "信用管理", "有限公司"),
        ("金盾（上海）信用管理有限公司", "上海", "金盾", "信用管理", "有限公司"),
        ("东莞市恒通财税咨询服务部", "东莞", "恒通", "财税咨询", "服务部"),
        ("杭州正信法律咨询有限公司", "杭州", "正信", "法律咨询", "有限公司"),
        # region prefixes with and without suffix, chains, districts
        ("深圳鑫诚信息咨询有限公司", "深圳", "鑫诚", "信息咨询", "有限公司"),
        ("广东省深圳市南山区鑫诚信息咨询有限公司", "深圳", "鑫诚", "信息咨询", "有限公司"),
        ("广东深圳鑫诚咨询有限公司", "深圳", "鑫诚", "咨询", "有限公司"),
        ("南山区鑫诚咨询", "深圳", "鑫诚", "咨询", ""),
        ("上海市浦东新区金盾信用管理有限公司", "上海", "金盾", "信用管理", "有限公司"),
        ("佛山市禅城区信达商务服务部", "佛山", "信达", "商务", "服务部"),  # unlisted district
        ("苏州工业园区鼎信财税服务有限公司", "苏州", "鼎信", "财税服务", "有限公司"),
        ("浙江正信法律咨询有限公司", "浙江", "正信", "法律咨询", "有限公司"),  # province only
        ("北京鑫诚科技有限公司", "北京", "鑫诚", "科技", "有限公司"),
        ("天津市诚信通商务服务有限公司", "天津", "诚信通", "商务服务", "有限公司"),
        # bare names that are also brand words are kept unless written with their suffix
        ("中山鑫诚咨询", "", "中山鑫诚", "咨询", ""),
        ("中山市鑫诚咨询", "中山", "鑫诚", "咨询", ""),
        ("东方财富信息咨询有限公司", "", "东方财富", "信息咨询", "有限公司"),
        # bracketed region or form inside the name
        ("金盾(深圳)保安服务有限公司", "深圳", "金盾", "保安服务", "有限公司"),
        ("正信(有限合伙)", "", "正信", "", "有限合伙"),
        ("鑫诚(国际)信息咨询有限公司", "", "鑫诚", "国际信息咨询", "有限公司"),
        ("金新(普洱)信息咨询有限公司", "普洱", "金新", "信息咨询", "有限公司"),  # in brackets
        ("吉林博道信息科技服务部", "", "吉林博道", "信息科技", "服务部"),  # 吉林 bare: a brand?
        # branches carry their own city
        ("深圳市鑫诚信息咨询有限公司广州分公司", "广州", "鑫诚", "信息咨询", "分公司"),
        ("深圳市鑫诚信息咨询有限公司广州市分公司", "广州", "鑫诚", "信息咨询", "分公司"),
        # Traditional, full-width, spaces
        ("東莞市恆通財稅諮詢服務部", "东莞", "恒通", "财税咨询", "服务部"),
        ("深圳市 鑫誠 資訊", "深圳", "鑫诚资讯", "", ""),
        # legal forms
        ("北京鑫诚有限责任公司", "北京", "鑫诚", "", "有限公司"),
        ("深圳市鑫诚股份有限公司", "深圳", "鑫诚", "", "股份有限公司"),
        ("北京盈科正信律师事务所", "北京", "盈科正信", "律师", "事务所"),
        ("杭州阿拉丁网络科技有限公司", "杭州", "阿拉丁", "网络科技", "有限公司"),
        ("重庆市安诚财税咨询有限公司", "重庆", "安诚", "财税咨询", "有限公司"),
        ("成都蓉信商务服务有限公司", "成都", "蓉信", "商务服务", "有限公司"),
        ("深圳市和信债务咨询有限公司", "深圳", "和信", "债务咨询", "有限公司"),
        ("广州市鑫诚咨询中心", "广州", "鑫诚", "咨询", "中心"),
        ("鑫诚工作室", "", "鑫诚", "", "工作室"),
        ("鑫诚商行", "", "鑫诚", "", "商行"),
        # brand-only mentions as ads write them
        ("鑫诚咨询", "", "鑫诚", "咨询", ""),
        ("金盾信用", "", "金盾", "信用", ""),
        ("金盾信用上海", "上海", "金盾", "信用", ""),
        ("正信法务", "", "正信", "法务", ""),
        ("鑫诚", "", "鑫诚", "", ""),
        ("深圳鑫诚", "深圳", "鑫诚", "", ""),
        # never a brand shorter than two characters
        ("信息咨询有限公司", "", "信息", "咨询", "有限公司"),
        ("深圳市区块链科技有限公司", "深圳", "区块链", "科技", "有限公司"),
    ],
)
def test_split_name(name: str, region: str, brand: str, industry: str, form: str) -> None:
    assert split_name(name) == NameParts(region, brand, industry, form)


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("广东省深圳市福田区福华三路88号", "深圳"),
        ("上海市徐汇区漕溪北路88号", "上海"),
        ("浙江省杭州市西湖区文三路259号", "杭州"),
        ("北京市朝阳区建国路93号", "北京"),
        ("某某路88号", ""),
    ],
)
def test_find_region_in_address(text: str, region: str) -> None:
    assert find_region(text) == region


@pytest.mark.parametrize(
    ("brand", "expected"),
    [
        ("吴忠飞兴", ("吴忠", "飞兴")),
        ("中山鑫诚", ("中山", "鑫诚")),
        ("东方", None),
        ("鑫诚", None),
    ],
)
def test_bare_region_prefix(brand: str, expected: tuple[str, str] | None) -> None:
    assert bare_region_prefix(brand) == expected


@pytest.mark.parametrize(
    ("code", "city"), [("021", "上海"), ("0755", "深圳"), ("010", "北京"), ("0999", "")]
)
def test_area_code_city(code: str, city: str) -> None:
    assert area_code_city(code) == city
