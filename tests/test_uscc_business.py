"""A code identifies the firm: an ad printing its USCC but no firm name gives a business,
matched to its registration by the code and scope-checked (real analysis, real SQLite, the
bundled sample registry imported)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipelines.analyze import analyze_text
from pipelines.businesses import extract_businesses
from pipelines.matching import match_business
from pipelines.matching_index import RegistryIndex
from storage import repo
from storage.matching import match_entities
from storage.models import BusinessMatch, Entity, Registration
from storage.registry import import_registry

SAMPLE_REGISTRY = Path(__file__).resolve().parents[1] / "storage" / "data" / "sample_registry.csv"
XINCHENG = "91440300UX0AEH7Y1P"  # 深圳市鑫诚信息咨询有限公司: 信息咨询, 存续
ANXIN = "91440100KETQ1UKWUY"  # 广州市安信商务服务有限公司: 注销
UNKNOWN = "91440300MA5F0QXW06"  # valid, not in the sample registry
BAD_CHECK = "91440300UX0AEH7Y1A"  # XINCHENG with a wrong check character

AD = (
    "本公司（统一社会信用代码：{code}）专业办理征信修复，逾期记录快速消除，不成功不收费，"
    "电话13800138000。"
)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (AD.format(code=XINCHENG), [XINCHENG]),
        ("本公司信用代码 9144 0300 UX0A EH7Y 1P，代理退保全额退", [XINCHENG]),
        (AD.format(code=BAD_CHECK), []),  # an invalid code identifies nothing
        (
            f"深圳市鑫诚信息咨询有限公司（统一社会信用代码：{XINCHENG}）办理征信修复",
            ["深圳市鑫诚信息咨询有限公司"],
        ),
        ("专业办理征信修复，逾期记录快速消除，不成功不收费，订单号91440300UX0AEH7Y1P", []),
    ],
    ids=["labelled-code-no-name", "grouped-code", "invalid-code", "named-firm-stays", "order-no"],
)
def test_a_valid_code_without_a_name_is_a_business(text: str, names: list[str]) -> None:
    assert [b.name for b in extract_businesses(text)] == names


@pytest.mark.parametrize(
    ("code", "method", "registered", "verdict"),
    [
        (XINCHENG, "uscc", "深圳市鑫诚信息咨询有限公司", "out_of_scope"),
        (ANXIN, "uscc", "广州市安信商务服务有限公司", "inactive"),
        (UNKNOWN, "none", None, "not_registered"),
    ],
    ids=["registered-out-of-scope", "registered-inactive", "not-in-the-registry"],
)
def test_code_only_ad_is_matched_by_code_and_scope_checked(
    sqlite_engine: Engine, code: str, method: str, registered: str | None, verdict: str
) -> None:
    import_registry(sqlite_engine, SAMPLE_REGISTRY)
    text = AD.format(code=code)
    analysis = analyze_text(text, doc_id="ad")
    assert analysis.kind == "promotion"
    assert [b.name for b in analysis.businesses] == [code]
    with Session(sqlite_engine) as session:
        page = repo.PageRecord(
            url="https://bbs.example.cn/t/1",
            body=f"<html><body>{text}</body></html>".encode(),
            fetched_at=datetime(2026, 11, 1, tzinfo=UTC),
            source_id="bbs",
            text=text,
        )
        repo.save_page(session, page, analysis, "lex")
        stats = match_entities(session)
        session.commit()
        assert stats.entities == 1
        match, entity = session.execute(
            select(BusinessMatch, Entity).join(Entity, Entity.id == BusinessMatch.entity_id)
        ).one()
        assert (entity.kind, entity.key) == ("business", code)
        reg = session.get(Registration, match.registration_id) if match.registration_id else None
        assert (match.method, reg.name if reg else None) == (method, registered)
        assert match.verdict == verdict
        assert code in match.reason
        if verdict == "out_of_scope":
            assert "经营范围" in match.verdict_reason


def test_a_code_named_business_is_not_name_matched() -> None:
    index = RegistryIndex.from_rows([(1, XINCHENG, "深圳市鑫诚信息咨询有限公司", "", "", "", "")])
    result = match_business(index, UNKNOWN, uscc=UNKNOWN)
    assert (result.method, result.registration) == ("none", None)
    assert "页面未写企业名称" in result.reason
