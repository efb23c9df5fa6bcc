"""Resolve business names seen in ads to imported registrations, with the evidence used.

Order of evidence: a valid USCC; the exact normalized name; the brand core plus region
evidence (city in the name, cities and landline area codes in the text, an address); and last
a fuzzy brand match over *blocked* candidates only (brands sharing a padded character bigram,
never all pairs). Near-miss names (鑫诚 vs 鑫城) are separate firms: an exact brand hit always
wins, and a fuzzy hit must be close on the brand itself and clearly ahead of every other brand.
Anything ambiguous is "unresolved" with its candidates, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, TypeVar

from rapidfuzz import fuzz, process

from pipelines import uscc as uscc_check
from pipelines.matching_index import RegistryIndex, RegRef
from pipelines.model import Business
from pipelines.names import (
    area_code_city,
    bare_region_prefix,
    find_region,
    normalize_name,
    split_name,
    vocab,
)

__all__ = [
    "MatchResult",
    "Method",
    "RegRef",
    "RegionHints",
    "RegistryIndex",
    "iter_matches",
    "match_business",
    "region_hints_from_text",
]

Method = Literal["uscc", "exact_name", "brand_region", "brand_fuzzy", "unresolved", "none"]

# Confidence per method: what an analyst can rely on without opening the registration.
CONF_USCC = 1.0
CONF_EXACT = 0.97
CONF_BRAND_NAME_REGION = 0.9  # brand + the city written in the name itself
CONF_BRAND_HINT_REGION = 0.85  # brand + a city or area code elsewhere in the text
CONF_BRAND_ONLY = 0.6  # the only registration with this brand core, no region evidence
# Fuzzy: the brand itself must be this close (fuzz.ratio, 0–100). Two-character brands that
# differ in one character score 50, so near-miss names never merge; "华信永道/华信永达" (75) may.
FUZZY_BRAND_MIN = 75.0
# …and the whole name this close, and ahead of any other brand by this margin.
FUZZY_NAME_MIN = 85.0
FUZZY_MARGIN = 10.0
# Below this nothing is even worth showing as a candidate.
CANDIDATE_MIN = 50.0
# Candidates listed for an unresolved match: enough to choose from, short enough to read.
MAX_CANDIDATES = 8
# Cities named in a reason ("字号“鑫诚”登记在深圳、广州等"), and rows looked at
# to find them: a national registry has hundreds of registrations of a common brand.
MAX_WHERE = 12
MAX_WHERE_ROWS = 400
# Records and look-alike brands scored per fuzzy query: blocking keeps both small, these cap
# a common bigram ("^金") in a national registry; the best-scoring brands come first.
MAX_FUZZY_RECORDS = 3000
MAX_FUZZY_BRANDS = 40

# Answers memoized per index (where a brand is registered, which of its rows fits an
# industry): plenty for every brand an analyst's lists name; beyond it the memo starts over.
MEMO_MAX = 200_000

# A fixed line: area code (0 + 2–3 digits, maybe in brackets) and a 7–8 digit number that may
# be split by a space or dash ("021-62881234", "(021)62881234", "0755 8888 6666").
_LANDLINE = re.compile(r"(?<![0-9])[(（]?(0\d{2,3})[)）]?[-\s]?[2-9]\d{2,3}[-\s]?\d{4}(?![0-9])")


@dataclass(frozen=True, slots=True)
class RegionHints:
    """Region evidence from around a business mention: cities, landline area codes, address."""

    cities: tuple[str, ...] = ()
    area_codes: tuple[str, ...] = ()
    address: str = ""

    def regions(self) -> dict[str, str]:
        """Region → what pointed to it (for the reason)."""
        out: dict[str, str] = {}
        for city in self.cities:
            out.setdefault(city, "文中地名")
        for code in self.area_codes:
            if city := area_code_city(code):
                out.setdefault(city, f"座机区号{code}")
        if self.address and (city := find_region(self.address)):
            out.setdefault(city, "地址")
        return out


def region_hints_from_text(text: str, address: str = "") -> RegionHints:
    """Cities named in a text (with or without 市) and the area codes of its landlines."""
    norm = normalize_name(text) if len(text) < 2000 else text
    v = vocab()
    cities: list[str] = []
    for m in _region_pattern().finditer(norm):
        word = m.group(1)
        if m.group(2) or word not in v.no_bare:
            city = v.regions[word]
            if city in v.cities and city not in cities:
                cities.append(city)
    codes = list(dict.fromkeys(m.group(1) for m in _LANDLINE.finditer(text)))
    return RegionHints(tuple(cities), tuple(c for c in codes if area_code_city(c)), address)


_REGION_RE: re.Pattern[str] | None = None


def _region_pattern() -> re.Pattern[str]:
    global _REGION_RE
    if _REGION_RE is None:
        v = vocab()
        names = sorted(v.regions, key=len, reverse=True)
        _REGION_RE = re.compile(f"({'|'.join(names)})({'|'.join(v.suffixes)})?")
    return _REGION_RE


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Which registration a business name is, how it was decided, and the alternatives."""

    registration: RegRef | None
    method: Method
    confidence: float
    candidates: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""


