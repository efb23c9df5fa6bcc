"""Which suspected violations a business's evidence supports, worded from violations.yaml.

A decision from plain facts (the page's own words per category, its scope verdict and
registration status), so reports and any other caller name the same violations. Words are
quoted as the pages wrote them, each with the number of the evidence page that says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipelines import datafiles
from pipelines.scope import load_rules

DATA = Path(__file__).resolve().parent / "data"
VIOLATIONS_FILE = DATA / "violations.yaml"
COVERAGE_FILE = DATA / "registry_coverage.yaml"
# The service categories, each with its own grounds, in the order a report lists them.
CATEGORY_CODES = ("credit_repair", "debt_relief", "refund_agency", "complaint_agency")
# Violations suspected_violations() can name, and the {fields} their wording may use.
VIOLATION_CODES = (*CATEGORY_CODES, "out_of_scope", "inactive", "not_registered", "not_found")
VIOLATION_FIELDS = frozenset(("name", "docs", "words", "scope", "status"))
EXTRA_FIELDS = {"not_found": frozenset(("imported",))}
# Codes that ask the regulator to check rather than allege: they may cite nothing.
CHECK_ONLY = frozenset(("not_found",))
WHOLE_COUNTRY = "全国"


@dataclass(frozen=True)
class Citation:
    """One legal text cited: what it is, what it provides, where published, when checked."""

    cite: str
    says: str
    source: str
    checked: str

    def text(self) -> str:
        """`《…》第X条：…（来源：…；核对于…）` for a report."""
        return f"{self.cite}：{self.says}（来源：{self.source}；条文核对于{self.checked}）"


@dataclass(frozen=True)
class Violation:
    """One suspected violation: what, on which rules, and the facts from the evidence."""

    code: str
    title: str
    basis: str  # the grounds as one paragraph
    facts: str
    reason: str = ""
    grounds: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class PageTerms:
    """One evidence page as violations see it: its number in the evidence list and the
    (category, words as written on the page) of each service word it uses."""

    categories: tuple[str, ...]
    terms: tuple[tuple[str, str], ...]
    n: int = 0


@dataclass(frozen=True)
class BusinessFacts:
    """What is known of a business: registration facts, scope verdict and evidence pages."""

    name: str
    uscc: str
    scope: str
    status: str
    verdict: str
    pages: tuple[PageTerms, ...]
    imported: str = ""  # which registry data was searched: "2026年11月1日导入的x.csv"
    registry_complete: bool = False  # that data is declared complete for the firm's region


@dataclass(frozen=True)
class ViolationText:
    """The wording of one violation code, checked at load."""

    title: str
    facts: str
    reason: str
    grounds: tuple[Citation, ...]


@lru_cache(maxsize=1)
def violation_texts() -> dict[str, ViolationText]:
    """The wording of each violation from pipelines/data/violations.yaml."""
    return load_violations(VIOLATIONS_FILE)


def load_violations(path: Path) -> dict[str, ViolationText]:
    """Read and check violations.yaml: citations with their source and check date, and every
    code with a title, facts and reason whose {fields} exist and grounds that are cited;
    a bad file raises DataFileError naming the key."""
    raw = datafiles.read_mapping(path)
    citations = _citations(path, raw.get("citations"))
    out: dict[str, ViolationText] = {}
    for code in VIOLATION_CODES:
        if code not in raw:
            datafiles.fail(path, code, "missing")
        item = datafiles.mapping(path, code, raw[code], empty_ok=False)
        fields = VIOLATION_FIELDS | EXTRA_FIELDS.get(code, frozenset())
        parts = {}
        for part in ("title", "facts", "reason"):
            value = datafiles.text(path, f"{code}.{part}", item.get(part))
            datafiles.format_fields(path, f"{code}.{part}", value, fields)
            parts[part] = "".join(value.split()) if part == "reason" else value.strip()
        keys = datafiles.strings(path, f"{code}.grounds", item.get("grounds"), empty_ok=True)
        if not keys and code not in CHECK_ONLY:
            datafiles.fail(path, f"{code}.grounds", "cites nothing: an allegation needs grounds")
        for i, key in enumerate(keys):
            if key not in citations:
                datafiles.fail(path, f"{code}.grounds[{i}]", f"unknown citation {key!r}")
        out[code] = ViolationText(
            parts["title"], parts["facts"], parts["reason"], tuple(citations[k] for k in keys)
        )
    return out


def _citations(path: Path, value: Any) -> dict[str, Citation]:
    """The `citations` mapping: each with cite, says, source and a checked date."""
    items = datafiles.mapping(path, "citations", value, empty_ok=False)
    out = {}
    for key, item in items.items():
        entry = datafiles.mapping(path, f"citations.{key}", item, empty_ok=False)
        checked = entry.get("checked")
        if isinstance(checked, date):
            checked = checked.isoformat()
        values = [
            " ".join(datafiles.text(path, f"citations.{key}.{part}", entry.get(part)).split())
            for part in ("cite", "says", "source")
        ]
        checked = datafiles.text(path, f"citations.{key}.checked", checked)
        out[str(key)] = Citation(*values, checked)
    return out


@lru_cache(maxsize=1)
def registry_coverage() -> tuple[tuple[str, frozenset[str]], ...]:
    """(file name, regions) the imported registry is declared complete for."""
    return load_coverage(COVERAGE_FILE)


def load_coverage(path: Path) -> tuple[tuple[str, frozenset[str]], ...]:
    """Read registry_coverage.yaml: a list of {file, regions}."""
    raw = datafiles.read_mapping(path)
    items = raw.get("complete")
    if not isinstance(items, list):
        datafiles.fail(path, "complete", "expected a list of {file, regions}")
    out = []
    for i, item in enumerate(items):
        entry = datafiles.mapping(path, f"complete[{i}]", item, empty_ok=False)
        name = datafiles.text(path, f"complete[{i}].file", entry.get("file"))
        regions = datafiles.strings(path, f"complete[{i}].regions", entry.get("regions"))
        out.append((Path(name).name, frozenset(regions)))
    return tuple(out)


def registry_complete(
    files: list[str],
    regions: list[str],
    coverage: tuple[tuple[str, frozenset[str]], ...] | None = None,
) -> bool:
    """True when one of the searched registry `files` is declared complete for one of the
    firm's `regions` (or for the whole country); `coverage` defaults to the bundled file."""
    names = {Path(f).name for f in files}
    wanted = set(regions) | {WHOLE_COUNTRY}
    declared = registry_coverage() if coverage is None else coverage
    return any(f in names and covered & wanted for f, covered in declared)


