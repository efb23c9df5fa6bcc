"""Text normalization for matching, with an offset map back to the original text.

Promoters hide words and numbers behind full-width forms, circled digits, keycap emoji,
zero-width characters and Traditional characters. Matching runs on a normalized view; the
evidence must quote the original, so every normalized character remembers where it came from.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=65536)
def _nfkc_char(ch: str) -> str:
    """NFKC of one character, minus invisibles: cached, the alphabet of real pages is small."""
    if ch in INVISIBLE:
        return ""
    out = unicodedata.normalize("NFKC", ch)
    if len(out) > 1:
        out = "".join(c for c in out if c not in INVISIBLE)
    return out


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A normalized view of `original`; `offsets[i]` is the original index of `text[i]`.

    `offsets` is None when the view is character-for-character aligned with the original
    (the common case), which keeps normalization nearly free for clean pages.
    """

    original: str
    text: str
    offsets: tuple[int, ...] | None = None

    def origin(self, i: int) -> int:
        """Original index of normalized position `i` (`len(text)` maps to the end)."""
        if self.offsets is None:
            return i
        if i >= len(self.offsets):
            return len(self.original)
        return self.offsets[i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map a half-open span of the normalized text to the original text."""
        if end <= start:
            s = self.origin(start)
            return s, s
        return self.origin(start), self.origin(end - 1) + 1

    def original_slice(self, start: int, end: int) -> str:
        """The original characters behind a normalized span: what evidence quotes."""
        s, e = self.to_original(start, end)
        return self.original[s:e]

    def derive(self, keep: Callable[[str], bool]) -> NormalizedText:
        """A further view keeping only characters for which `keep` is true; offsets compose."""
        chars: list[str] = []
        offs: list[int] = []
        for i, ch in enumerate(self.text):
            if keep(ch):
                chars.append(ch)
                offs.append(self.origin(i))
        return NormalizedText(self.original, "".join(chars), tuple(offs))


def _fold(original: str) -> tuple[str, tuple[int, ...] | None]:
    """NFKC per character and invisible removal, returning text and offsets (None: aligned)."""
    if unicodedata.is_normalized("NFKC", original) and not any(c in INVISIBLE for c in original):
        return original, None
    chars: list[str] = []
    offs: list[int] = []
    aligned = True
    for i, ch in enumerate(original):
        out = _nfkc_char(ch)
        if len(out) != 1:
            aligned = False
        chars.append(out)
        offs.extend([i] * len(out))
    text = "".join(chars)
    return text, (None if aligned else tuple(offs))


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
    return norm.derive(lambda ch: not is_decoration(ch))