# --- matching ------------------------------------------------------------------------------


def match_business(
    index: RegistryIndex,
    business: Business | str,
    uscc: str | None = None,
    region_hints: RegionHints | None = None,
) -> MatchResult:
    """Resolve one business name (and optional USCC) against the index; never guesses."""
    name = business.name if isinstance(business, Business) else str(business)
    notes: list[str] = []
    if uscc:
        code = uscc_check.compact(uscc)
        if uscc_check.is_valid(code):
            i = index.by_uscc.get(code)
            if i is not None:
                ref = index.ref(i)
                return MatchResult(
                    ref, "uscc", CONF_USCC, [], f"统一社会信用代码{code}登记为{ref.name}"
                )
            notes.append(f"统一社会信用代码{code}校验通过，但不在已导入的登记数据中")
            if uscc_check.compact(name) == code:  # named by the code alone: no name to try
                return MatchResult(None, "none", 0.0, [], f"{notes[0]}；页面未写企业名称")
        else:
            notes.append(f"统一社会信用代码{uscc}未通过GB 32100校验，已忽略")
    result = _match_name(index, name, region_hints or RegionHints())
    if notes:
        reason = "；".join([*notes, result.reason])
        return MatchResult(result.registration, result.method, result.confidence,
                           result.candidates, reason)  # fmt: skip
    return result


def _match_name(index: RegistryIndex, name: str, hints: RegionHints) -> MatchResult:
    norm = normalize_name(name)
    if not norm:
        return MatchResult(None, "none", 0.0, [], "名称为空")
    exact = index.with_name(norm)
    if len(exact) == 1:
        ref = index.ref(exact[0])
        return MatchResult(ref, "exact_name", CONF_EXACT, [], f"与登记名称完全一致：{ref.name}")
    if len(exact) > 1:
        cands = [index.candidate(i) for i in exact[:MAX_CANDIDATES]]
        return MatchResult(
            None, "unresolved", 0.0, cands, f"有{len(exact)}条登记使用同一名称“{norm}”"
        )
    parts = split_name(name)
    if not parts.brand_core:
        return MatchResult(None, "none", 0.0, [], f"“{name}”中没有可识别的字号")
    brands, region, label = (parts.brand_core,), parts.region, parts.brand_core
    alt = bare_region_prefix(parts.brand_core) if not region else None
    if alt is not None and index.with_brand(alt[1]):
        # Two readings of "吴忠飞兴": a brand, or 吴忠 + 飞兴; both kinds of registration count.
        brands, region, label = (parts.brand_core, alt[1]), alt[0], alt[1]
    elif not region:
        # The same reading the other way: 吉林 in the text, "吉林博道…" registered without 市.
        brands += tuple(b for r in hints.regions() if (b := r + parts.brand_core) in index.by_brand)
    same_brand = (
        index.with_brand(brands[0])
        if len(brands) == 1
        else [i for b in brands for i in index.with_brand(b)]
    )
    if same_brand:
        return _by_region(index, brands, label, region, parts.industry, same_brand, hints)
    return _fuzzy(index, norm, parts.brand_core, parts.region, hints)


def _evidence(name_region: str, hints: RegionHints) -> tuple[dict[str, str], float]:
    """Regions the evidence points to, with their source, and the confidence they carry."""
    if name_region:
        return {name_region: "名称中的地名"}, CONF_BRAND_NAME_REGION
    return hints.regions(), CONF_BRAND_HINT_REGION