def quoted_words(pages: tuple[PageTerms, ...], category: str | None = None) -> str:
    """`“征信修复”（证据1）、“征信洗白”（证据2）`: the pages' own words, each with its page."""
    seen: dict[tuple[str, int], None] = {}
    for page in pages:
        for cat, word in page.terms:
            if word and (category is None or cat == category):
                seen[(word, page.n)] = None
    return "、".join(f"“{w}”（证据{n}）" for w, n in seen)


def suspected_violations(facts: BusinessFacts) -> tuple[Violation, ...]:
    """Violations the evidence supports: one per advertised service category the pages word
    themselves, then out of scope, inactive, and unregistered (or not found in the import)."""
    texts = violation_texts()
    words = quoted_words(facts.pages) or "（页面未使用服务用语）"
    fields = {
        "name": facts.name,
        "docs": len(facts.pages),
        "words": words,
        "scope": facts.scope,
        "status": facts.status,
        "imported": facts.imported or "已导入的企业登记数据",
    }
    found: list[tuple[str, dict[str, Any]]] = []
    for cat in CATEGORY_CODES:
        pages = tuple(p for p in facts.pages if any(c == cat for c, _ in p.terms))
        if pages:
            found.append((cat, fields | {"docs": len(pages), "words": quoted_words(pages, cat)}))
    if facts.verdict == "out_of_scope" and facts.scope:
        found.append(("out_of_scope", fields))
    dead = load_rules().inactive_statuses  # 注销, 吊销 …: data in pipelines/data/scope_rules.yaml
    if facts.verdict == "inactive" or (facts.status and any(s in facts.status for s in dead)):
        found.append(("inactive", fields))
    if facts.verdict == "not_registered" and not facts.uscc:
        found.append(("not_registered" if facts.registry_complete else "not_found", fields))
    out = []
    for code, values in found:
        t = texts[code]
        out.append(
            Violation(
                code,
                t.title.format(**values),
                "；".join(c.text() for c in t.grounds),
                t.facts.format(**values),
                t.reason,
                t.grounds,
            )
        )
    return tuple(out)
