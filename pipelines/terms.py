"""Emerging terms: words over-represented in promotions and absent from the lexicon.

Promoters coin slang faster than anyone edits `lexicon.yaml`. This module compares the
documents judged promotions with the other stored pages (warnings, news, chatter) and proposes
the words and phrases that sellers use and nobody else does, with example spans quoted from the
pages as written, so an analyst can decide whether to add them. Pure: documents in, dataclasses
out; the database query lives in `storage.terms`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pipelines import datafiles
from pipelines.lexicon import Lexicon, tokenizer
from pipelines.normalize import NormalizedText, compact, normalize

DATA_PATH = Path(__file__).parent / "data" / "terms.yaml"

WORD_LENGTHS = (2, 8)  # jieba words kept as candidates, in characters
GRAM_LENGTHS = (2, 4)  # character n-grams of the compact text
PRIOR_DOCS = 10.0  # strength of the informative prior, in documents (see `log_odds_z`)
MIN_SCORE = 1.0  # lowest z-score suggested: one standard error above "no difference"
CONTEXT = 12  # characters of original text quoted on each side of an example

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


@dataclass(frozen=True, slots=True)
class TermDoc:
    """One stored page as the term statistics see it: its text and whether it is a promotion."""

    doc_id: int
    url: str
    text: str
    promotion: bool


@dataclass(frozen=True, slots=True)
class Example:
    """Where a suggested term occurs: `start`/`end` index the stored text, `raw` quotes it,
    `before`/`after` are the few characters around it (whitespace runs made one space)."""

    url: str
    start: int
    end: int
    raw: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A candidate term with its document counts on each side and its z-score."""

    term: str
    promotion_docs: int
    other_docs: int
    score: float
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True, slots=True)
class TermReport:
    """Suggestions, best first, and how many distinct documents each side had."""

    promotion_docs: int
    other_docs: int
    suggestions: list[Suggestion] = field(default_factory=list)


@dataclass(frozen=True)
class Vocabulary:
    """What may never be suggested: stop-words, edge characters, and every lexicon entry,
    every part of one and everything that contains one (all normalized like page text)."""

    lexicon: Lexicon
    stopwords: frozenset[str]
    edge_chars: frozenset[str]
    lexicon_keys: frozenset[str]
    key_parts: frozenset[str]

    @classmethod
    def build(cls, lexicon: Lexicon | None = None, path: Path = DATA_PATH) -> Vocabulary:
        """From the lexicon (default: the configured one) and the stop-word file."""
        lex = lexicon or Lexicon.load()
        keys = frozenset(lex.jieba_words())
        stop, edges = _load_stoplists(str(path))
        return cls(lex, stop, edges, keys, frozenset(_substrings(keys)))

    def allowed(self, term: str) -> bool:
        """True when `term` is shaped like a word and the lexicon knows nothing like it."""
        if not _word_shaped(term) or term in self.stopwords or term in self.key_parts:
            return False
        if term[0] in self.edge_chars or term[-1] in self.edge_chars:
            return False
        return not any(part in self.lexicon_keys for part in _substrings((term,)))

    def free_mask(self, view: NormalizedText) -> bytearray:
        """1 for each character of the compact view outside every lexicon hit, else 0: no
        candidate may overlap a known word (修复不成 straddles 征信修复 and 不成功不收费)."""
        mask = bytearray(b"\x01") * len(view.text)
        for hit in self.lexicon.find(view):
            mask[hit.start : hit.end] = bytes(hit.end - hit.start)
        return mask


