"""Company names: a matching key and a split into region, brand core, industry and legal form.

Ads rarely spell a firm's registered name: "鑫诚咨询", "深圳鑫诚", "金盾信用 上海". Matching
against registrations therefore works on the *brand core* (鑫诚) plus region evidence; the
vocabularies live in `pipelines/data/regions.yaml` and `pipelines/data/name_parts.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipelines import datafiles
from pipelines.normalize import normalize

DATA_DIR = Path(__file__).parent / "data"

# A brand core shorter than this is not a brand: "鑫" alone would block thousands of firms,
# so stripping stops before it would leave fewer characters.
MIN_BRAND_CHARS = 2

# Brackets of every width fold to ASCII (NFKC does （）; these are the ones it keeps).
_BRACKETS = str.maketrans({"【": "(", "】": ")", "〔": "(", "〕": ")", "[": "(", "]": ")"})
# Separators that carry nothing in a name: spaces, middle dots, quotes.
_DROP = re.compile(r"[\s·•・'\"“”‘’]+")
# An unlisted district right after a city: two or three Han characters and 区/县.
_DISTRICT = re.compile(r"[\u4e00-\u9fff]{2,3}?[区县](?!块)")


@dataclass(frozen=True, slots=True)
class NameParts:
    """The pieces of a company name; `brand_core` is what ads and registrations share."""

    region: str  # city-level region ("深圳"), or province, or ""
    brand_core: str  # "鑫诚"
    industry: str  # "信息咨询"
    form: str  # "有限公司", "服务部", "分公司" … or ""


@dataclass(frozen=True)
class _Vocab:
    regions: dict[str, str]  # bare name → canonical region (districts map to their city)
    cities: frozenset[str]  # city-level canonical regions (more specific than a province)
    no_bare: frozenset[str]
    suffixes: tuple[str, ...]
    forms: tuple[str, ...]
    bracket_forms: frozenset[str]
    industries: tuple[str, ...]
    area_codes: dict[str, str]
    zones: tuple[str, ...]


@lru_cache(maxsize=1)
def vocab() -> _Vocab:
    """Load the region and name-part vocabularies once per process."""
    return load_vocab(DATA_DIR / "regions.yaml", DATA_DIR / "name_parts.yaml")


def _check_regions(path: Path, reg: dict[str, Any]) -> None:
    """Lists of names, districts → city (or empty), area codes as quoted digit strings."""
    datafiles.string_lists(path, reg, ("provinces", "cities", "suffixes"), ("no_bare", "zones"))
    for name, city in datafiles.mapping(path, "districts", reg.get("districts")).items():
        datafiles.text(path, "districts", name)
        if city:  # empty: a district name that is a region on its own (高新)
            datafiles.text(path, f"districts.{name}", city)
    codes = datafiles.mapping(path, "area_codes", reg.get("area_codes"), empty_ok=False)
    for code, city in codes.items():
        if not isinstance(code, str) or not code.isdigit():
            why = "quote it" if isinstance(code, int) else "digits only"
            what = f"an area code must be a string like '010' ({why})"
            datafiles.fail(path, f"area_codes.{code}", what)
        datafiles.text(path, f"area_codes.{code}", city)


def load_vocab(regions_path: Path, parts_path: Path) -> _Vocab:
    """Read and check regions.yaml and name_parts.yaml; a bad file raises DataFileError."""
    reg = datafiles.read_mapping(regions_path)
    _check_regions(regions_path, reg)
    parts = datafiles.read_mapping(parts_path)
    datafiles.string_lists(parts_path, parts, ("forms", "bracket_forms", "industries"))
    regions: dict[str, str] = {}
    for name, city in (reg.get("districts") or {}).items():
        regions[name] = city or name
    for name in reg["provinces"]:
        regions[name] = name
    for name in reg["cities"]:
        regions[name] = name  # a city wins over a same-named province (吉林)
    by_len = lambda xs: tuple(sorted(xs, key=len, reverse=True))  # noqa: E731
    return _Vocab(
        regions=regions,
        cities=frozenset(reg["cities"])
        | frozenset(c for c in (reg.get("districts") or {}).values() if c),
        no_bare=frozenset(reg.get("no_bare") or ()),
        suffixes=tuple(reg["suffixes"]),
        forms=by_len(parts["forms"]),
        bracket_forms=frozenset(parts["bracket_forms"]),
        industries=by_len(parts["industries"]),
        area_codes={str(k): v for k, v in reg["area_codes"].items()},
        zones=by_len(reg.get("zones") or ()),
    )


@lru_cache(maxsize=262144)
def normalize_name(name: str) -> str:
    """The matching key of a company name: Simplified, half-width brackets, no spaces,
    有限责任公司 folded to 有限公司 (股份有限公司 stays distinct: it is a different firm)."""
    text = normalize(name).text.translate(_BRACKETS)
    text = _DROP.sub("", text)
    text = text.replace("有限责任公司", "有限公司")
    return text.replace("()", "")


def _region_at(text: str, start: int, strict: bool = True) -> tuple[str, int] | None:
    """A region name at `text[start:]` with or without its suffix: (canonical, end) or None.

    `strict`: bare names that are also brand words (东方, 中山) need their suffix."""
    v = vocab()
    best: tuple[str, int] | None = None
    for size in (5, 4, 3, 2):
        word = text[start : start + size]
        if len(word) < size or word not in v.regions:
            continue
        end = start + size
        suffix = next((s for s in v.suffixes if text.startswith(s, end)), "")
        if suffix:
            return v.regions[word], end + len(suffix)
        if (not strict or word not in v.no_bare) and best is None:
            best = (v.regions[word], end)
    return best


def find_region(text: str) -> str:
    """The most specific region a leading address or name prefix names ("广东省深圳市…" → 深圳)."""
    region, _ = _strip_regions(normalize_name(text))
    return region


def _strip_regions(text: str) -> tuple[str, str]:
    """Strip leading province/city/district prefixes; returns (most specific region, rest)."""
    found: list[str] = []
    pos = 0
    while pos < len(text):
        hit = _region_at(text, pos)
        if hit is None and found:
            hit = _unlisted_district(text, pos, found[-1])
        # Keep at least a brand's worth of characters: "深圳" alone is not a name prefix.
        if hit is None or len(text) - hit[1] < MIN_BRAND_CHARS:
            break
        found.append(hit[0])
        pos = hit[1]
    return _most_specific(found), text[pos:]


def _unlisted_district(text: str, pos: int, city: str) -> tuple[str, int] | None:
    """After a city, a development zone or an unlisted district ("佛山市禅城区…") belongs to it."""
    zone = next((z for z in vocab().zones if text.startswith(z, pos)), None)
    if zone is not None:
        return city, pos + len(zone)
    m = _DISTRICT.match(text, pos)
    return (city, m.end()) if m else None


def _most_specific(regions: list[str]) -> str:
    """The first city-level region of a prefix chain (广东, 深圳, 深圳 → 深圳), else the first."""
    cities = vocab().cities
    return next((r for r in regions if r in cities), regions[0] if regions else "")


def _region_at_end(text: str) -> tuple[str, int] | None:
    """A region name ending `text` ("…广州", "…广州市"): (canonical, start) or None."""
    v = vocab()
    for suffix in ("", *v.suffixes):
        if suffix and not text.endswith(suffix):
            continue
        body = text[: len(text) - len(suffix)]
        for size in (5, 4, 3, 2):
            word = body[-size:]
            if len(word) == size and word in v.regions and (suffix or word not in v.no_bare):
                return v.regions[word], len(body) - size
    return None


def _strip_brackets(text: str) -> tuple[str, str, str]:
    """Remove bracketed parts: a region gives the region, a form gives the form; other
    bracket text stays in the name without brackets. Returns (text, region, form)."""
    v = vocab()
    region = form = ""

    def repl(m: re.Match[str]) -> str:
        nonlocal region, form
        inner = m.group(1)
        if inner in v.bracket_forms:
            form = form or inner
            return ""
        hit = _region_at(inner, 0, strict=False)  # in brackets even 中山 is a region
        if hit is not None and hit[1] == len(inner):
            region = region or hit[0]
            return ""
        return inner

    return re.sub(r"\(([^()]*)\)", repl, text), region, form


def _longest_suffix(text: str, words: tuple[str, ...], keep: int) -> str:
    """The longest word of `words` (sorted longest first) ending `text` while leaving at least
    `keep` characters; a set lookup per length, not a scan of the list."""
    by_len = _by_length(words)
    for size, group in by_len:
        if len(text) - size >= keep and text[-size:] in group:
            return text[-size:]
    return ""


@lru_cache(maxsize=8)
def _by_length(words: tuple[str, ...]) -> tuple[tuple[int, frozenset[str]], ...]:
    sizes = sorted({len(w) for w in words}, reverse=True)
    return tuple((n, frozenset(w for w in words if len(w) == n)) for n in sizes)


def _strip_form(text: str) -> tuple[str, str]:
    """Strip the legal/small-firm form at the end; a branch (…有限公司广州分公司) keeps its form."""
    form = _longest_suffix(text, vocab().forms, MIN_BRAND_CHARS)
    return (text[: -len(form)], form) if form else (text, "")


def _strip_industry(text: str) -> tuple[str, str]:
    """Strip industry words from the end repeatedly, never below MIN_BRAND_CHARS."""
    stripped: list[str] = []
    while word := _longest_suffix(text, vocab().industries, MIN_BRAND_CHARS):
        text = text[: -len(word)]
        stripped.insert(0, word)
    return text, "".join(stripped)


@lru_cache(maxsize=262144)
def split_name(name: str) -> NameParts:
    """Split a company or brand name into its parts.

    "深圳市鑫诚信息咨询有限公司" → 深圳 | 鑫诚 | 信息咨询 | 有限公司."""
    text = normalize_name(name)
    text, bracket_region, form = _strip_brackets(text)
    text, suffix_form = _strip_form(text)
    form = form or suffix_form
    branch_region = ""
    if form == "分公司":
        # "深圳市鑫诚…有限公司广州分公司": the branch's own city sits before 分公司.
        hit = _region_at_end(text)
        if hit is not None and hit[1] >= MIN_BRAND_CHARS:
            branch_region, text = hit[0], text[: hit[1]]
        text, _ = _strip_form(text)
    region, text = _strip_regions(text)
    text, industry = _strip_industry(text)
    # A region between brand and industry ("鑫诚深圳咨询") or at the end ("金盾信用上海").
    hit = _region_at_end(text)
    if hit is not None and hit[1] >= MIN_BRAND_CHARS:
        region = region or hit[0]
        text, more = _strip_industry(text[: hit[1]])
        industry = more + industry
    return NameParts(
        region=branch_region or bracket_region or region,
        brand_core=text,
        industry=industry,
        form=form,
    )


def bare_region_prefix(brand: str) -> tuple[str, str] | None:
    """(region, rest) when a brand core starts with a bare region name kept because it is
    also a brand word ("吴忠飞兴" → 吴忠, 飞兴): the matcher tries both readings."""
    hit = _region_at(brand, 0, strict=False)
    if hit is None or len(brand) - hit[1] < MIN_BRAND_CHARS:
        return None
    return hit[0], brand[hit[1] :]


def area_code_city(code: str) -> str:
    """The city of a fixed-line area code ("021" → 上海), or "" when unknown."""
    return vocab().area_codes.get(code, "")
