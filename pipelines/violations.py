"""Which suspected violations a business's evidence supports, worded from violations.yaml.

A decision from plain facts (the categories and words of its pages, its scope verdict and
registration status), so reports and any other caller name the same violations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipelines import datafiles
from pipelines.scope import load_rules

VIOLATIONS_FILE = Path(__file__).resolve().parent / "data" / "violations.yaml"
# Violations suspected_violations() can name, and the {fields} their wording may use.
VIOLATION_CODES = ("credit_repair", "out_of_scope", "inactive", "not_registered")
VIOLATION_FIELDS = frozenset(("name", "docs", "words", "scope", "status"))


@dataclass(frozen=True)
class Violation:
    """One suspected violation: what, on which rule, and the facts from the evidence."""

    code: str
    title: str
    basis: str
    facts: str


@dataclass(frozen=True)
class PageTerms:
    """One evidence page as violations see it: its categories and (category, term) words."""

    categories: tuple[str, ...]
    terms: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BusinessFacts:
    """What is known of a business: registration facts, scope verdict and evidence pages."""

    name: str
    uscc: str
    scope: str
    status: str
    verdict: str
    pages: tuple[PageTerms, ...]


@lru_cache(maxsize=1)
def violation_texts() -> dict[str, dict[str, str]]:
    """The wording of each violation from pipelines/data/violations.yaml."""
    return load_violations(VIOLATIONS_FILE)


def load_violations(path: Path) -> dict[str, dict[str, str]]:
    """Read and check violations.yaml: every code with a title, basis and facts whose
    {fields} exist; a bad file raises DataFileError naming the key."""
    raw = datafiles.read_mapping(path)
    out: dict[str, dict[str, str]] = {}
    for code in VIOLATION_CODES:
        if code not in raw:
            datafiles.fail(path, code, "missing")
        item = datafiles.mapping(path, code, raw[code], empty_ok=False)
        out[code] = {}
        for part in ("title", "basis", "facts"):
            value = datafiles.text(path, f"{code}.{part}", item.get(part))
            datafiles.format_fields(path, f"{code}.{part}", value, VIOLATION_FIELDS)
            out[code][part] = value
    return out


def suspected_violations(facts: BusinessFacts) -> tuple[Violation, ...]:
    """Violations the evidence supports: credit-repair ads, out of scope, inactive, unregistered."""
    texts = violation_texts()
    cats = {c for page in facts.pages for c in page.categories}
    all_words = dict.fromkeys(t for page in facts.pages for _, t in page.terms)
    words = "、".join(f"“{w}”" for w in all_words) or "相关"
    fields = {
        "name": facts.name,
        "docs": len(facts.pages),
        "words": words,
        "scope": facts.scope,
        "status": facts.status,
    }
    cr_pages = [page for page in facts.pages if "credit_repair" in page.categories]
    cr_terms = (t for page in cr_pages for c, t in page.terms if c == "credit_repair")
    cr_words = "、".join(f"“{w}”" for w in dict.fromkeys(cr_terms))
    fields_cr = fields | {"docs": len(cr_pages), "words": cr_words or words}
    codes = []
    if "credit_repair" in cats:
        codes.append("credit_repair")
    if facts.verdict == "out_of_scope" and facts.scope:
        codes.append("out_of_scope")
    dead = load_rules().inactive_statuses  # 注销, 吊销 …: data in pipelines/data/scope_rules.yaml
    if facts.verdict == "inactive" or (facts.status and any(s in facts.status for s in dead)):
        codes.append("inactive")
    if facts.verdict == "not_registered" and not facts.uscc:
        codes.append("not_registered")
    out = []
    for code in codes:
        t = texts[code]
        values = fields_cr if code == "credit_repair" else fields
        out.append(
            Violation(
                code,
                t["title"].format(**values),
                " ".join(t["basis"].split()),
                t["facts"].format(**values).strip(),
            )
        )
    return tuple(out)
