"""Does a registered 经营范围 cover the service a firm advertises? A verdict with a quoted reason.

Registration systems refuse entries such as 征信修复, so credit repair can never be in scope;
debt relief, refunds and complaint proxying are a question the registered text answers, taking
exclusions ("不含许可类信息咨询服务", "不含律师事务所业务") into account. Rules live in
`pipelines/data/scope_rules.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

from pipelines import datafiles

RULES_PATH = Path(__file__).parent / "data" / "scope_rules.yaml"

VerdictKind = Literal["out_of_scope", "in_scope", "inactive", "not_registered", ""]

# Quoted scope texts are cut here: long enough for any entry an analyst needs to see, short
# enough for a spreadsheet cell (registered scopes can run to thousands of characters).
QUOTE_CHARS = 300

# An exclusion ends at a closing bracket or an entry separator; "、" and "，" stay inside
# ("不含许可类信息咨询服务、征信业务").
_EXCLUSION_END = "()（）；;。\n"


class RegistrationLike(Protocol):
    """What a verdict needs of a registration (storage.models.Registration fits)."""

    name: str
    status: str
    scope: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Scope verdict for the advertised categories; `reason` quotes the registered text."""

    verdict: VerdictKind
    reason: str


@dataclass(frozen=True, slots=True)
class Cover:
    entry: str
    licence: str
    negated_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CategoryRule:
    service: str
    forbidden: bool
    covers: tuple[Cover, ...]


@dataclass(frozen=True, slots=True)
class ScopeRules:
    inactive_statuses: tuple[str, ...]
    forbidden_entries: tuple[str, ...]
    restricted: dict[str, str]
    exclusion_markers: tuple[str, ...]
    categories: dict[str, CategoryRule]


@lru_cache(maxsize=4)
def load_rules(path: Path = RULES_PATH) -> ScopeRules:
    """Read and validate the scope rules; a bad file raises DataFileError naming the key."""
    raw = datafiles.read_mapping(path)
    datafiles.string_lists(
        path, raw, ("inactive_statuses", "forbidden_entries", "exclusion_markers")
    )
    restricted = datafiles.mapping(path, "restricted", raw.get("restricted"))
    for word, licence in restricted.items():
        datafiles.text(path, "restricted", word)
        datafiles.text(path, f"restricted.{word}", licence)
    if "categories" not in raw:
        datafiles.fail(path, "categories", "missing")
    cats = datafiles.mapping(path, "categories", raw["categories"], empty_ok=False)
    return ScopeRules(
        inactive_statuses=tuple(raw["inactive_statuses"]),
        forbidden_entries=tuple(raw["forbidden_entries"]),
        restricted=dict(restricted),
        exclusion_markers=tuple(raw["exclusion_markers"]),
        categories={name: _category(path, f"categories.{name}", c) for name, c in cats.items()},
    )


def _category(path: Path, key: str, raw: object) -> CategoryRule:
    """One advertised category's rule: service name, forbidden flag, covering entries."""
    c = datafiles.mapping(path, key, raw, empty_ok=False)
    forbidden = c.get("forbidden", False)
    if not isinstance(forbidden, bool):
        datafiles.fail(path, f"{key}.forbidden", f"expected true or false, got {forbidden!r}")
    covers = c.get("covers") or []
    if not isinstance(covers, list):
        datafiles.fail(path, f"{key}.covers", f"expected a list, got {covers!r}")
    return CategoryRule(
        service=datafiles.text(path, f"{key}.service", c.get("service")),
        forbidden=forbidden,
        covers=tuple(_cover(path, f"{key}.covers[{i}]", cv) for i, cv in enumerate(covers)),
    )


def _cover(path: Path, key: str, raw: object) -> Cover:
    """One covering scope entry, with its licence and the exclusions that take it back."""
    cv = datafiles.mapping(path, key, raw, empty_ok=False)
    licence = cv.get("licence", "")
    return Cover(
        entry=datafiles.text(path, f"{key}.entry", cv.get("entry")),
        licence=datafiles.text(path, f"{key}.licence", licence) if licence else "",
        negated_by=tuple(
            datafiles.strings(path, f"{key}.negated_by", cv.get("negated_by"), empty_ok=True)
        ),
    )


def quote(text: str) -> str:
    """The registered text as quoted in a reason, cut at QUOTE_CHARS."""
    text = " ".join(text.split())
    return f"“{text[:QUOTE_CHARS]}…”" if len(text) > QUOTE_CHARS else f"“{text}”"


