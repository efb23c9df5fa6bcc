"""A page's text cut into plain and highlighted pieces, for showing the evidence in place.

Pure: text and spans in, segments out. The template escapes every segment on its own and
wraps the highlighted ones in <mark>; no markup is ever inserted into the scraped text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Span:
    """A stretch of the text to highlight: [start, end), what kind, and a label to show."""

    start: int
    end: int
    kind: str  # term | promotion_cue | warning_cue | contact
    label: str


@dataclass(frozen=True)
class Segment:
    """A piece of the text; `kind` is "" for plain text, else the span kind it belongs to."""

    text: str
    kind: str = ""
    label: str = ""


def evidence_spans(evidence: Iterable[dict[str, Any]]) -> list[Span]:
    """Spans of stored evidence items ({kind, label, term, span: [start, end]})."""
    out = []
    for item in evidence:
        span = item.get("span")
        if isinstance(span, list | tuple) and len(span) == 2:
            start, end = span
            if isinstance(start, int) and isinstance(end, int):
                label = f"{item.get('label', '')}：{item.get('term', '')}".strip("：")
                out.append(Span(start, end, str(item.get("kind", "term")), label))
    return out


def segments(text: str, spans: Sequence[Span]) -> list[Segment]:
    """`text` as consecutive segments with `spans` marked.

    Spans outside the text or empty are ignored; where spans overlap, the one starting
    first (the longer one on a tie) wins and the other is cut to what is left of it.
    """
    ordered = sorted(
        (s for s in spans if 0 <= s.start < s.end <= len(text)),
        key=lambda s: (s.start, -(s.end - s.start)),
    )
    out: list[Segment] = []
    pos = 0
    for span in ordered:
        start = max(span.start, pos)
        if start >= span.end:
            continue
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start : span.end], span.kind, span.label))
        pos = span.end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return out
