"""The one unified social credit code (统一社会信用代码, GB 32100-2015) validator.

Analysis, registry import and matching all ask this module, so a code is valid everywhere or
nowhere. python-stdnum's `stdnum.cn.uscc` insists that the first eight characters are digits;
GB 32100 gives the first character to the registration authority, and authorities A (军队),
N (农业) and Y (其他) are letters, so real codes such as `Y1440300MA5F3KX2P0` fail there. Here the
structure is checked as the standard lays it out:

    1 authority · 2 entity type · 3–8 region (GB/T 2260) · 9–17 entity code (GB 11714) · 18 check
"""

from __future__ import annotations

import re

LENGTH = 18
# GB 32100 alphabet: digits and upper-case letters without I, O, S, V, Z; a character's value
# in the check computation is its index here.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# Weights of characters 1–17: 3^(i-1) mod 31 (GB/T 17710 style, modulus 31).
WEIGHTS = tuple(pow(3, i, 31) for i in range(LENGTH - 1))
# Registration authorities (登记管理部门代码): 1 机构编制 … 9 工商, A 军队, N 农业, Y 其他.
AUTHORITIES = "123456789ANY"
# Entity-type codes are single digits 1–9 (0 is never assigned).
ENTITY_TYPES = "123456789"
_WELL_FORMED = re.compile(r"[1-9ANY][1-9][0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}")
_SEPARATORS = re.compile(r"[\s\-]+")


def compact(raw: str) -> str:
    """The code without spaces or dashes, upper-cased ("9144 0300-ma5f…" → "91440300MA5F…")."""
    return _SEPARATORS.sub("", raw).upper()


def check_char(first17: str) -> str:
    """The GB 32100 check character of the first 17 characters (which must be in ALPHABET)."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def problem(code: str) -> str:
    """Why compact `code` is not a valid USCC, as "bad <what>: <detail>"; "" when it is valid.

    The one well-formed shape is checked first with a regex, so a million registry rows stay
    cheap; only malformed codes pay for the diagnosis.
    """
    if _WELL_FORMED.fullmatch(code):
        expected = check_char(code[:17])
        return "" if code[17] == expected else f"bad check character: expected {expected}"
    if len(code) != LENGTH:
        return f"bad length: {len(code)} characters, expected {LENGTH}"
    bad = sorted({c for c in code if c not in _VALUE})
    if bad:
        return f"bad charset: {''.join(bad)} not allowed"
    if code[0] not in AUTHORITIES:
        return f"bad registration authority: {code[0]} (GB 32100 has 1-9, A, N, Y)"
    if code[1] not in ENTITY_TYPES:
        return f"bad entity type: {code[1]} (a digit 1-9)"
    return f"bad region code: {code[2:8]} (characters 3-8 must be digits)"


def is_valid(code: str) -> bool:
    """Whether compact `code` is a valid USCC (see `problem` for why not)."""
    return problem(code) == ""