def split_exclusions(scope: str, markers: tuple[str, ...]) -> tuple[str, list[str]]:
    """Separate a scope into the text it grants and the exclusions it states.

    "信息咨询服务（不含许可类信息咨询服务）" → ("信息咨询服务（）", ["许可类信息咨询服务"]).
    """
    spans: list[tuple[int, int, str]] = []
    for marker in markers:
        for m in re.finditer(re.escape(marker), scope):
            if marker == "除外":  # "（依法须经批准的项目除外）": the excluded text precedes it
                start = max(scope.rfind(c, 0, m.start()) for c in _EXCLUSION_END) + 1
                spans.append((start, m.end(), scope[start : m.start()]))
            else:
                ends = [i for c in _EXCLUSION_END if (i := scope.find(c, m.end())) >= 0]
                end = min(ends, default=len(scope))
                spans.append((m.start(), end, scope[m.end() : end]))
    granted = list(scope)
    for start, end, _ in spans:
        granted[start:end] = [" "] * (end - start)
    return "".join(granted), [text for _, _, text in spans if text]


def _covering(rule: CategoryRule, granted: str, excluded: list[str]) -> tuple[Cover | None, str]:
    """The first covering entry granted and not taken back; else which exclusion bars it."""
    negators = {n for cover in rule.covers for n in cover.negated_by}
    for cover in rule.covers:
        if cover.entry in granted and not any(n in x for x in excluded for n in cover.negated_by):
            return cover, ""
    barring = [x for x in excluded if any(n in x for n in negators)]
    return None, "、".join(f"“不含{x}”" for x in barring)


def _category_reason(cat: str, rule: CategoryRule | None, scope: str, rules: ScopeRules) -> str:
    """Why one advertised category is not covered, or "" when it is."""
    if rule is None:
        return ""
    if rule.forbidden:
        return (
            f"宣传{rule.service}，任何登记经营范围都不能涵盖"
            f"（登记机关不予登记{'、'.join(rules.forbidden_entries[:4])}等经营范围）"
        )
    granted, excluded = split_exclusions(scope, rules.exclusion_markers)
    cover, barring = _covering(rule, granted, excluded)
    if cover is not None:
        return ""
    why = f"；经营范围注明{barring}" if barring else ""
    needs = "、".join(c.entry for c in rule.covers) or "—"
    return f"宣传{rule.service}，超出经营范围（需登记{needs}）{why}"


def _caveats(scope: str, categories: tuple[str, ...], rules: ScopeRules) -> list[str]:
    """Licence caveats for covering entries, and forbidden entries found in the text."""
    notes: list[str] = []
    granted, excluded = split_exclusions(scope, rules.exclusion_markers)
    for cat in categories:
        rule = rules.categories.get(cat)
        cover = _covering(rule, granted, excluded)[0] if rule else None
        if cover is not None and cover.licence:
            notes.append(f"{rule.service}仅在取得{cover.licence}后由“{cover.entry}”涵盖")
    for word, licence in rules.restricted.items():
        if word in granted:
            notes.append(f"经营范围中的“{word}”须{licence}")
    bad = [e for e in rules.forbidden_entries if e in granted]
    if bad:
        notes.append(f"经营范围列有{'、'.join(bad)}，登记机关不予登记此类事项")
    return notes


def scope_verdict(
    registration: RegistrationLike | None, categories: tuple[str, ...] | list[str]
) -> Verdict:
    """Verdict for a matched registration (or None) and the advertised service categories."""
    rules = load_rules()
    if registration is None:
        return Verdict("not_registered", "未找到该名称的登记信息")
    status = (registration.status or "").strip()
    dead = next((s for s in rules.inactive_statuses if s in status), None)
    if dead is not None:
        return Verdict(
            "inactive",
            f"{registration.name}登记状态为“{status}”，已不能经营，却仍在宣传",
        )
    scope = registration.scope or ""
    cats = tuple(dict.fromkeys(categories))
    known = [c for c in cats if c in rules.categories]
    if not known:
        return Verdict("", f"无可比对的宣传服务；登记经营范围{quote(scope)}")
    problems = [r for c in known if (r := _category_reason(c, rules.categories[c], scope, rules))]
    notes = _caveats(scope, tuple(known), rules)
    tail = f"（{'；'.join(notes)}）" if notes else ""
    if problems:
        return Verdict("out_of_scope", f"{'；'.join(problems)}；登记经营范围{quote(scope)}{tail}")
    services = "、".join(rules.categories[c].service for c in known)
    return Verdict("in_scope", f"登记经营范围{quote(scope)}涵盖{services}{tail}")
