"""Unified social credit codes (GB 32100-2015) mentioned in text, labelled or looking like one.

Finding codes is extraction; whether a code is valid is `pipelines.uscc`, the one validator.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pipelines import uscc
from pipelines.business_rules import alt, read_data
from pipelines.model import Business, UsccMention
from pipelines.normalize import normalize_shared

# GB 32100 alphabet (no I, O, S, V, Z); the first character is the registration authority
# (1–9, A, N, Y), the second the entity type, then a 6-digit region code.
USCC_ALPHABET = frozenset(uscc.ALPHABET)
USCC_AUTHORITIES = frozenset(uscc.AUTHORITIES)
# Entity-type digits used by any authority in GB 32100 (1 enterprise/organ … 9 other).
USCC_TYPES = frozenset("123459")
# First two digits of the region code: provinces (11–82) and 10 for national registrations.
_PROVINCE_CODES = (10, *range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47))
USCC_PROVINCES = frozenset(
    str(n) for n in (*_PROVINCE_CODES, *range(50, 55), *range(61, 66), 71, 81, 82)
)
USCC_LEN = uscc.LENGTH
# Separators allowed between groups of a code written after a label ("9144 0300 MA5F…").
_GROUPED = r"[0-9a-z]+(?:[ \-][0-9a-z]+)*"
_ALNUM = re.compile(r"[0-9a-z]+")
_SEP = re.compile(r"[ \-]")
# Fewer characters after a label are not an attempt at a code ("税号：无", "信用代码 3 位").
MIN_LABELLED_LEN = 10
_ISOLATED_18 = re.compile(r"(?<![0-9a-z])[0-9a-z]{18}(?![0-9a-z])")
# Space-separated groups ("9144 0300 MA5F …"): unlabelled, reported only when valid.
_SPACED = re.compile(r"(?<![0-9a-z])[0-9a-z]+(?: [0-9a-z]+)+(?![0-9a-z])")
# Every unlabelled candidate (18 in a row, or groups of 18 in all with single spaces between)
# spans 18 or more characters of letters, digits and spaces, starting and ending with a letter
# or digit. Pages rarely hold one, and this scan (it starts with a character class, so the regex
# engine skips to candidate characters) is several times cheaper than the two above, whose
# look-behinds make the engine try every position.
_MAY_HOLD_18 = re.compile(r"[0-9a-z][0-9a-z ]{16,}[0-9a-z]")
# Resident ID number: 6-digit region, birth date YYYYMMDD, 3-digit sequence, check digit or X.
_ID_CARD = re.compile(r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dx]")


@lru_cache(maxsize=1)
def _label_re() -> re.Pattern[str]:
    """A USCC label followed by the code, possibly grouped ("税号：9144 0300 …")."""
    labels = read_data()["uscc_labels"]
    return re.compile(rf"(?:{alt(labels)})\s*(?:[:：]|为|是)?\s*\(?\s*({_GROUPED})")


@lru_cache(maxsize=1)
def _not_label_re() -> re.Pattern[str]:
    """A label of another number ("订单号", "身份证") right before an unlabelled code."""
    labels = read_data()["not_uscc_labels"]
    return re.compile(rf"(?:{alt(labels)})\s*(?:[:：]|为|是)?\s*\Z")


def extract_uscc(text: str) -> list[UsccMention]:
    """18-character unified social credit codes, labelled or looking like one, checked against
    GB 32100; an invalid one is reported with the reason, ID-card numbers are left out."""
    if not text:
        return []
    norm = normalize_shared(text)  # extract_businesses may have normalized it
    t = norm.text
    found: list[tuple[int, int, str, bool]] = []  # (start, end, compact code, labelled)
    for m in _label_re().finditer(t):
        s, e, code = _first_code(t, m.start(1), m.group(1))
        if len(code) >= MIN_LABELLED_LEN:
            found.append((s, e, code, True))
    taken = [(s, e) for s, e, _, _ in found]
    for s, e in _unlabelled_spans(t):
        if any(s < te and e > ts for ts, te in taken) or _not_label_re().search(
            t, max(0, s - 12), s
        ):
            continue
        code = t[s:e].replace(" ", "").upper()
        if _looks_like_uscc(code) and (" " not in t[s:e] or uscc.problem(code) == ""):
            found.append((s, e, code, False))
            taken.append((s, e))
    out = []
    for s, e, code, _ in sorted(found):
        os_, oe = norm.to_original(s, e)
        reason = uscc.problem(code)
        out.append(UsccMention(code, reason == "", norm.original[os_:oe], os_, oe, reason))
    return out


def code_businesses(mentions: list[UsccMention]) -> list[Business]:
    """The firms a page identifies by code alone: one business per distinct valid code, named
    by the code ("本公司（统一社会信用代码：9144…）" names no firm, yet the code is one), so it
    is matched to its registration by code and scope-checked like any named business."""
    out: list[Business] = []
    seen: set[str] = set()
    for m in mentions:
        if m.valid and m.code not in seen:
            seen.add(m.code)
            out.append(Business(m.code, "company", m.raw, m.start, m.end))
    return out


def _unlabelled_spans(t: str) -> list[tuple[int, int]]:
    """Spans of 18 letters and digits in a row, then of space-separated groups totalling 18;
    none without a long enough stretch of letters, digits and spaces (see _MAY_HOLD_18)."""
    if _MAY_HOLD_18.search(t) is None:
        return []
    return [m.span() for m in _ISOLATED_18.finditer(t)] + _spaced_codes(t)


def _spaced_codes(t: str) -> list[tuple[int, int]]:
    """Spans of consecutive space-separated groups totalling 18 characters."""
    spans = []
    for m in _SPACED.finditer(t):
        groups = [(g.start(), g.end()) for g in _ALNUM.finditer(m.group())]
        for i, (gs, _) in enumerate(groups):
            total = 0
            for j in range(i, len(groups)):
                total += groups[j][1] - groups[j][0]
                if total >= USCC_LEN:
                    if total == USCC_LEN and j > i:
                        spans.append((m.start() + gs, m.start() + groups[j][1]))
                    break
    return spans


def _first_code(t: str, start: int, grouped: str) -> tuple[int, int, str]:
    """The code after a label: groups joined until 18 characters (never past them)."""
    groups = _SEP.split(grouped)
    total, n = 0, 0
    for g in groups:
        if n and total + len(g) > USCC_LEN:
            break
        total, n = total + len(g), n + 1
        if total >= USCC_LEN:
            break
    pos, end = start, start
    for g in groups[:n]:
        end = t.index(g, pos) + len(g)
        pos = end
    return start, end, "".join(groups[:n]).upper()


def _looks_like_uscc(code: str) -> bool:
    """18 characters of the alphabet with an authority, type and province code, not an ID."""
    return (
        len(code) == USCC_LEN
        and set(code) <= USCC_ALPHABET
        and code[0] in USCC_AUTHORITIES
        and code[1] in USCC_TYPES
        and code[1:8].isdigit()
        and code[2:4] in USCC_PROVINCES
        and not _ID_CARD.fullmatch(code.lower())
    )