def _by_region(
    index: RegistryIndex,
    brands: tuple[str, ...],
    brand: str,
    name_region: str,
    industry: str,
    rows: list[int],
    hints: RegionHints,
) -> MatchResult:
    """Same brand core registered once or more: region evidence (then industry) picks one.

    Works on row numbers: a common brand has hundreds of registrations in a national registry.
    `brands` are the readings of the name's brand core; `brand` is the one reasons name.
    """
    cands = [index.candidate(i) for i in rows[:MAX_CANDIDATES]]
    where = _memo(index, ("where", brands), lambda: _where(index, rows))
    wanted, conf = _evidence(name_region, hints)
    if wanted:
        said = "、".join(f"{city}（{why}）" for city, why in wanted.items())
        local = [i for b in brands for i in index.with_brand_in(b, wanted)]
        if not local:
            method: Method = "none" if name_region else "unresolved"
            return MatchResult(
                None, method, 0.0, cands,
                f"字号“{brand}”登记在{where}，但证据指向{said}",
            )  # fmt: skip
        return _pick(
            index, local, _one(index, local, industry), conf, cands,
            f"字号“{brand}”登记在{where}，证据指向{said}",
            f"字号“{brand}”有{len(local)}条登记都符合{said}，无法判断是哪一家",
        )  # fmt: skip
    # The whole brand: a walk over all its rows, the same for every ad naming it.
    picked = _memo(index, ("one", brands, industry), lambda: _one(index, rows, industry))
    return _pick(
        index, rows, picked, CONF_BRAND_ONLY, cands,
        f"字号“{brand}”仅有一条登记（无地区证据）",
        f"字号“{brand}”有{len(rows)}条登记（{where}），没有证据说明是哪一家",
    )  # fmt: skip


def _pick(
    index: RegistryIndex,
    rows: list[int],
    picked: int | None,
    conf: float,
    cands: list[dict[str, Any]],
    found: str,
    unresolved: str,
) -> MatchResult:
    """The registration `_one` `picked` from `rows`, else "unresolved" with `rows` as
    candidates. A pick is "brand_region" at `conf`, with `cands` and the reason
    "`found`：registered name"."""
    if picked is None:
        rest = [index.candidate(i) for i in rows[:MAX_CANDIDATES]]
        return MatchResult(None, "unresolved", 0.0, rest, unresolved)
    r = index.ref(picked)
    return MatchResult(r, "brand_region", conf, cands, f"{found}：{r.name}")


def _where(index: RegistryIndex, rows: list[int]) -> str:
    """Where a brand is registered, for reasons: the first MAX_WHERE cities (in row order,
    among its first MAX_WHERE_ROWS rows), then a count. Stops at the first city past
    MAX_WHERE: a common brand's rows lie all over a big index, each one a cache miss."""
    regions = index.regions
    cities: dict[str, None] = {}
    for i in rows[:MAX_WHERE_ROWS]:
        cities[regions[i] or "?"] = None
        if len(cities) > MAX_WHERE:
            break
    shown = "、".join(list(cities)[:MAX_WHERE])
    more = len(cities) > MAX_WHERE or len(rows) > MAX_WHERE_ROWS
    return f"{shown}等（共{len(rows)}条登记）" if more else shown


_T = TypeVar("_T")


def _memo(index: RegistryIndex, key: Hashable, compute: Callable[[], _T]) -> _T:
    """`compute()`, remembered on the index under `key` (the index empties it on change)."""
    memo = index.memo
    if key in memo:
        return memo[key]  # type: ignore[no-any-return]
    if len(memo) >= MEMO_MAX:
        memo.clear()
    value = memo[key] = compute()
    return value


def _one(index: RegistryIndex, rows: list[int], industry: str) -> int | None:
    """The single registration left, or the single one whose name has the ad's industry."""
    if len(rows) == 1:
        tail = _trade_tail(index, rows[0])
        if industry and _has_trade(tail) and not _same_trade(tail, industry):
            return None  # "鑫诚科技" is not "鑫诚信息咨询"
        return rows[0]
    if industry:
        tails = [(i, _trade_tail(index, i)) for i in rows]
        # The whole industry first ("法律咨询"), then any of its words ("咨询").
        for fits in (lambda t: industry in t, lambda t: _same_trade(t, industry)):
            fitting = [i for i, tail in tails if fits(tail)]
            if len(fitting) == 1:
                return fitting[0]
            if fitting:
                return None
    return None


def _trade_tail(index: RegistryIndex, i: int) -> str:
    """What registered name `i` says after its brand core: its industry words and form."""
    brand = index.brands[i]
    norm = index.norms[i] or normalize_name(index.names[i])
    at = norm.find(brand)
    return norm[at + len(brand) :] if at >= 0 else norm


def _has_trade(tail: str) -> bool:
    return any(w in tail for w in _two_char_industries())


def _same_trade(tail: str, industry: str) -> bool:
    """True when the registered tail and the ad's industry share a word (咨询, 信用 …)."""
    return industry in tail or any(w in tail for w in _trade_words(industry))


