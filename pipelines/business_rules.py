"""The business-name data file (data/business_names.yaml), checked and compiled once.

Name extraction (pipelines/businesses.py) and USCC extraction (pipelines/uscc_extract.py) both
read their word lists and labels from it; the compiled regexes and word sets live here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pipelines.datafiles import read_mapping, string_lists
from pipelines.model import BusinessForm

DATA_FILE = Path(__file__).parent / "data" / "business_names.yaml"

# Separators promoters put between the parts of a firm name ("深圳市 鑫诚 信息咨询 有限公司",
# "广州·安信商务服务有限公司"): one of them between name characters may be bridged. Ideographic
# and no-break spaces are plain spaces after normalization; line breaks are never bridged.
BRIDGE_SEPARATORS = " ·・‧"

HAN = "\u3400-\u4dbf\u4e00-\u9fff"
# Bracket and quote pairs around a brand in ads (normalized: ＂ is already ").
QUOTES = (("【", "】"), ("“", "”"), ("「", "」"), ("『", "』"), ("〖", "〗"), ('"', '"'))
SEPARATOR_RE = re.compile(f"[{re.escape(BRIDGE_SEPARATORS)}]")


@dataclass(frozen=True, slots=True)
class Rules:
    """The data file compiled once: word sets and linear regexes."""

    run_re: re.Pattern[str]  # maximal runs of characters a name can contain
    suffix_re: re.Pattern[str]  # any legal-form / small-firm suffix
    bridge_suffix_re: re.Pattern[str]  # the suffixes of two characters or more
    bridge_probe_re: re.Pattern[str]  # the same, possibly split by separators: worth a look
    industry_re: re.Pattern[str]  # industry words of brand-only mentions
    trailing_re: re.Pattern[str]  # "(特殊普通合伙)" after a suffix
    bracket_brand_re: re.Pattern[str]
    quoted_re: re.Pattern[str]  # 【…】 “…” 「…」 『…』 〖…〗 "…": the content is group lastindex
    forms: dict[str, BusinessForm]  # suffix → form
    company_suffixes: frozenset[str]
    branch_parents: tuple[str, ...]
    shop_words: tuple[str, ...]
    bank_words: tuple[str, ...]
    non_shop_words: frozenset[str]
    shop_reject_pos: frozenset[str]
    person_words: frozenset[str]
    reject_pos: frozenset[str]
    common_brand_pos: frozenset[str]  # tags a common word needs to be a brand core
    action_industry: frozenset[str]  # industry words that follow a common word as an action
    industry: frozenset[str]
    industry_ends: tuple[str, ...]  # the same, for str.endswith
    descriptors: frozenset[str]
    generic: frozenset[str]
    stops: frozenset[str]
    soft_stops: frozenset[str]  # stops that may begin a name ("马上消费金融…", "信永中和…")
    soft_words: frozenset[str]  # the multi-character ones: distinctive inside a name
    bracket_non_regions: frozenset[str]
    region_full: frozenset[str]  # provinces and cities with their admin suffix
    region_short: frozenset[str]  # short names (广东, 深圳): only as a leading prefix
    unit_suffixes: tuple[str, ...]
    region_non_words: frozenset[str]


def alt(words: list[str]) -> str:
    """Regex alternation, longest first so "股份有限公司" wins over "有限公司"."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


# Keys of data/business_names.yaml, each a non-empty list of strings.
DATA_KEYS = (
    "company_suffixes", "branch_suffixes", "branch_parents", "shop_suffixes", "shop_words",
    "bank_words", "non_shop_words", "shop_reject_pos", "reject_pos", "common_brand_pos",
    "action_industry_words", "industry_words", "industry_person_words", "descriptor_words",
    "generic_words", "stop_words", "soft_stop_words", "bracket_non_regions", "provinces",
    "province_suffixes", "cities", "region_unit_suffixes", "region_non_words",
    "trailing_brackets", "uscc_labels", "not_uscc_labels",
)  # fmt: skip


def load_data(path: Path = DATA_FILE) -> dict[str, list[str]]:
    """Read and check business_names.yaml; a bad file raises DataFileError naming the key."""
    data = read_mapping(path)  # libyaml's loader when built in: fast process start-up
    string_lists(path, data, DATA_KEYS)
    return data


@lru_cache(maxsize=1)
def read_data() -> dict[str, list[str]]:
    """The data file, read once per process."""
    return load_data()


@lru_cache(maxsize=1)
def compiled() -> Rules:
    """The data file compiled (once per process)."""
    data = read_data()
    forms: dict[str, BusinessForm] = {}
    for key, form in (("shop_suffixes", "shop"), ("company_suffixes", "company")):
        forms.update(dict.fromkeys(data[key], form))
    forms.update(dict.fromkeys(data["branch_suffixes"], "branch"))
    provinces = data["provinces"]
    region_full = {p + s for p in provinces for s in data["province_suffixes"]}
    region_full |= {c + "市" for c in data["cities"]}
    regionish = alt([*provinces, *data["cities"], *region_full])
    bracket = rf"\((?:{regionish}|[{HAN}]{{1,6}}[省市区县]|{alt(data['bracket_non_regions'])})\)"
    quoted = "|".join(rf"{re.escape(o)}([{HAN}0-9a-z]{{3,12}}){re.escape(c)}" for o, c in QUOTES)
    return Rules(
        # [...]+ inside: the engine loops once per stretch of name characters, not per character
        run_re=re.compile(rf"(?:[{HAN}0-9a-z]+|{bracket})+"),
        quoted_re=re.compile(quoted),
        suffix_re=re.compile(alt(list(forms))),
        bridge_suffix_re=re.compile(alt([f for f in forms if len(f) > 1])),
        bridge_probe_re=re.compile(
            "|".join(
                f"{SEPARATOR_RE.pattern}?".join(map(re.escape, f)) for f in forms if len(f) > 1
            )
        ),
        industry_re=re.compile(alt(data["industry_words"])),
        trailing_re=re.compile(rf"\((?:{alt(data['trailing_brackets'])})\)"),
        bracket_brand_re=re.compile(rf"【([{HAN}0-9a-z]{{2,12}})】"),
        forms=forms,
        company_suffixes=frozenset(data["company_suffixes"] + data["branch_suffixes"]),
        branch_parents=tuple(data["branch_parents"]),
        shop_words=tuple(sorted(data["shop_words"], key=len, reverse=True)),
        bank_words=tuple(data["bank_words"]),
        non_shop_words=frozenset(data["non_shop_words"]),
        shop_reject_pos=frozenset(data["shop_reject_pos"]),
        person_words=frozenset(data["industry_person_words"]),
        reject_pos=frozenset(data["reject_pos"]),
        common_brand_pos=frozenset(data["common_brand_pos"]),
        action_industry=frozenset(data["action_industry_words"]),
        industry=frozenset(data["industry_words"]),
        industry_ends=tuple(data["industry_words"]),
        descriptors=frozenset(data["descriptor_words"] + data["industry_words"]),
        generic=frozenset(data["generic_words"]),
        stops=frozenset(data["stop_words"] + data["soft_stop_words"]),
        soft_words=frozenset(data["soft_stop_words"]),
        soft_stops=frozenset(
            data["soft_stop_words"] + [w for w in data["stop_words"] if len(w) == 1]
        ),
        bracket_non_regions=frozenset(data["bracket_non_regions"] + data["trailing_brackets"]),
        region_full=frozenset(region_full),
        region_short=frozenset(provinces + data["cities"]),
        unit_suffixes=tuple(data["region_unit_suffixes"]),
        region_non_words=frozenset(data["region_non_words"]),
    )
