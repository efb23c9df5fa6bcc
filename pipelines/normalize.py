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
    """A `str.translate` table filled on first sight of each character: NFKC per character."""

    def __missing__(self, code: int) -> str:
        out = self[code] = _nfkc_char(chr(code))
        return out


class _DecorationVerdicts:
    """Per code point, whether it is a decoration, learned on first sight: a numpy lookup table
    (0 = not met yet, 1 = kept, 2 = decoration), so a whole text is classified at C speed."""

    KEPT, DECORATION = 1, 2

    def __init__(self) -> None:
        self.table = np.zeros(sys.maxunicode + 1, dtype=np.uint8)

    def of(self, codes: np.ndarray) -> np.ndarray:
        """The verdicts of `codes` (UTF-32 code points), learning the ones never met."""
        verdicts = self.table[codes]
        if not verdicts.all():
            for code in np.unique(codes[verdicts == 0]).tolist():
                dec = is_decoration(chr(code))
                self.table[code] = self.DECORATION if dec else self.KEPT
            verdicts = self.table[codes]
        return verdicts


class _FoldCodes:
    """NFKC per code point as a numpy lookup table, learned from `_FOLD` on first sight: the
    folded code point, or UNEVEN for a character that folds to none or several (rare)."""

    UNSEEN, UNEVEN = 0xFFFFFFFE, 0xFFFFFFFF  # both above any code point

    def __init__(self) -> None:
        self.table = np.full(sys.maxunicode + 1, self.UNSEEN, dtype=np.uint32)

    def of(self, codes: np.ndarray) -> np.ndarray:
        """The folded code points of `codes`, learning the ones never met."""
        folded = self.table[codes]
        unseen = folded == self.UNSEEN
        if unseen.any():
            for code in np.unique(codes[unseen]).tolist():
                out = _FOLD[code]
                self.table[code] = ord(out) if len(out) == 1 else self.UNEVEN
            folded = self.table[codes]
        return folded


_FOLD = _FoldTable()
_FOLD_CODES = _FoldCodes()
_ASCII_UPPER = re.compile("[A-Z]")
_ASCII_UPPER_SPLIT = re.compile("([A-Z]+)")
_DECORATIONS = _DecorationVerdicts()


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
        offsets = self.offsets
        if offsets is None:
            return i
        if i >= len(offsets):
            return len(self.original)
        return offsets[i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the normalized text to the original text."""
        offsets = self.offsets
        if offsets is None:  # aligned view: the common case, and a hot path
            return (start, end) if end > start else (start, start)
        # origin() inlined: evidence maps dozens of spans per page
        n = len(offsets)
        s = offsets[start] if start < n else len(self.original)
        if end <= start:
            return s, s
        return s, (offsets[end - 1] if end - 1 < n else len(self.original)) + 1

    def original_slice(self, start: int, end: int) -> str:
        """The original characters behind a normalized span: what evidence quotes."""
        s, e = self.to_original(start, end)
        return self.original[s:e]


def _fold(original: str) -> tuple[str, Sequence[int] | None]:
    """NFKC per character and invisible removal, returning text and offsets (None: aligned)."""
    codes = np.frombuffer(original.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded = _FOLD_CODES.of(codes)
    if folded.max(initial=0) <= sys.maxunicode:  # one character for one: the common case
        return folded.tobytes().decode("utf-32-le", "surrogatepass"), None
    # Rare (keycaps, zero-width characters, ㈠): build the offset table character by character.
    offs = array("i")
    for i, ch in enumerate(original):
        offs.extend([i] * len(_FOLD[ord(ch)]))
    return original.translate(_FOLD), offs


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
    text = _to_simplified(folded)
    if _ASCII_UPPER.search(text):  # lower-case ASCII letters only (str.lower of [A-Z]+)
        parts = _ASCII_UPPER_SPLIT.split(text)
        parts[1::2] = map(str.lower, parts[1::2])
        text = "".join(parts)
    return NormalizedText(original, text, offsets)


def is_decoration(ch: str) -> bool:
    """True for characters promoters insert inside words: spaces, symbols, emoji, dashes."""
    if ch.isspace() or ch in DECORATIVE_PUNCT:
        return True
    cat = unicodedata.category(ch)
    return cat in ("So", "Sk", "Sm", "Cf", "Cs", "Co")


def compact(norm: NormalizedText) -> NormalizedText:
    """The normalized view without decorations: "征 ✨信-修复" reads "征信修复"."""
    # Vectorized over code points: a page can hold thousands of decorations.
    codes = np.frombuffer(norm.text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    kept_mask = _DECORATIONS.of(codes) != _DecorationVerdicts.DECORATION
    if kept_mask.all():
        return norm
    kept = np.flatnonzero(kept_mask)
    text = codes[kept].tobytes().decode("utf-32-le")
    kept = kept.astype(np.int32)
    if norm.offsets is not None:
        kept = np.asarray(norm.offsets, dtype=np.int32)[kept]
    offs = array("i")
    offs.frombytes(kept.tobytes())
    return NormalizedText(norm.original, text, offs)


# The stages of one analysis (lexicon, contacts, businesses, USCC) each need the normalized
# text of the same document: a tiny cache keyed by the text lets them share one normalization.
normalize_shared = lru_cache(maxsize=4)(normalize)
