"""The lexicon: service categories, promotion cues and warning cues, from a YAML data file.

Compiled once into one Aho-Corasick automaton so that matching costs one pass over the text
whatever the lexicon size. Entries are normalized exactly like page text, so Traditional,
full-width and decorated spellings match without listing them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import ahocorasick
import yaml

from pipelines.errors import ConfigError
from pipelines.normalize import NormalizedText, compact, normalize
from pipelines.settings import settings

DEFAULT_PATH = Path(__file__).parent / "data" / "lexicon.yaml"
ENTRY_KINDS = ("term", "promotion_cue", "warning_cue")


@dataclass(frozen=True, slots=True)
class Entry:
    """One matchable string and what it stands for."""

    kind: str  # term | promotion_cue | warning_cue
    label: str  # category id for terms, cue group for cues
    term: str  # canonical entry (what evidence reports)
    weight: float


class Hit(NamedTuple):
    """An entry found in a compact view; `start`/`end` index that view's text.

    A named tuple, not a dataclass: a page holds hundreds of hits, and a tuple is built
    several times faster than a frozen dataclass instance."""

    entry: Entry
    start: int
    end: int


# Matches are sorted as one int each: start, then longest first, then the entry's index, packed
# in bit fields (sorting ints is several times faster than sorting tuples). Entries longer than
# _LEN_MASK characters or lexicons of more than _INDEX_MASK + 1 entries use tuples instead.
_INDEX_BITS = 16
_INDEX_MASK = (1 << _INDEX_BITS) - 1
_LEN_BITS = 8
_LEN_MASK = (1 << _LEN_BITS) - 1
_START_SHIFT = _INDEX_BITS + _LEN_BITS


class Lexicon:
    """A compiled lexicon; build with `Lexicon.load()` (cached) or `Lexicon.from_dict()`."""

    def __init__(
        self, entries: dict[str, Entry], labels: dict[str, str], watch: list[str], version: str
    ) -> None:
        self.labels = labels  # category id → Chinese label
        self.watch = watch
        self.version = version
        self._keys = list(entries)
        self._entries = list(entries.values())
        kinds = {kind: i for i, kind in enumerate(dict.fromkeys(e.kind for e in self._entries))}
        self._kind_of = [kinds[e.kind] for e in self._entries]
        self._kinds = len(kinds)
        self._packed = len(entries) <= _INDEX_MASK + 1 and all(len(k) <= _LEN_MASK for k in entries)
        self._automaton = ahocorasick.Automaton()
        for i, (key, entry) in enumerate(entries.items()):
            n = len(key)
            # the value: the length, and the low bits of the packed sort key (see find)
            self._automaton.add_word(key, (n, ((_LEN_MASK - n) << _INDEX_BITS) | i, entry))
        self._automaton.make_automaton()
        self.size = len(entries)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Lexicon:
        """Load and compile a lexicon file (default: $GREYWATCH_LEXICON or the bundled one)."""
        return _load_cached(str(path or settings().lexicon or DEFAULT_PATH))

    @classmethod
    def from_dict(cls, data: Any, origin: str = "<lexicon>", digest: str = "") -> Lexicon:
        """Validate the parsed YAML; errors name the file, section and entry."""
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: expected a mapping at the top level")
        entries: dict[str, Entry] = {}
        labels: dict[str, str] = {}
        watch: list[str] = []
        cats = data.get("categories")
        if not isinstance(cats, dict) or not cats:
            raise ConfigError(f"{origin}: 'categories' must be a non-empty mapping")
        for cat_id, cat in cats.items():
            where = f"{origin}: categories.{cat_id}"
            if not isinstance(cat, dict) or not isinstance(cat.get("terms"), list):
                raise ConfigError(f"{where}: needs a 'terms' list")
            labels[cat_id] = str(cat.get("label") or cat_id)
            for i, item in enumerate(cat["terms"]):
                term, weight, variants, is_watch = _parse_term(item, f"{where}.terms[{i}]")
                entry = Entry("term", cat_id, term, weight)
                for spelling in (term, *variants):
                    _add(entries, spelling, entry, f"{where}.terms[{i}]")
                if is_watch:
                    watch.append(term)
        for section, kind in (("promotion_cues", "promotion_cue"), ("warning_cues", "warning_cue")):
            groups = data.get(section) or {}
            if not isinstance(groups, dict):
                raise ConfigError(f"{origin}: '{section}' must map group names to lists")
            for group, words in groups.items():
                if not isinstance(words, list):
                    raise ConfigError(f"{origin}: {section}.{group} must be a list of words")
                for word in words:
                    _add(entries, str(word), Entry(kind, group, str(word), 1.0), f"{section}")
        version = f"{data.get('version', 0)}-{digest[:12]}" if digest else str(data.get("version"))
        return cls(entries, labels, watch, version)

    def find(self, view: NormalizedText) -> list[Hit]:
        """All entries in a compact view, longest-first and non-overlapping per kind."""
        # Every match, ordered by start, longest first: (start, -length) never ties, as one
        # start and length are one string. A shorter match at a start where a longer one of
        # the same kind was kept or refused is refused too, so no per-start pass is needed.
        if not self._packed:
            return self._find_tuples(view)
        text = view.text
        found = [
            ((end - n + 1) << _START_SHIFT) | low for end, (n, low, _) in self._automaton.iter(text)
        ]
        found.sort()
        entries, kind_of = self._entries, self._kind_of
        kept: list[Hit] = []
        last_end = [-1] * self._kinds
        for key in found:
            i = key & _INDEX_MASK
            k = kind_of[i]
            start = key >> _START_SHIFT
            if start >= last_end[k]:
                end = start + _LEN_MASK - ((key >> _INDEX_BITS) & _LEN_MASK)
                kept.append(Hit(entries[i], start, end))
                last_end[k] = end
        return kept

    def _find_tuples(self, view: NormalizedText) -> list[Hit]:
        """`find` for lexicons too large for packed sort keys: the same order, with tuples."""
        found = [(end - n + 1, -n, e) for end, (n, _, e) in self._automaton.iter(view.text)]
        found.sort()
        kept: list[Hit] = []
        last_end: dict[str, int] = {}
        for start, neg_len, entry in found:
            if start >= last_end.get(entry.kind, -1):
                end = start - neg_len
                kept.append(Hit(entry, start, end))
                last_end[entry.kind] = end
        return kept

    def jieba_words(self) -> list[str]:
        """Terms and cues (normalized) to add to jieba so they segment as units."""
        return [k for k in self._keys if len(k) >= 2]


def _parse_term(item: Any, where: str) -> tuple[str, float, list[str], bool]:
    if isinstance(item, str):
        return item, 1.0, [], False
    if not isinstance(item, dict) or not isinstance(item.get("term"), str):
        raise ConfigError(f"{where}: needs 'term' (a string)")
    weight = item.get("weight", 1.0)
    if not isinstance(weight, int | float) or not 0 < weight <= 1:
        raise ConfigError(f"{where} ({item['term']}): 'weight' must be a number in (0, 1]")
    variants = item.get("variants") or []
    if not isinstance(variants, list):
        raise ConfigError(f"{where} ({item['term']}): 'variants' must be a list")
    return item["term"], float(weight), [str(v) for v in variants], bool(item.get("watch"))


def _add(entries: dict[str, Entry], spelling: str, entry: Entry, where: str) -> None:
    key = compact(normalize(spelling)).text
    if not key:
        raise ConfigError(f"{where}: entry {spelling!r} is empty after normalization")
    old = entries.get(key)
    if old is not None and old.kind == entry.kind and old.label != entry.label:
        raise ConfigError(
            f"{where}: {spelling!r} is listed under both {old.label!r} and {entry.label!r}"
        )
    if old is None or entry.kind == "term":  # a term outranks a cue with the same spelling
        entries[key] = entry


@lru_cache(maxsize=8)
def _load_cached(path: str) -> Lexicon:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read lexicon ({exc.strerror})") from None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{p}: not valid UTF-8 YAML ({first})") from None
    return Lexicon.from_dict(data, origin=str(p), digest=hashlib.sha256(raw).hexdigest())


def watch_terms(path: Path | str | None = None) -> list[str]:
    """Canonical terms flagged `watch: true`: the keywords search-type sources query."""
    return list(Lexicon.load(path).watch)


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    """A jieba tokenizer that knows the lexicon's words (built once; jieba loads lazily)."""
    import jieba

    tok = jieba.Tokenizer()
    for word in Lexicon.load().jieba_words():
        tok.add_word(word, freq=200000)
    return tok


def segment(text: str) -> list[str]:
    """Segment normalized text with jieba, lexicon terms kept whole."""
    return tokenizer().lcut(normalize(text).text)
