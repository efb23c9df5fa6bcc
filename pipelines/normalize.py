"""Text normalization for matching, with an offset map back to the original text.

Promoters hide words and numbers behind full-width forms, circled digits, keycap emoji,
zero-width characters and Traditional characters. Matching runs on a normalized view; the
evidence must quote the original, so every normalized character remembers where it came from.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import opencc

# Invisible characters that carry no meaning but break matching: zero-width space/joiners,
# word joiner, BOM, soft hyphen, variation selectors (emoji presentation) and the combining
# keycap that turns "1" into "1️⃣".
INVISIBLE = frozenset(
    "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u20e3\u180e"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)

# Separators promoters put inside words ("征✨信", "征 信", "征-信"): dropped in the compact view.
# Sentence punctuation (，。！？；：) is kept so that words never match across sentences.
DECORATIVE_PUNCT = frozenset("·•*~-_|/\\.'\"`^#@&=+<>()[]{}「」『』【】〖〗《》〈〉“”‘’…—～｜・")

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    """One OpenCC converter per process: building it reads dictionaries (~10 ms)."""
    return opencc.OpenCC("t2s")


def _nfkc_char(ch: str) -> str:
    """NFKC of one character, minus invisibles."""
    if ch in INVISIBLE:
        return ""
    out = unicodedata.normalize("NFKC", ch)
    if len(out) > 1:
        out = "".join(c for c in out if c not in INVISIBLE)
    return out


class _FoldTable(dict[int, str]):
    """A `str.translate` table filled on first sight of each character: NFKC per character at
    C speed once warm. Characters that do not map one-to-one are remembered in `uneven`."""

    def __init__(self) -> None:
        super().__init__()
        self.uneven: set[str] = set()

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = _nfkc_char(ch)
        if len(out) != 1:
            self.uneven.add(ch)
        self[code] = out
        return out


class _DecorationTable(dict[int, str | None]):
    """A `str.translate` table deleting decorations; `flags` marks the decorations met."""

    def __init__(self) -> None:
        super().__init__()
        # The same verdicts by code point, for numpy: True = a decoration met so far.
        self.flags = np.zeros(sys.maxunicode + 1, dtype=bool)

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        out = None if is_decoration(ch) else ch
        if out is None:
            self.flags[code] = True
        self[code] = out
        return out


_FOLD = _FoldTable()
# Runs of characters that NFKC might change. ASCII, the CJK Unified Ideographs and the common
# CJK punctuation (、。“”‘’〈〉《》「」『』【】) are NFKC-stable, and make up nearly all of a
# Chinese page: skipping them keeps normalization at C speed; the rest goes through _FOLD.
_UNSURE = re.compile(
    "[^\t\n\r\x20-\x7e\u4e00-\u9fff\u3001\u3002\u2018\u2019\u201c\u201d\u3008-\u3011]+"
)
_DECORATIONS = _DecorationTable()


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalized view of `original`; `offsets[i]` is the original index of `text[i]`.

    `offsets` is None when the view is character-for-character aligned with the original
    (the common case), which keeps normalization nearly free for clean pages.
    """

    original: str
    text: str
    offsets: Sequence[int] | None = None

    def origin(self, i: int) -> int:
        """Original index of normalized position `i` (`len(text)` maps to the end)."""
        if self.offsets is None:
            return i
        if i >= len(self.offsets):
            return len(self.original)
        return self.offsets[i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the normalized text to the original text."""
        if self.offsets is None:  # aligned view: the common case, and a hot path
            return (start, end) if end > start else (start, start)
        if end <= start:
            s = self.origin(start)
            return s, s
        return self.origin(start), self.origin(end - 1) + 1

    def original_slice(self, start: int, end: int) -> str:
        """The original characters behind a normalized span: what evidence quotes."""
        s, e = self.to_original(start, end)
        return self.original[s:e]


def _fold(original: str) -> tuple[str, Sequence[int] | None]:
    """NFKC per character and invisible removal, returning text and offsets (None: aligned)."""
    folded = _UNSURE.sub(lambda m: m.group().translate(_FOLD), original)
    if _FOLD.uneven.isdisjoint(original):
        return folded, None
    # Rare (keycaps, zero-width characters, ㈠): build the offset table character by character.
    offs = array("i")
    for i, ch in enumerate(original):
        offs.extend([i] * len(_FOLD[ord(ch)]))
    return folded, offs


def _to_simplified(text: str) -> str:
    """Traditional → Simplified, length-preserving (falls back to per-character conversion)."""
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    # Phrase rules changed the length somewhere: convert character by character instead,
    # keeping only one-to-one results so offsets stay exact.
    conv = _t2s().convert
    return "".join(c2 if len(c2 := conv(c)) == 1 else c for c in text)


def normalize(original: str) -> NormalizedText:
    """NFKC (full-width → half-width, circled digits → digits), invisibles out, Traditional →
    Simplified, ASCII lower-cased; the original is kept for evidence."""
    folded, offsets = _fold(original)
    text = _to_simplified(folded).translate(_ASCII_LOWER)
    return NormalizedText(original, text, offsets)


def is_decoration(ch: str) -> bool:
    """True for characters promoters insert inside words: spaces, symbols, emoji, dashes."""
    if ch.isspace() or ch in DECORATIVE_PUNCT:
        return True
    cat = unicodedata.category(ch)
    return cat in ("So", "Sk", "Sm", "Cf", "Cs", "Co")


def compact(norm: NormalizedText) -> NormalizedText:
    """The normalized view without decorations: "征 ✨信-修复" reads "征信修复"."""
    text = norm.text.translate(_DECORATIONS)  # also flags every decoration in the text
    if len(text) == len(norm.text):
        return norm
    # Offsets of the kept characters, vectorized: a page can hold thousands of decorations.
    codes = np.frombuffer(norm.text.encode("utf-32-le"), dtype=np.uint32)
    kept = np.flatnonzero(~_DECORATIONS.flags[codes]).astype(np.int32)
    if norm.offsets is not None:
        kept = np.asarray(norm.offsets, dtype=np.int32)[kept]
    offs = array("i")
    offs.frombytes(kept.tobytes())
    return NormalizedText(norm.original, text, offs)


# The stages of one analysis (lexicon, contacts, businesses, USCC) each need the normalized
# text of the same document: a tiny cache keyed by the text lets them share one normalization.
normalize_shared = lru_cache(maxsize=4)(normalize)
