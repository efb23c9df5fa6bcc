"""Recall and precision of extract_contacts on the labelled obfuscation set, per contact kind.

Run by hand: `python bench/contacts_eval.py [--misses]`. Scores the dev part and the frozen part
(ids whose number is a multiple of 3, see tests/data/contacts/README.md) separately; `--misses`
lists the dev part's misses and false finds only: the frozen part is never shown item by item.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.contacts import extract_contacts  # noqa: E402

DATA = ROOT / "tests" / "data" / "contacts" / "obfuscated.jsonl"
# The kinds the set labels; other finds (site hosts) are not scored.
KINDS = ("phone", "wechat", "qq", "email")

Pair = tuple[str, str]  # (kind, value)


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled snippet."""

    id: str
    text: str
    expected: frozenset[Pair]

    @property
    def frozen(self) -> bool:
        """Held out while tuning: ids c003, c006, … (number divisible by 3)."""
        return int(self.id.lstrip("c")) % 3 == 0


@dataclass(slots=True)
class Score:
    """True positives, false positives and false negatives per kind."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def recall(self, kind: str | None = None) -> float:
        """Share of labelled contacts found (all kinds when `kind` is None)."""
        tp, fn = self._sum(self.tp, kind), self._sum(self.fn, kind)
        return tp / (tp + fn) if tp + fn else 1.0

    def precision(self, kind: str | None = None) -> float:
        """Share of found contacts that are labelled (all kinds when `kind` is None)."""
        tp, fp = self._sum(self.tp, kind), self._sum(self.fp, kind)
        return tp / (tp + fp) if tp + fp else 1.0

    @staticmethod
    def _sum(counts: Counter[str], kind: str | None) -> int:
        return counts[kind] if kind else sum(counts.values())


def load(path: Path = DATA) -> list[Item]:
    """The labelled set, one Item per JSON line."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            pairs = frozenset((c["kind"], c["value"]) for c in row["contacts"])
            items.append(Item(row["id"], row["text"], pairs))
    return items


def found(text: str) -> frozenset[Pair]:
    """The scored (kind, value) pairs extract_contacts gives for `text`."""
    return frozenset((c.kind, c.value) for c in extract_contacts(text) if c.kind in KINDS)


def score(items: list[Item]) -> tuple[Score, list[tuple[Item, frozenset[Pair]]]]:
    """The score over `items` and the items where extraction and label disagree."""
    s = Score()
    wrong = []
    for item in items:
        got = found(item.text)
        for kind, _ in got & item.expected:
            s.tp[kind] += 1
        for kind, _ in got - item.expected:
            s.fp[kind] += 1
        for kind, _ in item.expected - got:
            s.fn[kind] += 1
        if got != item.expected:
            wrong.append((item, got))
    return s, wrong


def report(name: str, items: list[Item], s: Score) -> None:
    """Print one part's per-kind figures."""
    print(f"{name}: {len(items)} snippets, {sum(1 for i in items if not i.expected)} negatives")
    for kind in (*KINDS, None):
        n = s.tp[kind] + s.fn[kind] if kind else sum((s.tp + s.fn).values())
        print(
            f"  {kind or 'all':<7} labelled {n:4d}  recall {s.recall(kind):.3f}"
            f"  precision {s.precision(kind):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--misses", action="store_true", help="list the dev part's errors")
    args = parser.parse_args()
    items = load()
    dev = [i for i in items if not i.frozen]
    frozen = [i for i in items if i.frozen]
    dev_score, wrong = score(dev)
    report("dev", dev, dev_score)
    report("frozen", frozen, score(frozen)[0])
    if args.misses:
        for item, got in wrong:
            missed = sorted(item.expected - got)
            extra = sorted(got - item.expected)
            print(f"{item.id} {item.text!r}\n    missed {missed}\n    extra  {extra}")


if __name__ == "__main__":
    main()
