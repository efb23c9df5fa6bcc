"""Near-duplicate ads: one ad posted at several URLs, with small differences, is one lead.

A page's `Fingerprint` is a bottom-k MinHash sketch (the smallest hashes) of the character
shingles of its body (the title line left out) once what changes between two postings of one
ad is masked: dates, times, view and reply counters, "edited by" notes, IP locations, every
digit. `compare` decides whether two pages are one ad: near-identical bodies AND posters that
agree (`posters_agree`). The poster condition is what keeps a template campaign — one wording
pushed by several accounts, each with its own phone or WeChat — as several leads
(storage/linking.py groups those as a Template instead).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from pipelines.normalize import normalize

# Character shingles of 4: the masked body has no punctuation or spaces, so 4 characters are
# about two Chinese words; an edited word touches at most 4 shingles of a ~100-shingle ad.
SHINGLE = 4
# A fingerprint keeps the SKETCH smallest hashes of the body's shingles (a bottom-k
# MinHash): an ad of up to ~130 characters is kept whole, so two ads compare exactly; longer
# pages are estimated from the 128 smallest of their union (standard error about 0.04 near
# the threshold). 1 KB a page, small enough to store beside a document one day.
SKETCH = 128
# Two bodies are one ad when the estimated Jaccard similarity of their shingle sets is at
# least SAME_AD_JACCARD, or when the smaller one lies almost wholly inside the larger
# (SAME_AD_CONTAINMENT: one posting carries a signature or an extra line the other lacks)
# and is at least MIN_LENGTH_RATIO of its size. Measured on the ads of tests/test_neardup.py
# (exactly: they are shorter than SKETCH shingles), each under six kinds of furniture (forum
# headers with counters and dates, edit notes, classifieds' view counts and IP location, a
# bump reply, a signature): one ad against itself scores Jaccard 0.66–1.0 (containment
# ≥ 0.89); two ads of one promoter, sharing the contact line and selling phrases, 0.14–0.34
# (containment ≤ 0.55); one template reposted under other names and contacts 0.44–0.72 —
# which is why contacts, not text, part those.
SAME_AD_JACCARD = 0.6
SAME_AD_CONTAINMENT = 0.85
MIN_LENGTH_RATIO = 0.5
# Bodies shorter than this (masked characters) are too short to judge by similarity: "征信
# 修复加V详聊" is identical across unrelated promoters. They are one ad only when their
# masked bodies are identical (and the contacts agree).
MIN_AD_CHARS = 24
# Contact kinds that identify who is behind an ad (as pipelines.link.LINK_KINDS: URLs are
# mostly the hosting platforms' own hosts).
IDENTIFYING_KINDS = frozenset({"phone", "wechat", "qq", "email"})

# Shingle hashes are a fixed function of the characters (no per-process seed): fingerprints,
# and so lead keys, must come out the same in every process.
_MIX = np.uint64(0x9E3779B97F4A7C15)

# What differs between two postings of one ad, dropped before comparing (matched on the
# normalized text: Simplified, half-width, ASCII lower-cased; any digits left are masked
# afterwards). Counters by their label, first or last: 查看: 1234, 1.2万阅读, 回复 12 条.
_COUNTERS = (
    "查看", "阅读", "浏览", "围观", "回复", "评论", "点赞", "收藏", "转发", "分享", "人气",
    "热度", "楼层", "积分", "粉丝", "关注",
)  # fmt: skip
# Words of a post's header and footer, and relative dates.
_FURNITURE = (
    "发表于", "发布于", "发表时间", "发布时间", "更新时间", "更新于", "编辑于", "最后编辑",
    "来自手机", "楼主", "沙发", "板凳", "刚刚", "昨天", "前天", "今天",
)  # fmt: skip
_LED_BY_WORD = (
    r"本帖最后由.{0,40}?于.{0,30}?编辑",  # Discuz!'s edit note
    r"ip\s*属地\s*[:：]?\s*[\u4e00-\u9fff]{2,3}(?![\u4e00-\u9fff])",
    r"ip\s*属地\s*[:：]?",
    f"(?:{'|'.join(_COUNTERS)})"
    + r"(?:数|量|次数)?\s*[:：]?\s*\d+(?:\.\d+)?\s*[万wk]?\s*(?:次|人|条)?",
    "|".join(_FURNITURE),
)
_LED_BY_DIGIT = (
    # dates and times: 2024-05-17, 2024年5月17日, 5月17号, 09:31:05, 3天前
    r"\d{2,4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*[日号]?",
    r"\d{1,2}\s*月\s*\d{1,2}\s*[日号]",
    r"\d{1,2}\s*:\s*\d{2}(?:\s*:\s*\d{2})?",
    r"\d+\s*(?:秒|分钟|小时|天|周|个月)前",
    r"\d+(?:\.\d+)?\s*[万wk]?\s*(?:次|人|条)?\s*" + f"(?:{'|'.join(_COUNTERS)})",
    r"\d+\s*(?:楼|#)",  # floor numbers
)
# One pass; a look-ahead on the characters a match can start with lets every other position
# fail at once (twice as fast as the bare alternation). Where two patterns match at one
# place, the earlier wins.
_STARTS = "".join(sorted({"本", "i"} | {w[0] for w in _COUNTERS + _FURNITURE}))
_VOLATILE = re.compile(
    f"(?=[\\d{_STARTS}])(?:" + "|".join(f"(?:{p})" for p in _LED_BY_WORD + _LED_BY_DIGIT) + ")"
)
_DIGITS = re.compile(r"\d+")
_NOT_ALNUM = re.compile(r"[\W_]+")  # punctuation, spaces, symbols: all but letters and digits


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What two pages' bodies are compared on: the masked body's length, shingle count and
    digest, and the SKETCH smallest hashes of its shingles (empty for a body under
    MIN_AD_CHARS)."""

    chars: int
    shingles: int
    digest: str  # BLAKE2b of the masked body: equal bodies, equal digests
    sketch: bytes  # up to SKETCH distinct shingle hashes, ascending, little-endian uint64

    @property
    def short(self) -> bool:
        """True when the body is too short to judge by similarity (compared whole)."""
        return self.chars < MIN_AD_CHARS


