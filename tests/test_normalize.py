"""Normalization: what matching sees, and the map back to the original text."""

from __future__ import annotations

import pytest

from pipelines.normalize import compact, normalize


@pytest.mark.parametrize(
    ("original", "normalized"),
    [
        ("徵信修復", "征信修复"),
        ("協商還款 停息掛賬", "协商还款 停息挂账"),
        ("１３８-００１３-８０００", "138-0013-8000"),
        ("①③⑧", "138"),
        ("⑬⑧", "138"),
        ("1\ufe0f\u20e33\ufe0f\u20e3", "13"),
        ("征\u200b信\u200d修\ufeff复", "征信修复"),
        ("ＶＸ：ABC_123", "vx:abc_123"),
        ("全額退保", "全额退保"),
        ("plain ascii", "plain ascii"),
        ("", ""),
    ],
)
def test_normalize(original: str, normalized: str) -> None:
    assert normalize(original).text == normalized


@pytest.mark.parametrize(
    ("original", "compacted"),
    [
        ("征✨信✨修✨复", "征信修复"),
        ("征 信-修·复", "征信修复"),
        ("停息\n挂账", "停息挂账"),
        ("加V➕微❤信", "加v微信"),
        ("征信。修复", "征信。修复"),  # sentence punctuation stays: no match across sentences
        ("征😀信🔥修💯复", "征信修复"),  # emoji beyond the BMP
    ],
)
def test_compact(original: str, compacted: str) -> None:
    assert compact(normalize(original)).text == compacted


@pytest.mark.parametrize(
    ("original", "needle"),
    [
        ("前缀 征✨信✨修✨复 后缀", "征信修复"),
        ("⑬⑧电话", "138"),
        ("ＡＢＣ㈠ 徵信修復", "征信修复"),
        ("1\ufe0f\u20e33\ufe0f\u20e38\ufe0f\u20e3 号码", "138"),
        ("①③⑧🔥0013😀8000 加v", "13800138000"),  # uneven folding and astral emoji together
    ],
)
def test_spans_map_back_to_the_original(original: str, needle: str) -> None:
    view = compact(normalize(original))
    i = view.text.index(needle)
    s, e = view.to_original(i, i + len(needle))
    raw = original[s:e]
    # The original slice, normalized and compacted again, reads the needle exactly.
    assert compact(normalize(raw)).text == needle
    assert view.original_slice(i, i + len(needle)) == raw


def test_aligned_text_has_no_offset_table() -> None:
    assert normalize("征信修复 13800138000").offsets is None
