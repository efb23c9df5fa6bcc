"""One USCC validator (GB 32100) for analysis, registry import and matching."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from sqlalchemy import Engine
from stdnum.cn import uscc as stdnum_uscc

from greywatch.errors import InputError
from pipelines import uscc
from pipelines.businesses import extract_uscc
from pipelines.matching import RegistryIndex, match_business
from storage.registry import import_registry


def _code(body: str) -> str:
    """17 characters plus their check character, computed by python-stdnum (an independent
    implementation of the same weights and alphabet)."""
    return body + stdnum_uscc.calc_check_digit(body)


# (code, problem prefix): "" means valid.
STANDARD = [
    ("91110000600037341L", ""),  # enterprise (9 工商, type 1), Beijing
    (_code("92440300MA5F9K2Q1"), ""),  # individual business (type 2)
    (_code("93330108MA2CX1T0R"), ""),  # farmers' cooperative (type 3)
    (_code("12100000400012345"), ""),  # public institution (1 机构编制, type 2)
    (_code("51440000MJL123456"), ""),  # social organisation (5 民政, type 1)
    ("Y1440300MA5F3KX2P0", ""),  # authority Y (其他) is always type 1
    (_code("A1110000MB0123456"), ""),  # authority A (军队)
    (_code("N2330106MF1234567"), ""),  # authority N (农业), village collective
    ("91440300GC5MFQ39Y0", "bad check character: expected T"),
    ("Y1440300MA5F3KX2P1", "bad check character: expected 0"),
    ("9144030", "bad length: 7 characters, expected 18"),
    ("440301000123456", "bad length: 15"),  # pre-2015 registration number
    ("91440300MA5FAB12O1", "bad charset: O"),
    ("91440300MA5FIB1SZ1", "bad charset: ISZ"),
    ("01440300MA5F3KX2P0", "bad registration authority: 0"),
    ("B1440300MA5F3KX2P0", "bad registration authority: B"),
    ("90440300MA5F3KX2P0", "bad entity type: 0"),
    ("9144A300MA5F3KX2P0", "bad region code: 44A300"),
]


@pytest.mark.parametrize(("code", "why"), STANDARD, ids=[c for c, _ in STANDARD])
def test_against_the_standard(code: str, why: str) -> None:
    got = uscc.problem(code)
    assert got.startswith(why) and bool(got) == bool(why), got
    assert uscc.is_valid(code) is (why == "")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("9144 0300 MA5F 3KX2 P0", "91440300MA5F3KX2P0"),
        ("91440300-ma5f3kx2p0", "91440300MA5F3KX2P0"),
        (" y1440300ma5f3kx2p0\t", "Y1440300MA5F3KX2P0"),
    ],
)
def test_compact(raw: str, code: str) -> None:
    assert uscc.compact(raw) == code


def _generated(n: int, seed: int) -> list[str]:
    """Random 18-character codes: half with the right check character, half with any."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        head = rng.choice("0123456789ANY") + rng.choice("0123456789")
        body = (
            head
            + "".join(rng.choices("0123456789", k=6))
            + "".join(rng.choices(uscc.ALPHABET, k=9))
        )
        out.append(_code(body) if i % 2 else body + rng.choice(uscc.ALPHABET))
    return out


GENERATED = _generated(4000, seed=32100)


def test_check_character_agrees_with_stdnum() -> None:
    for code in GENERATED:
        assert uscc.check_char(code[:17]) == stdnum_uscc.calc_check_digit(code[:17]), code


@pytest.mark.parametrize(
    ("first", "second", "disagreement"),
    [
        # digits 1-9 in both places: the two validators must agree on every code
        ("123456789", "123456789", None),
        # GB 32100 letter authorities: stdnum wants 8 leading digits and rejects them all
        ("ANY", "123456789", "stdnum rejects"),
        # 0 is neither an authority nor an entity type: stdnum only checks for digits
        ("0", "0123456789", "stdnum accepts"),
        ("123456789", "0", "stdnum accepts"),
    ],
)
def test_against_stdnum_on_generated_codes(
    first: str, second: str, disagreement: str | None
) -> None:
    codes = [c for c in GENERATED if c[0] in first and c[1] in second]
    assert len(codes) > 50
    for code in codes:
        ours, theirs = uscc.is_valid(code), stdnum_uscc.is_valid(code)
        if disagreement is None:
            assert ours == theirs, code
        elif disagreement == "stdnum rejects":
            assert not theirs and ours == (code[17] == uscc.check_char(code[:17])), code
        else:
            assert not ours and theirs == (code[17] == uscc.check_char(code[:17])), code


AGREEMENT = [
    "Y1440300MA5F3KX2P0",
    _code("91440300MA5FAB12C"),
    _code("N2330106MF1234567"),
    "91440300GC5MFQ39Y0",
    "91440300MA5FAB12O1",
    "01440300MA5F3KX2P0",
]


@pytest.mark.parametrize("code", AGREEMENT)
def test_analysis_import_and_matching_agree(
    code: str, sqlite_engine: Engine, tmp_path: Path
) -> None:
    valid = uscc.is_valid(code)
    (mention,) = extract_uscc(f"统一社会信用代码：{code}")
    assert mention.valid is valid

    path = tmp_path / "registry.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(
            [
                ["企业名称", "统一社会信用代码", "登记状态", "经营范围"],
                ["深圳市鑫诚信息咨询有限公司", code, "存续", "企业管理咨询"],
            ]
        )
    if valid:
        assert import_registry(sqlite_engine, path).inserted == 1
    else:
        with pytest.raises(InputError, match=r"registry.csv: row 2, column 统一社会信用代码"):
            import_registry(sqlite_engine, path)

    index = RegistryIndex.from_rows([(1, code, "鑫诚商务", "鑫诚商务", "鑫诚商务", "深圳", "存续")])
    result = match_business(index, "不相干的名字", uscc=code)
    assert (result.method == "uscc") is valid, result.reason