@lru_cache(maxsize=1)
def _two_char_industries() -> tuple[str, ...]:
    return tuple(w for w in vocab().industries if len(w) == 2)


@lru_cache(maxsize=4096)
def _trade_words(industry: str) -> tuple[str, ...]:
    """The single industry words inside a compound ("信息咨询" → 信息, 咨询)."""
    return tuple(w for w in _two_char_industries() if w in industry) or (industry,)


def _core(name: str) -> str:
    """Brand core and industry without region and form: what fuzzy name scores compare."""
    parts = split_name(name)
    return parts.brand_core + parts.industry


def _look_alikes(index: RegistryIndex, brand: str) -> list[tuple[float, str]]:
    """(score, brand) of the best blocked look-alike brands, best first (rapidfuzz's C loop;
    equal scores keep the sorted order `similar_brands` gives)."""
    return [
        (score, b)
        for b, score, _ in process.extract(
            brand,
            index.similar_brands(brand),
            scorer=fuzz.ratio,
            score_cutoff=CANDIDATE_MIN,
            limit=MAX_FUZZY_BRANDS,
        )
    ]


def _fuzzy(
    index: RegistryIndex, norm: str, brand: str, name_region: str, hints: RegionHints
) -> MatchResult:
    """No registration has this brand core: score blocked look-alikes, accept only a clear one."""
    scored_brands = _memo(index, ("look-alikes", brand), lambda: _look_alikes(index, brand))
    wanted, _ = _evidence(name_region, hints)
    in_region = index.by_brand_region.get
    rows: list[int] = []
    brand_score: dict[int, float] = {}
    for b_score, b in scored_brands:
        if name_region:  # the region the name itself gives: only that region's rows
            cur = in_region((b, name_region))
            ids = [] if cur is None else cur if isinstance(cur, list) else [cur]
        else:
            ids = index.with_brand_in(b, wanted) if wanted else index.with_brand(b)
            if wanted and not ids:
                ids = index.with_brand(b)  # a city elsewhere in the text is weak evidence
        if ids:
            take = ids[: MAX_FUZZY_RECORDS - len(rows)]
            rows += take
            brand_score.update(dict.fromkeys(take, b_score))
            if len(rows) >= MAX_FUZZY_RECORDS:
                break
    if not rows:
        return MatchResult(None, "none", 0.0, [], f"没有字号为“{brand}”或与之相近的登记")
    # Whole-name closeness of brand + industry, aligned inside the registered name (C loop).
    core = _core(norm)
    best_rows = process.extract(
        core, [index.names[i] for i in rows], scorer=fuzz.partial_ratio, limit=MAX_CANDIDATES * 4
    )
    scored = sorted(
        ((max(brand_score[rows[k]], n), brand_score[rows[k]], rows[k]) for _, n, k in best_rows),
        reverse=True,
    )
    cands = [index.candidate(i, score) for score, _, i in scored[:MAX_CANDIDATES]]
    best, b_best, top = scored[0]
    rivals = [s for s in scored[1:] if index.brands[s[2]] != index.brands[top]]
    clear = not rivals or best - rivals[0][0] >= FUZZY_MARGIN
    same_brand_rows = [s for s in scored if index.brands[s[2]] == index.brands[top]]
    single = len(same_brand_rows) == 1
    ref = index.ref(top)
    # Same length only: a longer or shorter brand (鑫诚达 vs 鑫诚) is another firm, not a typo.
    same_length = len(ref.brand_core) == len(brand)
    if b_best >= FUZZY_BRAND_MIN and best >= FUZZY_NAME_MIN and clear and single and same_length:
        return MatchResult(
            ref, "brand_fuzzy", round(0.8 * best / 100, 3), cands,
            f"没有字号为“{brand}”的登记；{ref.name}与之相近（字号相似度{b_best:.0f}/100，"
            f"名称相似度{best:.0f}/100）",
        )  # fmt: skip
    return MatchResult(
        None, "unresolved", 0.0, cands,
        f"没有字号为“{brand}”的登记；相近的登记（{ref.brand_core}等）不够接近或不止一家，"
        "不能认定为同一企业",
    )  # fmt: skip


def iter_matches(
    index: RegistryIndex, names: Iterable[str], hints: RegionHints | None = None
) -> Iterator[MatchResult]:
    """Match many plain names (the benchmark and analysts' lists)."""
    for name in names:
        yield match_business(index, name, region_hints=hints)
