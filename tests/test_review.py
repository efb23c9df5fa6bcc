"""Review states of leads and businesses: transitions, notes, errors that name the culprit."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from greywatch.errors import InputError
from storage.models import Entity, Finding
from storage.review import list_reviews, resolve_business, review_business, review_leads
from tests.case_world import (
    ANXIN,
    XINCHENG,
    XINCHENG_USCC,
    ZHENGXIN,
    build_world,
)

AD_URL = "http://forum.demo.test/t/101"


def finding_id(session: Session, doc_id: int) -> int:
    return session.scalars(select(Finding.id).where(Finding.document_id == doc_id)).one()


@pytest.mark.parametrize(
    "steps",
    [
        ["confirmed"],
        ["confirmed", "reported"],
        ["dismissed", "new"],
        ["confirmed", "dismissed", "confirmed"],
    ],
)
def test_lead_transitions_keep_status_note_and_time(session: Session, steps: list[str]) -> None:
    world = build_world(session)
    fid = finding_id(session, world.doc_ids[AD_URL])
    previous = "new"
    for i, status in enumerate(steps):
        [item] = review_leads(session, [fid], status, note=f"第{i + 1}次：已核实页面")
        assert (item.previous, item.status) == (previous, status)
        previous = status
    session.commit()
    finding = session.get(Finding, fid)
    assert finding is not None
    assert finding.review_status == steps[-1]
    assert finding.review_note == f"第{len(steps)}次：已核实页面"
    assert finding.reviewed_at is not None


def test_unknown_lead_ids_are_named_and_nothing_changes(session: Session) -> None:
    world = build_world(session)
    fid = finding_id(session, world.doc_ids[AD_URL])
    with pytest.raises(InputError, match="no lead with id 9998, 9999"):
        review_leads(session, [fid, 9998, 9999], "confirmed")
    assert session.get(Finding, fid).review_status == "new"


@pytest.mark.parametrize("status", ["approved", "Confirmed", ""])
def test_unknown_status_is_named(session: Session, status: str) -> None:
    world = build_world(session)
    fid = finding_id(session, world.doc_ids[AD_URL])
    with pytest.raises(InputError, match=repr(status)) as err:
        review_leads(session, [fid], status)
    assert "confirmed" in (err.value.hint or "")
    with pytest.raises(InputError, match=repr(status)):
        review_business(session, XINCHENG, status)


@pytest.mark.parametrize("how", ["name", "uscc", "entity_id", "padded"])
def test_business_by_name_uscc_or_id_reaches_all_its_entities(session: Session, how: str) -> None:
    world = build_world(session)
    ref = {
        "name": XINCHENG,
        "uscc": XINCHENG_USCC.lower(),
        "entity_id": str(world.entity_ids[XINCHENG]),
        "padded": f" {XINCHENG}\t",
    }[how]
    items = review_business(session, ref, "confirmed", "广告宣传征信修复，超出经营范围")
    session.commit()
    # the advertised name and the USCC printed on the page are the same firm
    assert {(i.what, i.label) for i in items} == {
        ("business", XINCHENG),
        ("business", f"USCC {XINCHENG_USCC}"),
    }
    target = resolve_business(session, ref)
    assert target.name == XINCHENG and target.uscc == XINCHENG_USCC
    assert target.match is not None and target.match.verdict == "out_of_scope"
    for entity in target.entities:
        assert entity.review_status == "confirmed"
        assert entity.review_note == "广告宣传征信修复，超出经营范围"
    # a near-miss name is not touched
    other = session.scalars(select(Entity).where(Entity.key == ANXIN)).one()
    assert other.review_status == "new"


@pytest.mark.parametrize("ref", ["深圳市鑫城企业管理咨询有限公司", "91440300MA5FX0L120", "424242"])
def test_unknown_business_is_named(session: Session, ref: str) -> None:
    build_world(session)
    with pytest.raises(InputError, match=ref):
        review_business(session, ref, "confirmed")


def test_list_reviews_defaults_to_reviewed_items(session: Session) -> None:
    world = build_world(session)
    fid = finding_id(session, world.doc_ids[AD_URL])
    review_leads(session, [fid], "reported", "已提交12315")
    review_business(session, ZHENGXIN, "dismissed", "经营范围包含法律咨询")
    reviewed = list_reviews(session)
    assert [(i.what, i.status) for i in reviewed] == [
        ("lead", "reported"),
        ("business", "dismissed"),
    ]
    assert reviewed[0].note == "已提交12315"
    assert [i.what for i in list_reviews(session, ["dismissed"])] == ["business"]
    new_leads = [i for i in list_reviews(session, ["new"]) if i.what == "lead"]
    assert len(new_leads) == 4  # promotions only; warnings are not leads
    with pytest.raises(InputError, match="'done'"):
        list_reviews(session, ["done"])
