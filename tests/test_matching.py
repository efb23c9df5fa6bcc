"""Matching business names to registrations, resolving stored entities, and the CLI verbs."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.cli import app, main
from pipelines.matching import RegionHints, match_business, region_hints_from_text
from pipelines.model import Business
from storage.matching import RegistryIndex, match_entities
from storage.models import BusinessMatch, Document, Entity, Finding, Mention, Registration
from storage.registry import import_registry

SAMPLE = Path(__file__).parents[1] / "storage" / "data" / "sample_registry.csv"
DATA = Path(__file__).parent / "data" / "registry"
XINCHENG_SZ = "深圳市鑫诚信息咨询有限公司"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> str:
    """A SQLite file with the sample registry imported (shared: these tests only read it)."""
    path = tmp_path_factory.mktemp("registry") / "greywatch.db"
    path.write_bytes(_sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    from storage.db import get_engine

    import_registry(get_engine(url), SAMPLE)
    return url


@pytest.fixture(scope="module")
def index(sample_db: str) -> RegistryIndex:
    from storage.db import get_engine

    with Session(get_engine(sample_db)) as s:
        return RegistryIndex.from_session(s)


def _uscc_of(index: RegistryIndex, name: str) -> str:
    return index.usccs[index.with_name(name)[0]]


@pytest.mark.parametrize(
    ("name", "hint_text", "method", "expected"),
    [
        # exact names, whatever the spelling
        (XINCHENG_SZ, "", "exact_name", XINCHENG_SZ),
        ("深圳市鑫誠信息諮詢有限公司", "", "exact_name", XINCHENG_SZ),  # Traditional
        ("深圳市 鑫诚信息咨询 有限公司", "", "exact_name", XINCHENG_SZ),
        ("深圳市鑫诚信息咨询有限责任公司", "", "exact_name", XINCHENG_SZ),
        ("金盾（北京）信用管理有限公司", "", "exact_name", "金盾(北京)信用管理有限公司"),
        ("金盾【上海】信用管理有限公司", "", "exact_name", "金盾(上海)信用管理有限公司"),
        # brand + region in the name
        ("深圳鑫诚", "", "brand_region", XINCHENG_SZ),
        ("深圳市鑫诚咨询", "", "brand_region", XINCHENG_SZ),
        ("广州鑫诚", "", "brand_region", "广州市鑫诚商务服务有限公司"),
        ("广州安信商务", "", "brand_region", "广州市安信商务服务有限公司"),
        ("杭州正信", "", "brand_region", "杭州正信法律咨询有限公司"),
        # same brand, two cities: region evidence from the text picks one
        ("金盾信用", "金盾信用 上海 021-62881234", "brand_region", "金盾(上海)信用管理有限公司"),
        ("金盾信用", "北京专业团队 金盾信用", "brand_region", "金盾(北京)信用管理有限公司"),
        ("金盾信用", "客服热线 (021)62881234", "brand_region", "金盾(上海)信用管理有限公司"),
        ("鑫诚咨询", "深圳福田 13800138000", "brand_region", XINCHENG_SZ),
        # … and without evidence nothing is guessed
        ("金盾信用", "", "unresolved", None),
        ("鑫诚咨询", "", "unresolved", None),
        ("金盾信用", "北京 上海 广州 深圳均可办理", "unresolved", None),
        # near-miss names are different firms
        ("深圳鑫城", "", "brand_region", "深圳市鑫城企业管理咨询有限公司"),
        ("鑫城咨询", "", "brand_region", "深圳市鑫城企业管理咨询有限公司"),
        ("深圳市鑫成信息咨询有限公司", "", "none", None),  # 鑫成 is registered in 广州 only
        ("鑫诚达咨询", "", "brand_region", "深圳市鑫诚达信息咨询有限公司"),
        ("金顿信用", "上海", "brand_region", "上海金顿信用管理有限公司"),
        ("深圳市鑫晟信息咨询有限公司", "", "unresolved", None),  # looks like 鑫诚, 鑫城 …
        # fuzzy only when the brand itself is close and clearly ahead
        ("华信永达信用管理", "北京", "brand_fuzzy", "北京华信永道信用管理有限公司"),
        ("深圳市鑫诚达信息资询有限公司", "", "unresolved", None),  # typo: candidates, no guess
        # dead firms still match (the verdict says inactive)
        ("广州市安信商务服务有限公司", "", "exact_name", "广州市安信商务服务有限公司"),
        # not registered
        ("东莞市恒通财税咨询服务部", "", "none", None),  # 恒通 exists in 深圳/广州 only
        ("東莞市恆通財稅諮詢服務部", "", "none", None),
        ("宁波市甬信财税咨询有限公司", "", "none", None),
        ("", "", "none", None),
    ],
)
def test_match_table(
    index: RegistryIndex, name: str, hint_text: str, method: str, expected: str | None
) -> None:
    result = match_business(index, name, region_hints=region_hints_from_text(hint_text))
    assert result.method == method, result.reason
    assert (result.registration.name if result.registration else None) == expected
    if method == "unresolved":
        assert result.candidates and result.confidence == 0.0
    assert result.reason


TWO_READINGS = [
    (i, f"91640300AAAAAAAA{i}", name, name, brand, region, "存续")
    for i, (name, brand, region) in enumerate(
        [
            ("吴忠飞兴法律咨询有限公司", "吴忠飞兴", "吴忠"),  # registered without 市
            ("吴忠市飞兴管理咨询有限公司", "飞兴", "吴忠"),
            ("银川市飞兴财税咨询有限公司", "飞兴", "银川"),
            ("吉林博道信息科技服务部", "吉林博道", "吉林"),  # 吉林 bare: kept in the brand
            ("吉林市博道网络科技有限公司", "博道", "吉林"),
        ],
        start=1,
    )
]


@pytest.mark.parametrize(
    ("name", "method", "expected"),
    [
        ("吴忠飞兴咨询", "unresolved", None),  # a brand 吴忠飞兴, or 飞兴 in 吴忠: both registered
        ("吴忠飞兴法律咨询", "brand_region", "吴忠飞兴法律咨询有限公司"),
        ("吴忠飞兴管理咨询", "brand_region", "吴忠市飞兴管理咨询有限公司"),
        ("银川飞兴", "brand_region", "银川市飞兴财税咨询有限公司"),
        ("博道科技 吉林", "unresolved", None),  # 吉林 + 博道, or the brand 吉林博道
        ("博道网络科技 吉林", "brand_region", "吉林市博道网络科技有限公司"),
    ],
)
def test_bare_city_prefix_is_read_both_ways(name: str, method: str, expected: str | None) -> None:
    index = RegistryIndex.from_rows(TWO_READINGS)
    name, _, city = name.partition(" ")
    hints = RegionHints(cities=(city,) if city else ())
    result = match_business(index, name, region_hints=hints)
    assert result.method == method, result.reason
    assert (result.registration.name if result.registration else None) == expected


def test_near_miss_candidates_are_listed_not_merged(index: RegistryIndex) -> None:
    result = match_business(index, "深圳市鑫晟信息咨询有限公司")
    names = {c["name"] for c in result.candidates}
    assert {XINCHENG_SZ, "深圳市鑫城企业管理咨询有限公司"} <= names


def test_uscc_wins_over_the_name(index: RegistryIndex) -> None:
    code = _uscc_of(index, "金盾(北京)信用管理有限公司")
    result = match_business(index, "金盾信用", uscc=code)
    assert (result.method, result.confidence) == ("uscc", 1.0)
    assert result.registration is not None and result.registration.uscc == code


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91440300UX0AEH7Y1Q", "未通过GB 32100校验"),  # bad check character
        ("9144030", "未通过GB 32100校验"),
        ("91440300MA5FXXXX0A", "未通过GB 32100校验"),
        ("91440300GC5MFQ39Y8", "未通过GB 32100校验"),
    ],
)
def test_invalid_uscc_is_ignored_and_said(index: RegistryIndex, code: str, why: str) -> None:
    result = match_business(index, XINCHENG_SZ, uscc=code)
    assert result.method == "exact_name"
    assert why in result.reason


def test_valid_uscc_not_in_registry_falls_back_to_name(index: RegistryIndex) -> None:
    from stdnum.cn import uscc

    body = "91440300ABCDEFGH1"
    code = body + uscc.calc_check_digit(body)
    result = match_business(index, "深圳鑫诚", uscc=code)
    assert result.method == "brand_region"
    assert "不在已导入的登记数据中" in result.reason


def test_business_object_and_address_hint(index: RegistryIndex) -> None:
    biz = Business(name="金盾信用", form="brand", raw="金盾信用", start=0, end=4)
    hints = RegionHints(address="上海市徐汇区漕溪北路88号")
    result = match_business(index, biz, region_hints=hints)
    assert result.registration is not None
    assert result.registration.name == "金盾(上海)信用管理有限公司"
    assert "上海（地址）" in result.reason


@pytest.mark.parametrize(
    ("text", "cities", "codes"),
    [
        ("金盾信用 上海 021-62881234", ("上海",), ("021",)),
        ("深圳市福田区 0755 8888 6666", ("深圳",), ("0755",)),
        ("电话 010-88886666 13800138000", (), ("010",)),
        ("中山大学旁边", (), ()),  # 中山 alone is not region evidence
        ("中山市鑫诚", ("中山",), ()),
    ],
)
def test_region_hints_from_text(text: str, cities: tuple[str, ...], codes: tuple[str, ...]) -> None:
    hints = region_hints_from_text(text)
    assert (hints.cities, hints.area_codes) == (cities, codes)


def test_similar_brands_uses_blocking(index: RegistryIndex) -> None:
    similar = index.similar_brands("鑫晟")
    assert "鑫诚" in similar and "鑫城" in similar
    assert "阿拉丁" not in similar


# --- stored entities -----------------------------------------------------------------------


def _doc(session: Session, url: str, text: str, categories: list[str], names: list[str]) -> None:
    body = text.encode()
    doc = Document(url=url, raw=body, raw_sha256=hashlib.sha256(body).hexdigest(), text=text)
    session.add(doc)
    session.flush()
    session.add(Finding(document_id=doc.id, kind="promotion", categories=categories))
    for name in names:
        entity = session.scalars(
            select(Entity).where(Entity.kind == "business", Entity.key == name)
        ).one_or_none()
        if entity is None:
            entity = Entity(kind="business", key=name, display=name)
            session.add(entity)
            session.flush()
        session.add(Mention(document_id=doc.id, entity_id=entity.id, raw=name))
    session.flush()


DEMO_DOCS = [
    ("https://demo/1", "深圳市鑫诚信息咨询有限公司 专业征信修复 13800138000", ["credit_repair"],
     [XINCHENG_SZ]),
    ("https://demo/2", "广州市安信商务服务有限公司 停息挂账 协商还款", ["debt_relief"],
     ["广州市安信商务服务有限公司"]),
    ("https://demo/3", "金盾信用 上海 021-62881234 征信修复", ["credit_repair"], ["金盾信用"]),
    ("https://demo/4", "东莞市恒通财税咨询服务部 代理退保 全额退保", ["refund_agency"],
     ["东莞市恒通财税咨询服务部"]),
    ("https://demo/5", "杭州正信法律咨询有限公司 代理维权 投诉模板", ["complaint_agency"],
     ["杭州正信法律咨询有限公司"]),
    ("https://demo/6", "鑫诚咨询 征信修复", ["credit_repair"], ["鑫诚咨询"]),
]  # fmt: skip

EXPECTED = {
    XINCHENG_SZ: ("exact_name", "out_of_scope"),
    "广州市安信商务服务有限公司": ("exact_name", "inactive"),
    "金盾信用": ("brand_region", "out_of_scope"),
    "东莞市恒通财税咨询服务部": ("none", "not_registered"),
    "杭州正信法律咨询有限公司": ("exact_name", "out_of_scope"),
    "鑫诚咨询": ("unresolved", ""),
}


def test_match_entities_writes_matches_idempotently(engine: Engine) -> None:
    import_registry(engine, SAMPLE)
    with Session(engine) as s:
        for doc in DEMO_DOCS:
            _doc(s, *doc)
        s.commit()
    for _ in range(2):
        with Session(engine) as s:
            stats = match_entities(s)
            s.commit()
        assert stats.entities == 6
    with Session(engine) as s:
        rows = s.execute(
            select(Entity.key, BusinessMatch, Registration.name)
            .join(BusinessMatch, BusinessMatch.entity_id == Entity.id)
            .outerjoin(Registration, Registration.id == BusinessMatch.registration_id)
        ).all()
        assert len(rows) == 6
        got = {key: (m.method, m.verdict) for key, m, _ in rows}
        assert got == EXPECTED
        by_key = {key: (m, reg) for key, m, reg in rows}
        assert by_key["金盾信用"][1] == "金盾(上海)信用管理有限公司"
        assert "不含征信业务" in by_key["金盾信用"][0].verdict_reason
        assert "注销" in by_key["广州市安信商务服务有限公司"][0].verdict_reason
        assert len(by_key["鑫诚咨询"][0].candidates) == 4
        # each match says why, in Chinese, naming the evidence that picked the registration
        assert by_key[XINCHENG_SZ][0].reason == f"与登记名称完全一致：{XINCHENG_SZ}"
        assert by_key["金盾信用"][0].reason == (
            "字号“金盾”登记在北京、上海、深圳、武汉，证据指向上海（文中地名）："
            "金盾(上海)信用管理有限公司"
        )
        assert by_key["鑫诚咨询"][0].verdict_reason.startswith("无法确定对应的登记：")


# --- CLI -----------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_import_and_match_lines(tmp_path: Path, sqlite_engine: Engine) -> None:
    url = str(sqlite_engine.url)
    result = runner.invoke(app, ["registry", "import", str(SAMPLE), "--db", url])
    assert result.exit_code == 0, result.output
    assert "45 rows (45 inserted, 0 updated)" in result.output
    lines = tmp_path / "names.txt"
    lines.write_text(
        "深圳市鑫诚信息咨询有限公司\n\n"
        "金盾信用 上海 021-62881234 专业征信修复\n"
        "东莞市恒通财税咨询服务部\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["registry", "match", str(lines), "--db", url])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["1", "3", "4"]
    first = out[0]["businesses"][0]
    assert first["registration"]["name"] == XINCHENG_SZ and first["method"] == "exact_name"
    jindun = out[1]["businesses"][0]
    assert jindun["registration"]["name"] == "金盾(上海)信用管理有限公司"
    assert "credit_repair" in out[1]["categories"] and jindun["verdict"] == "out_of_scope"
    assert out[2]["businesses"][0]["verdict"] == "not_registered"


def test_cli_match_jsonl_stdin(sqlite_engine: Engine) -> None:
    url = str(sqlite_engine.url)
    import_registry(sqlite_engine, SAMPLE)
    text = json.dumps({"id": "ad-7", "text": "广州市安信商务服务有限公司 停息挂账 协商还款"})
    result = runner.invoke(app, ["registry", "match", "-", "--db", url], input=text + "\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["id"] == "ad-7"
    assert out["businesses"][0]["verdict"] == "inactive"
    assert out["businesses"][0]["registration"]["status"] == "注销"


def test_cli_match_db_entities(engine: Engine) -> None:
    import_registry(engine, SAMPLE)
    with Session(engine) as s:
        _doc(s, *DEMO_DOCS[2])
        s.commit()
    url = engine.url.render_as_string(hide_password=False)
    result = runner.invoke(app, ["registry", "match", "--db-entities", "--db", url])
    assert result.exit_code == 0, result.output
    assert "matched 1 business entities (brand_region 1)" in result.output


def _greywatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """Run the real entry point (`greywatch.cli.main`) in-process: exit code and stderr."""
    monkeypatch.setattr(sys, "argv", ["greywatch", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["registry", "import", str(DATA / "bad_uscc.csv")],
            "error: bad_uscc.csv: row 3, column 统一社会信用代码: '91440300GC5MFQ39Y0' has a bad "
            "check character",
        ),
        (["registry", "import", str(DATA / "empty.csv")], "error: empty.csv: empty file"),
        (["registry", "match"], "error: give either FILE (or - for stdin) or --db-entities"),
    ],
)
def test_cli_errors_are_one_line_exit_2(
    sqlite_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    error: str,
) -> None:
    code, err = _greywatch(monkeypatch, capsys, *args, "--db", str(sqlite_engine.url))
    assert code == 2, err
    assert err.startswith(error), err
    assert len(err.strip().splitlines()) == 1  # one line, never a traceback


def test_cli_bad_jsonl_line_is_named(
    sqlite_engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "ads.jsonl"
    bad.write_text('{"id": 1, "text": "鑫诚咨询"}\n{"id": 2, "text": \n', encoding="utf-8")
    code, err = _greywatch(
        monkeypatch, capsys, "registry", "match", str(bad), "--db", str(sqlite_engine.url)
    )
    assert code == 2
    assert err.startswith(f"error: {bad}: line 2: not valid JSON"), err
    bad.write_text('{"id": 1, "body": "鑫诚咨询"}\n', encoding="utf-8")
    code, err = _greywatch(
        monkeypatch, capsys, "registry", "match", str(bad), "--db", str(sqlite_engine.url)
    )
    assert err.startswith(f"error: {bad}: line 1: expected a JSON object with a 'text' string")


@pytest.mark.parametrize("verb", ["import", "match"])
def test_cli_commands_have_help(verb: str) -> None:
    result = runner.invoke(app, ["registry", verb, "--help"])
    assert result.exit_code == 0
    assert "--db" in result.output and len(result.output) > 200