@lru_cache(maxsize=4)
def _load_stoplists(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """(stop-words, edge characters) from the data file, normalized like page text."""
    p = Path(path)
    data = datafiles.read_mapping(p)
    datafiles.string_lists(p, data, required=("stopwords", "edge_chars"))
    stop = frozenset(compact(normalize(w)).text for w in data["stopwords"])
    edges = frozenset(compact(normalize(c)).text for c in data["edge_chars"])
    return stop, edges


def _substrings(words: Iterable[str]) -> Iterator[str]:
    """Every substring of two or more characters of each word (the word itself included)."""
    for w in words:
        for i in range(len(w) - 1):
            for j in range(i + 2, len(w) + 1):
                yield w[i:j]


def _word_shaped(term: str) -> bool:
    """Chinese characters, optionally with some Latin letters: no digits, no punctuation."""
    cjk = sum(1 for ch in term if _is_cjk(ch))
    latin = sum(1 for ch in term if ch.isascii() and ch.isalpha())
    return cjk >= 1 and cjk + latin == len(term) and cjk >= latin


def compact_view(text: str) -> NormalizedText:
    """The view candidates come from: normalized, decorations removed, mapped to `text`."""
    return compact(normalize(text))


def raw_candidates(view: NormalizedText, free: bytearray | None = None) -> set[str]:
    """Jieba words of 2–8 characters and CJK character n-grams of 2–4 that lie wholly on
    characters `free` marks (default: all), unfiltered otherwise."""
    free = free if free is not None else bytearray(b"\x01") * len(view.text)
    found: set[str] = set()
    lo, hi = WORD_LENGTHS
    for word, start, end in tokenizer().tokenize(view.text):
        if lo <= len(word) <= hi and all(free[start:end]):
            found.add(word)
    lo, hi = GRAM_LENGTHS
    for m in _CJK_RUN.finditer(view.text):
        for run in _free_pieces(m.group(), free[m.start() : m.end()]):
            for n in range(lo, min(hi, len(run)) + 1):
                found.update(run[i : i + n] for i in range(len(run) - n + 1))
    return found


def _free_pieces(run: str, free: bytes | bytearray) -> list[str]:
    """`run` cut at every character `free` marks 0."""
    pieces, piece = [], []
    for ch, ok in zip(run, free, strict=True):
        if ok:
            piece.append(ch)
        elif piece:
            pieces.append("".join(piece))
            piece = []
    if piece:
        pieces.append("".join(piece))
    return pieces


def log_odds_z(
    prom: int, other: int, n_prom: int, n_other: int, prior: float = PRIOR_DOCS
) -> float:
    """z-score of the log-odds ratio of "a promotion contains the term" vs "another page does",
    with an informative prior (Monroe, Colaresi & Quinn 2008, in its two-outcome Beta form).

    Why: counts are small (a new word sits in a handful of pages), where raw ratios explode and
    plain log-odds rank a word seen once on one side as high as one seen fifty times. The prior
    is worth `prior` documents at the pooled rate p, so each side's odds are shrunk towards
    p/(1−p); the z-score divides by the estimate's standard error, which falls as evidence
    grows. A term equally frequent (as a share of documents) on both sides scores exactly 0.
    """
    pooled = (prom + other) / (n_prom + n_other)
    if pooled <= 0.0 or pooled >= 1.0:
        return 0.0
    a, b = prior * pooled, prior * (1.0 - pooled)
    sides = ((prom + a, n_prom - prom + b), (other + a, n_other - other + b))
    (p_in, p_out), (o_in, o_out) = sides
    delta = math.log(p_in / p_out) - math.log(o_in / o_out)
    variance = 1 / p_in + 1 / p_out + 1 / o_in + 1 / o_out
    return delta / math.sqrt(variance)


class _Counts:
    """Document frequencies of allowed candidates on each side, exact duplicates counted once."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.allowed: dict[str, bool] = {}
        self.docs: dict[str, list[int]] = {}  # term → [promotion docs, other docs]
        self.seen: set[bytes] = set()
        self.totals = [0, 0]
        self.promotions: list[tuple[TermDoc, NormalizedText]] = []

    def add(self, doc: TermDoc) -> None:
        view = compact_view(doc.text)
        digest = hashlib.blake2b(view.text.encode(), digest_size=16).digest()
        if not view.text or digest in self.seen:
            return
        self.seen.add(digest)
        side = 0 if doc.promotion else 1
        self.totals[side] += 1
        if doc.promotion:
            self.promotions.append((doc, view))
        for term in raw_candidates(view, self.vocab.free_mask(view)):
            ok = self.allowed.get(term)
            if ok is None:
                ok = self.allowed[term] = self.vocab.allowed(term)
            if ok:
                self.docs.setdefault(term, [0, 0])[side] += 1


def absorbed(docs: dict[str, list[int]], eligible: Iterable[str]) -> set[str]:
    """Terms found only where a longer eligible term is (same counts on both sides): the
    longer form is reported, e.g. 蓝鲸上岸 rather than 蓝鲸 and 鲸上 as well."""
    gone: set[str] = set()
    for term in sorted(eligible, key=len, reverse=True):
        counts = docs[term]
        for part in _substrings((term,)):
            if part != term and docs.get(part) == counts:
                gone.add(part)
    return gone


def _overlap(a: str, b: str) -> int:
    """How many characters the end of one string shares with the start of the other."""
    sizes = range(min(len(a), len(b)) - 1, 1, -1)
    return next((k for k in sizes if a.endswith(b[:k]) or b.endswith(a[:k])), 0)


def _same_phrase(better: Suggestion, s: Suggestion) -> bool:
    """`s` is `better` cut differently: they overlap and have the same counts (入鲸落计 and
    鲸落计划 in the same pages), or `s` is `better` shifted by one character and no more common
    in promotions (名鲸落计 beside 鲸落计划)."""
    k = _overlap(better.term, s.term)
    if k < 2:
        return False
    same = (better.promotion_docs, better.other_docs) == (s.promotion_docs, s.other_docs)
    return same or (k == len(s.term) - 1 and s.promotion_docs <= better.promotion_docs)


def rank(
    docs: dict[str, list[int]], totals: tuple[int, int], min_docs: int, limit: int
) -> list[Suggestion]:
    """Score every term in at least `min_docs` promotions; the best `limit`, longest forms only.

    A term that is a better one cut differently (see `_same_phrase`) is left out.
    """
    eligible = [t for t, (p, _) in docs.items() if p >= min_docs]
    skip = absorbed(docs, eligible)
    scored = [
        Suggestion(t, docs[t][0], docs[t][1], round(log_odds_z(*docs[t], *totals), 3))
        for t in eligible
        if t not in skip
    ]
    scored.sort(key=lambda s: (-s.score, -len(s.term), s.term))
    kept: list[Suggestion] = []
    for s in scored:
        if s.score < MIN_SCORE or len(kept) >= limit:
            break
        if not any(_same_phrase(k, s) for k in kept):
            kept.append(s)
    return kept


def _example(doc: TermDoc, view: NormalizedText, start: int, end: int) -> Example:
    s, e = view.to_original(start, end)
    before, after = doc.text[max(0, s - CONTEXT) : s], doc.text[e : e + CONTEXT]
    return Example(doc.url, s, e, doc.text[s:e], _one_line(before), _one_line(after))


def _one_line(text: str) -> str:
    """`text` with every whitespace run (newlines included) made one space."""
    return re.sub(r"\s+", " ", text)


def attach_examples(
    suggestions: list[Suggestion], promotions: list[tuple[TermDoc, NormalizedText]], per_term: int
) -> list[Suggestion]:
    """Each suggestion with up to `per_term` examples from different promotion documents."""
    found: dict[str, list[Example]] = {s.term: [] for s in suggestions}
    for doc, view in promotions:
        pending = [t for t, ex in found.items() if len(ex) < per_term]
        if not pending:
            break
        for term in pending:
            i = view.text.find(term)
            if i >= 0:
                found[term].append(_example(doc, view, i, i + len(term)))
    return [
        Suggestion(s.term, s.promotion_docs, s.other_docs, s.score, tuple(found[s.term]))
        for s in suggestions
    ]


def suggest_terms(
    docs: Iterable[TermDoc],
    vocab: Vocabulary | None = None,
    *,
    min_docs: int = 3,
    limit: int = 30,
    examples: int = 2,
) -> TermReport:
    """Terms over-represented in promotions and unknown to the lexicon, best first."""
    counts = _Counts(vocab or Vocabulary.build())
    for doc in docs:
        counts.add(doc)
    totals = (counts.totals[0], counts.totals[1])
    if not all(totals):
        return TermReport(*totals)
    best = rank(counts.docs, totals, min_docs, limit)
    return TermReport(*totals, attach_examples(best, counts.promotions, examples))