@dataclass(frozen=True, slots=True)
class Poster:
    """Who a page says posted it: its contacts, the source and the account name it shows."""

    contacts: frozenset[tuple[str, str]] = frozenset()  # (kind, normalized value)
    source: str = ""
    author: str = ""


@dataclass(frozen=True, slots=True)
class AdPage:
    """One page as `compare` sees it: its fingerprint and who posted it."""

    fingerprint: Fingerprint
    poster: Poster = Poster()


@dataclass(frozen=True, slots=True)
class Comparison:
    """Whether two pages are one ad, the two measures behind it and why, in a few words."""

    same: bool
    jaccard: float
    containment: float
    reason: str


def ad_body(text: str, title: str = "") -> str:
    """The text compared: normalized, the title line dropped (analysis stores a page as its
    title, a newline and the body, and reposts come under titles of their own), volatile parts
    (`_VOLATILE`) dropped, other digits as "0", only letters and digits kept."""
    norm = normalize(text).text
    head = " ".join(normalize(title).text.split())
    first, sep, rest = norm.partition("\n")
    if head and sep and " ".join(first.split()) == head:
        norm = rest
    norm = _VOLATILE.sub(" ", norm)
    return _NOT_ALNUM.sub("", _DIGITS.sub("0", norm))


def _shingle_hashes(body: str) -> np.ndarray:
    """The distinct 64-bit hashes of the body's SHINGLE-character shingles."""
    codes = np.frombuffer(body.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes) - SHINGLE + 1
    if n <= 0:
        return np.empty(0, np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(SHINGLE):  # polynomial over code points, wrapping mod 2**64
        h = (h + codes[j : j + n]) * _MIX
    h ^= h >> np.uint64(29)  # mix every bit into the low ones: the smallest hashes must be
    h *= np.uint64(0xBF58476D1CE4E5B9)  # a fair sample of the shingles
    h ^= h >> np.uint64(32)
    return np.unique(h)  # sorted


def fingerprint(text: str, title: str = "") -> Fingerprint:
    """The fingerprint of a page's main text (`title`: its title, left out when it is the
    text's first line)."""
    body = ad_body(text, title)
    digest = hashlib.blake2b(body.encode("utf-8"), digest_size=16).hexdigest()
    hashes = _shingle_hashes(body)
    if len(body) < MIN_AD_CHARS or not len(hashes):
        return Fingerprint(len(body), len(hashes), digest, b"")
    return Fingerprint(len(body), len(hashes), digest, hashes[:SKETCH].astype("<u8").tobytes())


def text_similarity(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """(estimated Jaccard, estimated containment of the smaller in the larger) of two
    fingerprints; short bodies score 1.0 when identical, else 0.0 (and 0.0 when either body is
    shorter than one shingle)."""
    if a.chars < SHINGLE or b.chars < SHINGLE:  # no words left: nobody's ad
        return 0.0, 0.0
    if a.short or b.short:
        same = float(a.digest == b.digest)
        return same, same
    if a.digest == b.digest:
        return 1.0, 1.0
    sa = np.frombuffer(a.sketch, dtype="<u8")
    sb = np.frombuffer(b.sketch, dtype="<u8")
    if a.shingles <= SKETCH and b.shingles <= SKETCH:  # whole sets: exact
        shared = _shared(sa, sb)
        jaccard = shared / (a.shingles + b.shingles - shared)
    else:  # a shingle of both among the union's smallest is in both sketches
        union = np.union1d(sa, sb)[:SKETCH]
        jaccard = _shared(sa[sa <= union[-1]], sb) / len(union)
        shared = jaccard / (1 + jaccard) * (a.shingles + b.shingles)
    return jaccard, min(1.0, shared / min(a.shingles, b.shingles))


def _shared(a: np.ndarray, b: np.ndarray) -> int:
    """How many values two ascending arrays of distinct values have in common."""
    if not len(a) or not len(b):
        return 0
    at = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return int(np.count_nonzero(b[at] == a))


def near_duplicate(a: Fingerprint, b: Fingerprint) -> bool:
    """True when two bodies are one text with small differences (see SAME_AD_JACCARD)."""
    jaccard, containment = text_similarity(a, b)
    return _near(a, b, jaccard, containment)


def _near(a: Fingerprint, b: Fingerprint, jaccard: float, containment: float) -> bool:
    if jaccard >= SAME_AD_JACCARD:
        return True
    ratio = min(a.shingles, b.shingles) / max(a.shingles, b.shingles, 1)
    return containment >= SAME_AD_CONTAINMENT and ratio >= MIN_LENGTH_RATIO


def _account(author: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", author).casefold().split())


def posters_agree(a: Poster, b: Poster) -> tuple[bool, str]:
    """Whether two pages can be one poster's one ad, and why in a few words.

    Near-identical text is not enough: a template campaign is near-identical text by design.
    - Both show contacts: one page's phones/WeChat/QQ ids/e-mails must all be on the other
      (a site cut or masked part of the contact line). A template's accounts each bring their
      own number; a team number shared beside their own is not enough.
    - Neither shows any: one named account must have posted both on one source; nothing
      else says whose ad it is. A page with contacts never joins one without.
    - One source naming two different accounts: two postings (sock puppets or a template),
      whatever the contacts; actors and templates link them without hiding either lead.
      Account names are not compared across sources: promoters rarely keep one name.
    """
    ca = {c for c in a.contacts if c[0] in IDENTIFYING_KINDS}
    cb = {c for c in b.contacts if c[0] in IDENTIFYING_KINDS}
    one_source = bool(a.source) and a.source == b.source
    acc_a, acc_b = _account(a.author), _account(b.author)
    if one_source and acc_a and acc_b and acc_a != acc_b:
        return False, "two accounts of one source"
    if ca and cb:
        if ca <= cb or cb <= ca:
            return True, "same contacts" if ca == cb else "contacts of one within the other's"
        return False, "different contacts"
    if ca or cb:
        return False, "contacts on one page only"
    if one_source and acc_a and acc_a == acc_b:
        return True, "no contacts, one account of one source"
    return False, "no contacts and no shared account"


def compare(a: AdPage, b: AdPage) -> Comparison:
    """Whether two pages are one ad: near-duplicate bodies and posters that agree."""
    jaccard, containment = text_similarity(a.fingerprint, b.fingerprint)
    if not _near(a.fingerprint, b.fingerprint, jaccard, containment):
        return Comparison(False, jaccard, containment, "different text")
    agree, why = posters_agree(a.poster, b.poster)
    return Comparison(agree, jaccard, containment, why)


def same_ad(a: AdPage, b: AdPage) -> bool:
    """True when two pages are one ad posted twice (`compare`)."""
    return compare(a, b).same
