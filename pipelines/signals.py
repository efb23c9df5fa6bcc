"""Page signals for the detector: which services, who speaks, how the page is built.

The lexicon says *which service* a page is about; these signals say what kind of page it is —
a provider's menu with buttons and counters, a success-case list, a news report, a quiz — in
ways that carry over to wording nobody listed. Each signal is a number in [0, 1] with a Chinese
label, so the verdict's reason can name the signals that decided. Words and patterns live in
`pipelines/data/signals.yaml`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

import ahocorasick
import numpy as np

from pipelines.datafiles import fail, mapping, read_mapping, strings, text
from pipelines.lexicon import Hit
from pipelines.model import Contact
from pipelines.normalize import compact, normalize

DEFAULT_PATH = Path(__file__).parent / "data" / "signals.yaml"
CATEGORIES = ("credit_repair", "debt_relief", "refund_agency", "complaint_agency")
# Distinct hits beyond these counts add nothing: a keyword-stuffed page must not outweigh a
# normal one (the same caps the rule detector uses for cues).
WORD_CAP = 3
PATTERN_CAP = 4
PROMO_CUE_CAP = 5
WARNING_CUE_CAP = 6
# Patterns read the head of a page: a menu, a case list or a quiz shows itself early, and
# scanning a long page once per pattern would cost more than the rest of the detector.
PATTERN_CHARS = 3000
_MOBILE = re.compile(r"\+861[3-9]\d{9}$")
# A line this short is a menu item, heading or button rather than prose.
SHORT_LINE = 16

# Signals computed in code; the data file adds one per word group and pattern.
BUILTIN_LABELS: dict[str, str] = {
    **{f"term_{c}": f"服务词（{c}）" for c in CATEGORIES},
    "strong_term": "明确服务词",
    "promo_cues": "推广用语",
    "warning_cues": "警示用语",
    "quoted_terms": "引号内服务词",
    "contact_mobile": "手机号",
    "contact_landline": "座机/热线",
    "contact_wechat": "微信",
    "contact_qq": "QQ",
    "contact_email": "邮箱",
    "contacts_many": "多个联系方式",
    "rule_promotion": "规则判为推广",
    "rule_warning": "规则判为警示",
    "short_lines": "短行排版（菜单/按钮）",
    "questions": "问句",
    "exclaims": "感叹句",
}


@dataclass(frozen=True)
class SignalSet:
    """The compiled signal definitions: names in vector order, labels, matchers, version."""

    names: tuple[str, ...]
    labels: dict[str, str]
    groups: tuple[str, ...]
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    automaton: Any
    version: str

    def label(self, name: str) -> str:
        """The Chinese label of a signal (its name when unknown)."""
        return self.labels.get(name, name)


def load_signals(path: Path | str | None = None) -> SignalSet:
    """Load and compile a signals file (default: the bundled one); cached per path."""
    return _load_cached(str(path or DEFAULT_PATH))


@lru_cache(maxsize=4)
def _load_cached(path: str) -> SignalSet:
    p = Path(path)
    raw = p.read_bytes() if p.is_file() else b""
    return build_signals(read_mapping(p), p, hashlib.sha256(raw).hexdigest())


def build_signals(data: dict[str, Any], path: Path, digest: str = "") -> SignalSet:
    """Validate a parsed signals file into a SignalSet; errors name the file and key."""
    labels = dict(BUILTIN_LABELS)
    automaton = ahocorasick.Automaton()
    groups: list[str] = []
    for group, spec in _entries(data, path, "words"):
        groups.append(group)
        labels[f"w_{group}"] = spec["label"]
        for n, word in enumerate(strings(path, f"words.{group}.words", spec.get("words"))):
            key = compact(normalize(word)).text
            if not key:
                fail(path, f"words.{group}.words[{n}]", "empty after normalization")
            automaton.add_word(key, len(groups) - 1)
    if groups:
        automaton.make_automaton()
    patterns: list[tuple[str, re.Pattern[str]]] = []
    for name, spec in _entries(data, path, "patterns"):
        regex = text(path, f"patterns.{name}.regex", spec.get("regex"))
        try:
            patterns.append((f"p_{name}", re.compile(regex, re.MULTILINE)))
        except re.error as exc:
            fail(path, f"patterns.{name}.regex", f"bad regular expression ({exc})")
        labels[f"p_{name}"] = spec["label"]
    names = (*BUILTIN_LABELS, *(f"w_{g}" for g in groups), *(n for n, _ in patterns))
    version = f"{data.get('version', 0)}-{digest[:12]}"
    return SignalSet(names, labels, tuple(groups), tuple(patterns), automaton, version)


def _entries(data: dict[str, Any], path: Path, section: str) -> list[tuple[str, dict[str, Any]]]:
    """The named entries of a section, each a mapping with a Chinese `label`."""
    out = []
    for name, spec in mapping(path, section, data.get(section)).items():
        entry = mapping(path, f"{section}.{name}", spec, empty_ok=False)
        text(path, f"{section}.{name}.label", entry.get("label"))
        out.append((str(name), entry))
    return out


def page_signals(
    signals: SignalSet,
    text: str,
    compact_text: str,
    hits: Sequence[Hit],
    contacts: Sequence[Contact],
    quoted_terms: int,
    rule_kind: str = "",
) -> np.ndarray:
    """The signal vector of one page, in `signals.names` order, each value in [0, 1].

    `text` is the normalized text with its line breaks, `compact_text` the view the lexicon
    `hits` index; `quoted_terms` counts service words inside quotation marks; `rule_kind` is
    the hand-written rules' verdict, one input among the others.
    """
    values: dict[str, float] = {}
    weights = dict.fromkeys(CATEGORIES, 0.0)
    seen: set[str] = set()
    promo: set[str] = set()
    warn: set[str] = set()
    strong = 0.0
    for h in hits:
        e = h.entry
        if e.kind == "term" and e.term not in seen:
            seen.add(e.term)
            weights[e.label] = weights.get(e.label, 0.0) + e.weight
            strong = max(strong, 1.0 if e.weight >= 1.0 else 0.0)
        elif e.kind == "promotion_cue":
            promo.add(e.term)
        elif e.kind == "warning_cue":
            warn.add(e.term)
    for c in CATEGORIES:
        values[f"term_{c}"] = min(weights[c], 2.0) / 2.0
    values["strong_term"] = strong
    values["promo_cues"] = min(len(promo), PROMO_CUE_CAP) / PROMO_CUE_CAP
    values["warning_cues"] = min(len(warn), WARNING_CUE_CAP) / WARNING_CUE_CAP
    values["quoted_terms"] = min(quoted_terms, 3) / 3
    kinds = {c.kind for c in contacts}
    for k in ("wechat", "qq", "email"):
        values[f"contact_{k}"] = 1.0 if k in kinds else 0.0
    # Promoters give mobiles; lenders, insurers and authorities give hotlines and landlines.
    phones = [c.value for c in contacts if c.kind == "phone"]
    values["contact_mobile"] = 1.0 if any(_MOBILE.match(v) for v in phones) else 0.0
    values["contact_landline"] = 1.0 if any(not _MOBILE.match(v) for v in phones) else 0.0
    values["contacts_many"] = 1.0 if len({c.value for c in contacts}) >= 2 else 0.0
    values["rule_promotion"] = 1.0 if rule_kind == "promotion" else 0.0
    values["rule_warning"] = 1.0 if rule_kind == "warning" else 0.0
    values.update(_layout(text))
    values.update(_word_groups(signals, compact_text))
    head = text[:PATTERN_CHARS]
    for name, pattern in signals.patterns:
        n = sum(1 for _ in zip(range(PATTERN_CAP), pattern.finditer(head), strict=False))
        values[name] = n / PATTERN_CAP
    return np.fromiter((values.get(n, 0.0) for n in signals.names), np.float32, len(signals.names))


def _layout(text: str) -> dict[str, float]:
    """Menus, buttons and headings are short lines; news and posts are long ones. (A page's
    length is left out: real pages run longer than any corpus, so it would not carry over.)"""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    short = sum(1 for ln in lines if len(ln) <= SHORT_LINE)
    return {
        "short_lines": short / len(lines) if len(lines) >= 4 else 0.0,
        "questions": min(text.count("?") + text.count("？"), 4) / 4,
        "exclaims": min(text.count("!") + text.count("！"), 4) / 4,
    }


def _word_groups(signals: SignalSet, compact_text: str) -> dict[str, float]:
    """Per word group: how many of its words occur (longest match at each place), capped."""
    if not signals.groups:
        return {}
    counts = Counter(map(itemgetter(1), signals.automaton.iter_long(compact_text)))
    return {f"w_{g}": min(counts[i], WORD_CAP) / WORD_CAP for i, g in enumerate(signals.groups)}
