"""The findings the analysis produces: plain frozen dataclasses, JSON-ready via `asdict`.

Every span (`start`, `end`) is a half-open range of character indexes into the *original*
text given to the analysis, so evidence can always quote exactly what the page said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["promotion", "warning", "other"]
ContactKind = Literal["phone", "wechat", "qq", "email", "url"]
BusinessForm = Literal["company", "branch", "shop", "brand"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """One matched lexicon term or cue: why the verdict is what it is."""

    kind: Literal["term", "promotion_cue", "warning_cue"]
    label: str  # category for terms (credit_repair …), cue group for cues (guarantee …)
    term: str  # the canonical lexicon entry that matched
    raw: str  # the original text that matched
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Contact:
    """A way to reach the promoter, decoded from whatever obfuscation the page used."""

    kind: ContactKind
    value: str  # normalized: E.164 for phones, lower-case ids/emails, host for urls
    raw: str  # the original text it was decoded from
    start: int
    end: int
    note: str = ""  # e.g. "微信同号" when a WeChat id is inferred from a phone


@dataclass(frozen=True, slots=True)
class Business:
    """A company, shop or brand name mentioned in the text."""

    name: str  # normalized (Simplified, half-width brackets)
    form: BusinessForm
    raw: str
    start: int
    end: int
    region: str = ""  # province/city/district prefix or bracketed region, if any


@dataclass(frozen=True, slots=True)
class UsccMention:
    """An 18-character unified social credit code; `valid` is the GB 32100 check result."""

    code: str
    valid: bool
    raw: str
    start: int
    end: int
    reason: str = ""  # why invalid (bad check character, bad length …)


@dataclass(frozen=True, slots=True)
class Detection:
    """Promotion vs. warning vs. other, which service categories, and the evidence."""

    kind: Kind
    categories: tuple[str, ...]
    score: float  # in [0, 1]: how confidently this is a promotion of a listed service
    evidence: tuple[Evidence, ...]
    reason: str = ""  # one sentence: why this kind


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything found in one document."""

    id: str
    detection: Detection
    contacts: tuple[Contact, ...] = ()
    businesses: tuple[Business, ...] = ()
    uscc: tuple[UsccMention, ...] = ()
    title: str = ""
    text: str = ""  # the (main) text that spans refer to
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        return self.detection.kind

    def to_json(self) -> dict[str, object]:
        """The `greywatch analyze` output shape (spans included for evidence)."""
        d = self.detection
        return {
            "id": self.id,
            "kind": d.kind,
            "categories": list(d.categories),
            "score": round(d.score, 3),
            "reason": d.reason,
            "title": self.title,
            "contacts": [
                {"kind": c.kind, "value": c.value, "raw": c.raw, "span": [c.start, c.end]}
                | ({"note": c.note} if c.note else {})
                for c in self.contacts
            ],
            "businesses": [
                {"name": b.name, "form": b.form, "raw": b.raw, "span": [b.start, b.end]}
                | ({"region": b.region} if b.region else {})
                for b in self.businesses
            ],
            "uscc": [
                {"code": u.code, "valid": u.valid, "span": [u.start, u.end]}
                | ({"reason": u.reason} if u.reason else {})
                for u in self.uscc
            ],
            "evidence": [
                {
                    "kind": e.kind,
                    "label": e.label,
                    "term": e.term,
                    "raw": e.raw,
                    "span": [e.start, e.end],
                }
                for e in d.evidence
            ],
        } | ({"extra": dict(self.extra)} if self.extra else {})
