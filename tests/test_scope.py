"""Scope verdicts: registered 经营范围 vs the advertised service, with the quoted reason."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from greywatch.errors import ConfigError
from pipelines.scope import load_rules, scope_verdict, split_exclusions

INFO = "信息咨询服务（不含许可类信息咨询服务）；企业管理咨询；商务信息咨询"
CREDIT = "信用管理服务（不含征信业务）；企业信用评估评级服务"
LAW = "法律咨询（不含律师事务所业务）"
LAWFIRM = "法律咨询；法律事务代理；诉讼代理（凭律师事务所执业许可证经营）"
DEBT = "债务咨询；债务重组咨询；企业管理咨询（不含许可类信息咨询服务）"
INSURANCE = "保险代理业务（凭有效许可证经营）；保险咨询"


@dataclass
class Reg:
    name: str = "深圳市鑫诚信息咨询有限公司"
    status: str = "存续"
    scope: str = INFO


@pytest.mark.parametrize(
    ("status", "scope", "categories", "verdict", "in_reason"),
    [
        # credit repair can never be in scope, whatever the registered text says
        ("存续", INFO, ["credit_repair"], "out_of_scope", "任何登记经营范围都不能涵盖"),
        ("存续", CREDIT, ["credit_repair"], "out_of_scope", "信用管理服务（不含征信业务）"),
        (
            "存续",
            "征信业务（凭中国人民银行备案经营）",
            ["credit_repair"],
            "out_of_scope",
            "征信修复",
        ),
        (
            "存续",
            "信用修复；企业管理咨询",
            ["credit_repair"],
            "out_of_scope",
            "登记机关不予登记",
        ),
        (
            "存续",
            "信用修复；企业管理咨询",
            ["credit_repair"],
            "out_of_scope",
            "经营范围列有信用修复",
        ),
        ("在业", LAWFIRM, ["credit_repair"], "out_of_scope", "法律事务代理"),
        # debt relief: a 信息咨询 firm does not cover it; a 债务咨询 registration does
        ("存续", INFO, ["debt_relief"], "out_of_scope", "“不含许可类信息咨询服务”"),
        ("存续", CREDIT, ["debt_relief"], "out_of_scope", "需登记债务咨询"),
        ("存续", DEBT, ["debt_relief"], "in_scope", "债务咨询"),
        (
            "存续",
            "债务咨询（不含债务咨询中的金融业务）",
            ["debt_relief"],
            "out_of_scope",
            "不含债务咨询",
        ),
        ("存续", LAWFIRM, ["debt_relief"], "in_scope", "律师事务所执业许可证"),
        # refunds: only a licensed insurance agency or law firm
        ("存续", INFO, ["refund_agency"], "out_of_scope", "代理退保"),
        ("存续", INSURANCE, ["refund_agency"], "in_scope", "保险代理业务许可"),
        (
            "存续",
            "保险咨询（不含保险代理、保险经纪业务）",
            ["refund_agency"],
            "out_of_scope",
            "不含保险代理",
        ),
        # complaint proxying: 法律咨询 without lawyers' business does not cover it
        ("存续", LAW, ["complaint_agency"], "out_of_scope", "“不含律师事务所业务”"),
        ("存续", LAWFIRM, ["complaint_agency"], "in_scope", "法律事务代理"),
        (
            "存续",
            "法律咨询；法律事务代理（不含律师事务所业务）",
            ["complaint_agency"],
            "out_of_scope",
            "不含律师事务所业务",
        ),
        # several categories: every one must be covered
        ("存续", LAWFIRM, ["complaint_agency", "credit_repair"], "out_of_scope", "征信修复"),
        ("存续", LAWFIRM, ["complaint_agency", "debt_relief"], "in_scope", "代理维权"),
        # dead firms: the status decides, quoted
        ("注销", INFO, ["debt_relief"], "inactive", "“注销”"),
        ("吊销，未注销", INFO, ["credit_repair"], "inactive", "吊销"),
        ("迁出", INFO, ["refund_agency"], "inactive", "迁出"),
        ("撤销", INFO, ["complaint_agency"], "inactive", "撤销"),
        ("停业", INFO, [], "inactive", "停业"),
        # live firm, nothing advertised to compare (an analyst's list of names)
        ("存续（在营、开业、在册）", INFO, [], "", "无可比对的宣传服务"),
        ("存续", INFO, ["unknown_category"], "", "无可比对的宣传服务"),
        # restricted words are quoted as a licence caveat
        (
            "存续",
            "债务咨询；金融信息服务",
            ["debt_relief"],
            "in_scope",
            "经营范围中的“金融”须",
        ),
    ],
)
def test_scope_verdict(
    status: str, scope: str, categories: list[str], verdict: str, in_reason: str
) -> None:
    v = scope_verdict(Reg(status=status, scope=scope), categories)
    assert v.verdict == verdict
    assert in_reason in v.reason
    if verdict in ("out_of_scope", "in_scope"):
        assert scope[:20] in v.reason  # the registered text is quoted


def test_not_registered() -> None:
    v = scope_verdict(None, ["credit_repair"])
    assert v.verdict == "not_registered"


def test_long_scope_is_cut_in_the_quote() -> None:
    scope = "；".join(f"第{i}项企业管理咨询服务" for i in range(100))
    v = scope_verdict(Reg(scope=scope), ["credit_repair"])
    assert v.verdict == "out_of_scope"
    assert "…”" in v.reason and len(v.reason) < 600


@pytest.mark.parametrize(
    ("scope", "granted_has", "excluded"),
    [
        (INFO, "企业管理咨询", ["许可类信息咨询服务"]),
        (CREDIT, "企业信用评估评级服务", ["征信业务"]),
        (
            "信息咨询（不含许可类信息咨询服务、征信业务）",
            "信息咨询",
            ["许可类信息咨询服务、征信业务"],
        ),
        ("企业管理（依法须经批准的项目除外）", "企业管理", ["依法须经批准的项目"]),
        ("企业管理咨询", "企业管理咨询", []),
    ],
)
def test_split_exclusions(scope: str, granted_has: str, excluded: list[str]) -> None:
    granted, found = split_exclusions(scope, load_rules().exclusion_markers)
    assert granted_has in granted
    assert found == excluded
    for text in excluded:
        assert text not in granted


def test_bad_rules_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "scope_rules.yaml"
    bad.write_text("categories: [not, a, mapping]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"scope_rules\.yaml"):
        load_rules(bad)
