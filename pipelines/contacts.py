"""Contact extraction: phones, WeChat and QQ ids, emails and sites, decoded from ad obfuscations.

It runs on every crawled page, so scanning is done by precompiled regexes over the normalized
text (pipelines.normalize); only the digit runs they find are decoded further, Chinese numerals
(一三八, 壹叁捌, 幺, 洞 …) read as digits one character for one, so positions stay aligned. Spans
map back to the original through the normalizer's offset map: evidence quotes what was there.
Emails are also read with the at sign or dots spelled out (xinc888 at 163 dot com, 艾特, 点, #),
only where the domain shape makes an address credible (see _spelled_emails).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Literal

import phonenumbers
import yaml

from pipelines.contact_labels import SoundRules, labelled_ids, sound_rules
from pipelines.errors import ConfigError
from pipelines.model import Contact, ContactKind
from pipelines.normalize import INVISIBLE, NormalizedText, normalize

DATA_PATH = Path(__file__).parent / "data" / "contacts.yaml"

# What promoters put between digit groups: whitespace, dashes, dots, slashes, brackets, HTML
# spaces and symbol/emoji blocks (✨ ❤ ★ ☎ 🌟 …). Never "*" or "x": those mask digits.
_SEP = (
    r"(?:&nbsp;|&#160;|[\s\-‐‑‒–—―./\\_~·•・()"
    r"\u2190-\u21ff\u2300-\u23ff\u2500-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff])"
)
# At most this many separator characters between two digit groups ("138 - 0013", "✨✨").
_MAX_SEP = 4
# A run of >= 5 digits or numerals (the shortest QQ number) with separators between them,
# built with the numeral set from the data file. Each repeat must consume a digit and
# separators never match digits, so the scan is linear.
_RUN_TEMPLATE = r"{d}(?:{sep}{{0,{n}}}{d}){{4,}}"
_DIGITS_RE = re.compile(r"[0-9]+")
_ASCII_OR_DECODED_RE = re.compile(r"[0-9]+|[^0-9]+")
_WS_SEP_RE = re.compile(r"(?:\s|&nbsp;|&#160;)+")
# Two or more mask characters touching a run: 138****8000, 1380013xxxx.
_MASK_BEFORE_RE = re.compile(r"[*x×]{2}$")
_MASK_AFTER_RE = re.compile(r"[*x×]{2}")
# An extension written after a landline: 转123, ext 123, 分机123, x123.
_EXT_RE = re.compile(r"[ \t]*(?:转|ext\.?|分机|x|#)[ \t]*([0-9]{1,6})(?![0-9])")

# National forms we accept before asking phonenumbers: mobiles, landlines *with* the trunk 0
# (area code written out) and 400/800 service numbers. Without this, bare runs such as
# 2023102714 (a timestamp) parse as valid Guangzhou landlines.
_NATIONAL_RE = re.compile(r"1[3-9][0-9]{9}|0[1-9][0-9]{8,10}|[48]00[0-9]{7}")
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_SHAPE_RE = re.compile(r"1[0-9]{10}")
# Some phone must hide in a run's digits for the (costlier) reading of its groups to be worth it.
_HAS_PHONE_RE = re.compile(r"1[3-9][0-9]{9}|0[1-9][0-9]{8}|[48]00[0-9]{7}|86[1-9][0-9]{8}")
# Shortest and longest digit strings a phone part can have: 400/800 numbers have 10 digits;
# 0086 + 0 + an 11-digit national number makes 16.
_MIN_PHONE_DIGITS = 10
_MAX_PHONE_DIGITS = 16

# Punctuation between an alias and the id ("vx = ", "QQ（", "微信：【"); the filler *words*
# (号码, 详聊, 搜索 …) come from the data file's alias_fillers.
_FILLER_PUNCT = r"[\s:=\-~>→(\[【「<\"'“‘+]|&nbsp;"
# At most this many filler pieces (punctuation or words) after an alias: "加微信详聊 ：【".
_MAX_FILLER = 8
# WeChat id rule: 6–20 characters, a letter first, then letters, digits, "_" or "-".
_WECHAT_ID_RE = re.compile(r"[a-z][a-z0-9_-]{5,19}(?![a-z0-9_-])(?!@|\.[a-z])")
# Default WeChat ids carry their own marker and need no alias.
_WXID_RE = re.compile(r"(?<![a-z0-9_])wxid_[a-z0-9_-]{4,15}(?![a-z0-9_-])")
_EMAIL_RE = re.compile(
    r"(?<![a-z0-9._%+-])[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}"
    r"(?![a-z0-9-])"
)
_HOST = r"[a-z0-9-]+(?:\.[a-z0-9-]+)+"
_PATH = r"(?::[0-9]{1,5})?(?:[/?#][a-z0-9\-._~:/?#\[\]@!$&'*+,;=%]*)?"
_URL_RE = re.compile(rf"(?<![a-z0-9.-])(?:https?://(?P<h1>{_HOST})|(?P<h2>www\.{_HOST})){_PATH}")
_QQ_MAIL_RE = re.compile(r"([1-9][0-9]{4,10})@qq\.com")
# Brackets promoters put around a spelled-out symbol: (at), [at], {at}, <at>, 【at】, 「at」
# (full-width brackets are half-width once normalized).
_OPEN = "([{<【「"
_CLOSE = ")]}>】」"
# Spaces allowed around a spelled-out or spaced symbol, and how many; no line break and no long
# blank: an address is written on one line, in one piece.
_GAP = " \t"
_MAX_GAP = 3
# One label of a mail domain, read whole (so "comx" is not "com").
_LABEL = r"[a-z0-9][a-z0-9-]{0,62}(?![a-z0-9-])"
_LABEL_RE = re.compile(_LABEL)
# What an email's local part is made of (the common subset of RFC 5321), read backwards from
# the at sign, and the most of it RFC 5321 allows.
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._%+-")
_MAX_LOCAL = 64
# Right before a local part, these mean a URL's path or query ("/page#qq.com"), not an email.
_URL_CHARS = frozenset("/?=&#")
# Longest normalized text a phone can span (digits, separators, "+86", an extension): only
# bounds the search for phones near a "微信同号" phrase.
_MAX_RUN_CHARS = _MAX_PHONE_DIGITS * (_MAX_SEP + 1) + 16
# Near a "微信同号" phrase: how far (normalized characters) the phone it refers to may be.
_SAME_NUMBER_WINDOW = 16
# How far before a number a context word (订单号, 电话 …) still speaks about it.
_CONTEXT_WINDOW = 10
# Chinese-numeral runs shorter than this are prose (每周一三五), unless an alias precedes them.
_MIN_DECODED_DIGITS = 7


@dataclass(frozen=True, slots=True)
class _Rules:
    """The data file compiled once: alias and context regexes, the numeral table."""

    wechat_alias: re.Pattern[str]
    qq_alias: re.Pattern[str]
    filler: re.Pattern[str]  # what may stand between an alias and the id
    context: re.Pattern[str]  # groups: neg (not-a-contact word) / pos (contact alias)
    same_number: re.Pattern[str]
    amount_prefixes: tuple[str, ...]
    amount_suffixes: tuple[str, ...]
    digit_table: dict[int, str]
    digit_chars: frozenset[str]  # ASCII digits and numerals
    run: re.Pattern[str]  # a digit run, see _RUN_TEMPLATE
    id_stopwords: frozenset[str]
    bare_domain: re.Pattern[str]
    tld_dot: re.Pattern[str]  # ".com", ".cn" … where a bare domain may end
    at_words: tuple[str, ...]  # spelled-out "@" (at, 艾特): with "@" and "#", gate the scan
    email_at: re.Pattern[str]  # "@", "#" or a spelled-out at word, see _symbol_words
    mail_dot_label: re.Pattern[str]  # groups: dot (".", " dot ", 点 …) and the label after it
    tlds: frozenset[str]
    mail_providers: frozenset[str]
    qq_mail_alias: re.Pattern[str]  # QQ邮箱 …, before a QQ number that names a mailbox
    qq_mail_gate: tuple[str, ...]  # the aliases' first two characters
    sound: SoundRules  # labels read by sound (pipelines.contact_labels)
    id_units: tuple[str, ...]  # "只", "人", "元" …: after a number, a count, not an id


@dataclass(frozen=True, slots=True)
class _Phone:
    e164: str
    national: str  # digits as dialled inside China: 13800138000, 02162881234, 4008208820
    mobile: bool


# How much a mail domain must prove after an at sign: only a known top-level domain ("@",
# "(at)", 艾特); a spelled-out dot or a mail provider (a bare " at ", a mention-shaped "@");
# a mail provider ("#", which mostly opens hashtags).
_Proof = Literal["tld", "cue", "provider"]


@dataclass(frozen=True, slots=True)
class _AtSign:
    """An at sign, plain, spaced or spelled out, with the gaps and brackets around it."""

    local_end: int  # where the local part must end (normalized text)
    domain_start: int
    proof: _Proof


@dataclass(frozen=True, slots=True)
class _MailDomain:
    """A mail domain as written, dots spelled out or not."""

    labels: tuple[str, ...]  # up to the last known top-level domain: ("vip", "qq", "com")
    end: int  # normalized text
    spelled: bool  # some dot was written as a word or 点, not "."
    name: str  # the label before the top-level domain(s): "qq"; "" if there is none


@dataclass(frozen=True, slots=True)
class _Found:
    kind: ContactKind
    value: str
    start: int  # normalized-text span
    end: int
    note: str = ""


def _words(data: dict[str, object], key: str) -> list[str]:
    """A list of normalized words from the data file, or a ConfigError naming the field."""
    items = data.get(key)
    if not isinstance(items, list) or not items or not all(isinstance(w, str) for w in items):
        raise ConfigError(f"{DATA_PATH}: '{key}' must be a non-empty list of strings")
    words = [normalize(w.strip()).text for w in items]
    if not all(words):
        raise ConfigError(f"{DATA_PATH}: '{key}' has an empty entry")
    return words


def _alternation(
    words: Iterable[str], left_bound: bool = True, right_bound: str = r"(?![a-z])"
) -> str:
    """Longest-first alternation; ASCII words match only as whole words (wx, not wxid_).

    Without `left_bound` every alternative starts with a literal, which lets the regex engine
    skip ahead to candidate first characters (fast on long pages); callers then check the
    left boundary themselves with `_starts_word`.
    """
    parts = []
    for w in sorted(set(words), key=lambda w: (-len(w), w)):
        p = re.escape(w)
        if left_bound and w[0].isascii() and w[0].isalnum():
            p = r"(?<![a-z0-9_])" + p
        if w[-1].isascii() and w[-1].isalpha():
            p += right_bound
        parts.append(p)
    return "(?:" + "|".join(parts) + ")"


def _symbol_words(words: Iterable[str]) -> str:
    """Alternation of words that spell a symbol (at, 艾特, dot, 点). ASCII words count only set
    off by spaces or brackets, so "that" holds no "at"; every alternative starts with a literal,
    so scanning a page skips ahead to candidate first characters."""
    left, right = re.escape(_GAP + _OPEN), re.escape(_GAP + _CLOSE)
    parts = []
    for w in sorted(set(words), key=lambda w: (-len(w), w)):
        p = re.escape(w)
        if w.isascii():
            p += rf"(?<=[{left}]{p})(?=[{right}])"
        parts.append(p)
    return "(?:" + "|".join(parts) + ")"


def _starts_word(text: str, m: re.Match[str]) -> bool:
    """False when an ASCII alias or domain is glued to a preceding letter/digit (…qq, my_x.cn)."""
    s = m.start()
    return s == 0 or not m.group()[0].isascii() or text[s - 1] not in _WORD_CHARS


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _unshadowed(aliases: list[str], fillers: list[str]) -> list[str]:
    """Aliases minus those that are another alias plus a filler word (微信号 = 微信 + 号).

    The longest alias wins the scan, so 微信号 would leave "码" of 微信号码 in front of the id;
    read as 微信 + filler, 号码 is consumed whole.
    """
    known = set(aliases)
    return [a for a in aliases if not any(a.endswith(f) and a[: -len(f)] in known for f in fillers)]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    """Load and compile pipelines/data/contacts.yaml once per process."""
    try:
        data = yaml.safe_load(DATA_PATH.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{DATA_PATH}: cannot read contact rules ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{DATA_PATH}: expected a mapping at the top level")
    numerals = data.get("numeral_digits")
    if not isinstance(numerals, dict) or set(map(str, numerals)) != set("0123456789"):
        raise ConfigError(f"{DATA_PATH}: 'numeral_digits' must map each digit 0-9 to characters")
    table = {ord(ch): str(d) for d, chars in numerals.items() for ch in normalize(str(chars)).text}
    digit_class = "[0-9" + "".join(re.escape(chr(c)) for c in sorted(table)) + "]"
    aliases = (
        _words(data, "wechat_aliases") + _words(data, "qq_aliases") + _words(data, "phone_aliases")
    )
    tld_words = _words(data, "url_tlds")
    tlds = _alternation(tld_words)
    qq_mail = _words(data, "qq_mail_aliases")
    # Possessive: a run of spaces is never re-split between the gaps around a dot.
    gap = f"[{re.escape(_GAP)}]{{0,{_MAX_GAP}}}+"
    opening, closing = re.escape(_OPEN), re.escape(_CLOSE)
    dots = _symbol_words(_words(data, "email_dot_words"))
    # "加微信", "加我QQ": a prefix may stand before any alias; spelled out as whole words so
    # the longest reading wins (加微信 over 加微) and every alternative starts with a literal.
    prefixes = ["", *_words(data, "alias_prefixes")]
    fillers = _words(data, "alias_fillers")

    def scanner(key: str) -> re.Pattern[str]:
        words = _unshadowed(_words(data, key), fillers)
        return re.compile(_alternation((p + w for p in prefixes for w in words), False))

    return _Rules(
        wechat_alias=scanner("wechat_aliases"),
        qq_alias=scanner("qq_aliases"),
        # "id" is a filler only as a whole word: in "微信：idea_2023" it is part of the id.
        filler=re.compile(
            rf"(?:{_FILLER_PUNCT}|{_alternation(fillers, False, r'(?![a-z0-9_])')})"
            rf"{{0,{_MAX_FILLER}}}"
        ),
        context=re.compile(
            rf"(?P<neg>{_alternation(_words(data, 'not_contact_context'))})"
            rf"|(?P<pos>{_alternation(aliases)})"
        ),
        same_number=re.compile(_alternation(_words(data, "same_number_phrases"), False)),
        amount_prefixes=tuple(_words(data, "amount_prefixes")),
        amount_suffixes=tuple(_words(data, "amount_suffixes")),
        digit_table=table,
        digit_chars=frozenset("0123456789" + "".join(map(chr, table))),
        run=re.compile(_RUN_TEMPLATE.format(d=digit_class, sep=_SEP, n=_MAX_SEP)),
        id_stopwords=frozenset(_words(data, "wechat_id_stopwords")),
        bare_domain=re.compile(rf"(?P<h1>(?:[a-z0-9-]+\.)+{tlds})(?![a-z0-9-]|\.[a-z]){_PATH}"),
        tld_dot=re.compile(rf"\.{tlds}(?![a-z0-9-]|\.[a-z])"),
        at_words=tuple(_words(data, "email_at_words")),
        email_at=re.compile(rf"[@#]|{_symbol_words(_words(data, 'email_at_words'))}"),
        mail_dot_label=re.compile(
            rf"(?P<dot>{gap}[{opening}]?{gap}(?:\.|{dots}){gap}[{closing}]?{gap})(?P<label>{_LABEL})"
        ),
        tlds=frozenset(tld_words),
        mail_providers=frozenset(_words(data, "mail_providers")),
        qq_mail_alias=re.compile(_alternation(qq_mail, False)),
        qq_mail_gate=tuple(sorted({w[:2] for w in qq_mail})),
        sound=sound_rules(data, lambda key: _words(data, key)),
        id_units=tuple(_words(data, "id_unit_suffixes") + _words(data, "amount_suffixes")),
    )


@lru_cache(maxsize=8192)
def _phone(digits: str) -> _Phone | None:
    """A valid Chinese phone number for a digit string (with or without 86/0086), or None."""
    if digits.startswith("0086"):
        national = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:
        national = digits[2:]
    else:
        national = digits
    # +86 10 6288 1234: after the country code the area code drops its trunk 0.
    short = national != digits and national[:1] != "0"
    if short and not _MOBILE_RE.fullmatch(national) and not national.startswith(("400", "800")):
        national = "0" + national
    if not _NATIONAL_RE.fullmatch(national):
        return None
    # The number built directly rather than by phonenumbers.parse (a third of the cost of
    # contacts): national digits, trunk 0 dropped, are the +86 number. Same verdicts as parse
    # for every string _NATIONAL_RE admits (checked on 360k random candidates).
    nsn = national.lstrip("0")
    if not _valid_cn(nsn):
        return None
    return _Phone(f"+86{nsn}", national, bool(_MOBILE_RE.fullmatch(national)))


# The number types phonenumbers tries when it validates a number (_number_type_helper).
_CN_TYPES = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip
_Desc = tuple[frozenset[int], re.Pattern[str]]


@lru_cache(maxsize=1)
def _cn_descs() -> tuple[_Desc, list[_Desc]]:
    """phonenumbers' own Chinese metadata, compiled: the general pattern and each type's."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if meta is None:
        raise ConfigError("phonenumbers has no metadata for CN")
    general, *types = [getattr(meta, n) for n in ("general_desc", *_CN_TYPES)]
    compiled = [
        (frozenset(d.possible_length), re.compile(d.national_number_pattern))
        for d in types
        if d is not None and d.national_number_pattern
    ]
    head = (frozenset(general.possible_length), re.compile(general.national_number_pattern))
    return head, compiled


# Lengths of national significant numbers _valid_cn answers with one pattern per length.
_NSN_LENGTHS = range(32)


@lru_cache(maxsize=1)
def _cn_by_length() -> dict[int, re.Pattern[str] | None]:
    """For each length the general description admits: one alternation of the type patterns
    admitting it (None: no type does). A whole match of the alternation is a whole match of
    some type, so `_valid_cn` needs one match per number instead of one per type."""
    (lengths, _), types = _cn_descs()
    out: dict[int, re.Pattern[str] | None] = {}
    for n in _NSN_LENGTHS:
        if lengths and n not in lengths:
            continue
        admitted = [p.pattern for ls, p in types if not ls or n in ls]
        out[n] = re.compile("|".join(f"(?:{p})" for p in admitted)) if admitted else None
    return out


def _valid_cn(nsn: str) -> bool:
    """phonenumbers.is_valid_number for +86 `nsn`, without its per-call overhead (a third of
    the cost of contacts): valid when the general pattern and some type's pattern match whole."""
    general, types = _cn_descs()
    if len(nsn) not in _NSN_LENGTHS:
        return _desc_matches(nsn, general) and any(_desc_matches(nsn, d) for d in types)
    by_length = _cn_by_length()
    if len(nsn) not in by_length:
        return False  # a length the general description does not admit
    pattern = by_length[len(nsn)]
    return (
        pattern is not None
        and general[1].fullmatch(nsn) is not None
        and pattern.fullmatch(nsn) is not None
    )


def _desc_matches(nsn: str, desc: _Desc) -> bool:
    """phonenumbers' _is_number_matching_desc: a possible length and the whole pattern."""
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


@dataclass(slots=True)
class _Run:
    """A digit run split into groups; boundary k sits between group k and k+1."""

    groups: list[tuple[int, int]]  # normalized spans of contiguous digits
    digits: list[str]
    breakable: list[bool]  # whitespace, a bracket or an ASCII/numeral switch: a word may end here
    dashed: list[bool]  # separator holds "-": an extension may follow
    dotted: list[bool]
    soft: list[bool]  # ASCII digits meet decoded numerals with nothing between
    bracket: list[bool]  # separator holds "(" or ")": a remark such as （24小时） opens/closes


def _split_run(rules: _Rules, text: str, start: int, end: int) -> _Run:
    """Groups of a run with numerals read as digits; a switch between ASCII digits and decoded
    numerals is a soft break, so prose glued to a number (第一13800138000) can be left out, and
    so is a bracket, so a remark's digits (139-1234-5678（24小时）) are not read into the number."""
    raw = text[start:end]
    if raw.isascii() and raw.isdigit():  # one group of plain digits, the common case
        return _Run([(start, end)], [raw], [], [], [], [], [])
    decoded = raw.translate(rules.digit_table)
    groups: list[tuple[int, int]] = []
    soft: list[bool] = []
    for m in _DIGITS_RE.finditer(decoded):
        gs, ge = start + m.start(), start + m.end()
        if m.group() == text[gs:ge]:  # plain ASCII digits, the common case
            soft.append(False)
            groups.append((gs, ge))
            continue
        for k, p in enumerate(_ASCII_OR_DECODED_RE.finditer(text, gs, ge)):
            soft.append(k > 0)
            groups.append(p.span())
    digits = [decoded[s - start : e - start] for s, e in groups]
    run = _Run(groups, digits, [], [], [], soft[1:], [])
    for k in range(len(groups) - 1):
        sep = text[groups[k][1] : groups[k + 1][0]]
        # Full-width brackets are "(" and ")" once normalized.
        run.bracket.append("(" in sep or ")" in sep)
        run.breakable.append(soft[k + 1] or run.bracket[k] or bool(_WS_SEP_RE.fullmatch(sep)))
        run.dashed.append("-" in sep)
        run.dotted.append("." in sep)
    return run


def _is_bank_card(run: _Run) -> bool:
    """6222 0212 3456 7890 123: 16–19 digits in fours is a bank card, whatever it contains."""
    sizes = [len(d) for d in run.digits]
    return len(sizes) >= 4 and 16 <= sum(sizes) <= 19 and all(s == 4 for s in sizes[:-1])


def _looks_like_version(run: _Run, i: int, j: int) -> bool:
    """13.800.138.000 is a version string: few dot-joined groups, one of them tiny."""
    if j - i + 1 > 4 or not any(run.dotted[i:j]):
        return False
    return any(len(d) <= 2 for d in run.digits[i : j + 1])


Part = tuple[int, int, _Phone, str]  # first group, last group, phone, extension


def _cover(run: _Run) -> list[Part]:
    """Read a run as phones and skipped words, covering every group; prefer the most phone
    digits, then the fewest phones. A run that cannot be covered (an ID card, 13800138000.00)
    yields nothing."""
    n = len(run.groups)
    digits, breakable = run.digits, run.breakable
    if n == 1:  # one group: a phone or nothing, no choice to weigh
        d = digits[0]
        ok = d[0] in "0148" and _MIN_PHONE_DIGITS <= len(d) <= _MAX_PHONE_DIGITS
        phone = _phone(d) if ok else None
        return [] if phone is None else [(0, 0, phone, "")]
    word_end = [0] * n
    for i in range(n - 1, -1, -1):
        word_end[i] = i if i == n - 1 or breakable[i] else word_end[i + 1]
    # Covering groups i..n-1 at best: rank[i] = (phone digits, -phones) or None when it cannot
    # be covered; step[i] = (part starting at i, or None for a skipped word; next index).
    rank: list[tuple[int, int] | None] = [None] * n + [(0, 0)]
    step: list[tuple[Part | None, int]] = [(None, n)] * (n + 1)
    for i in range(n - 1, -1, -1):
        if i == 0 or breakable[i - 1]:
            rank[i], step[i] = rank[word_end[i] + 1], (None, word_end[i] + 1)
        # Every phone form starts with 0 (trunk, 0086), 1 (mobile), 4/8 (400/800, 86).
        if digits[i][0] not in "0148":
            continue
        acc = ""
        for j in range(i, n):
            acc += digits[j]
            if len(acc) > _MAX_PHONE_DIGITS:
                break
            if len(acc) < _MIN_PHONE_DIGITS:
                continue
            phone = _phone(acc)
            if phone is None or _looks_like_version(run, i, j):
                continue
            ends = [(j, "")]
            if j + 1 < n and run.dashed[j] and not phone.mobile and len(digits[j + 1]) <= 6:
                ends.append((j + 1, digits[j + 1]))
            for last, ext in ends:
                after = rank[last + 1]
                if after is None:
                    continue
                cand = (after[0] + len(acc), after[1] - 1)
                best = rank[i]
                if best is None or cand > best:
                    rank[i], step[i] = cand, ((i, last, phone, ext), last + 1)
    if rank[0] is None:
        return []
    parts: list[Part] = []
    i = 0
    while i < n:
        part, i = step[i]
        if part is not None:
            parts.append(part)
    return parts


def _rejected_by_context(rules: _Rules, text: str, start: int, end: int) -> bool:
    """An amount (¥…, …元), or a number introduced by 订单号/身份证/卡号 and not by 电话/微信."""
    before = text[max(0, start - _CONTEXT_WINDOW) : start]
    return _context_rejects(before, text[end : end + _AFTER_WINDOW])


# Characters after a number read for an amount's unit (元, 万 …), spaces included.
_AFTER_WINDOW = 6


@lru_cache(maxsize=8192)
def _context_rejects(before: str, after: str) -> bool:
    """_rejected_by_context's verdict from the text just before and after the number: cached,
    as pages repeat their contact lines ("电话：" and the like before every number)."""
    rules = _rules()
    if before.rstrip().endswith(rules.amount_prefixes):
        return True
    if after.lstrip().startswith(rules.amount_suffixes):
        return True
    last = None
    for m in rules.context.finditer(before):
        last = m.lastgroup
    return last == "neg"


def _phones(
    rules: _Rules, text: str, runs: list[re.Match[str]], wechat_at: set[int]
) -> Iterator[tuple[_Found, _Phone]]:
    """Phones in the digit runs (and the WeChat contact when a WeChat label introduces one)."""
    for m in runs:
        rs, re_ = m.span()
        if re_ - rs < _MIN_PHONE_DIGITS:  # one character per digit: too few for any phone
            continue
        if _MASK_BEFORE_RE.search(text, max(0, rs - 2), rs) or _MASK_AFTER_RE.match(text, re_):
            continue
        run = _split_run(rules, text, rs, re_)
        if not _HAS_PHONE_RE.search("".join(run.digits)) or _is_bank_card(run):
            continue
        for i, last, phone, ext in _cover(run):
            ns, ne = run.groups[i][0], run.groups[last][1]
            if _rejected_by_context(rules, text, ns, ne):
                continue
            decoded = not text[ns:ne].isascii()
            if decoded and len(phone.national) < _MIN_DECODED_DIGITS:
                continue
            if not ext and last == len(run.groups) - 1 and not phone.mobile:
                tail = _EXT_RE.match(text, ne)
                if tail:
                    ext, ne = tail.group(1), tail.end()
            alias_at = ns
            # Keep the "+" of +86 and the "(" of (021) in the quoted span.
            lead = text[ns - 1] if ns > 0 else ""
            if lead == "+" or (lead == "(" and ")" in text[ns:ne]):
                ns -= 1
            note = f"ext {ext}" if ext else ""
            yield _Found("phone", phone.e164, ns, ne, note), phone
            if alias_at in wechat_at:
                yield _Found("wechat", phone.national, ns, ne), phone


def _after_alias(rules: _Rules, pattern: re.Pattern[str], text: str) -> Iterator[int]:
    """Positions right after each alias and its filler ("微信号码：" → where the id starts)."""
    for m in pattern.finditer(text):
        if _starts_word(text, m):
            yield rules.filler.match(text, m.end()).end()


_DATE_RE = re.compile(r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])")
# An id-like token that may follow a label read by sound: WeChat's id rule, whole word.
# Scanned without look-arounds (three times faster); _id_tokens checks the bounds.
_ID_TOKEN_RE = re.compile(r"[a-z][a-z0-9_-]{5,}+")


@dataclass(frozen=True, slots=True)
class _Labelled:
    """Where ids follow a WeChat or QQ label; `sounded`: found by sound only, not by alias."""

    wechat: list[int]
    qq: list[int]
    sounded: frozenset[int]


def _labelled(rules: _Rules, text: str, runs: list[re.Match[str]]) -> _Labelled:
    """Id positions after an alias of the data file, or after a label recognised by its sound
    (pipelines.contact_labels) right before an id-like token: a digit run or a WeChat-shaped id."""
    wechat = set(_after_alias(rules, rules.wechat_alias, text))
    qq = set(_after_alias(rules, rules.qq_alias, text))
    sounded = set()
    anchors = chain((m.start() for m in runs), _id_tokens(text))
    for a, kinds in labelled_ids(rules.sound, text, anchors):
        for kind in kinds:
            target = wechat if kind == "wechat" else qq
            if a not in target:
                target.add(a)
                sounded.add(a)
    return _Labelled(sorted(wechat), sorted(qq), frozenset(sounded))


def _id_tokens(text: str) -> Iterator[int]:
    """Starts of WeChat-shaped ids (6–20 characters, a letter first) set off as whole words."""
    for m in _ID_TOKEN_RE.finditer(text):
        s, e = m.span()
        bounded = e - s <= 20 and (s == 0 or text[s - 1] not in _ID_CHARS)
        if bounded and _WECHAT_ID_RE.match(text, s):  # not an email's local part nor a host
            yield s


_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _digit_id(
    rules: _Rules, text: str, p: int, sounded: bool = False
) -> tuple[str, int, int] | None:
    """The 5–11 digit id (QQ's rule: no leading 0) at `p`, right after a label, with its span;
    None for a masked number, a count (12000只) or, after a label read by sound, a date."""
    m = rules.run.match(text, p)
    if not m or _MASK_AFTER_RE.match(text, m.end()):
        return None
    run = _split_run(rules, text, *m.span())
    # A switch between digits and numerals ends the number (QQ 87654321一起 is 87654321),
    # and so does a bracket (QQ 87654321（24小时）).
    ends = (k for k, (s, b) in enumerate(zip(run.soft, run.bracket, strict=True)) if s or b)
    end = next(ends, len(run.groups) - 1)
    if not 5 <= len("".join(run.digits[: end + 1])) <= 11:
        end = next((k for k, b in enumerate(run.breakable) if b), end)
    value = "".join(run.digits[: end + 1])
    start, stop = run.groups[0][0], run.groups[end][1]
    if not 5 <= len(value) <= 11 or value[0] == "0":
        return None
    if text[stop : stop + 4].lstrip().startswith(rules.id_units):
        return None
    if sounded and _DATE_RE.fullmatch(value):
        return None
    return value, start, stop


def _glued_letters(text: str, p: int) -> int:
    """How many ASCII letters stand right before `p` (0 when the id is set off from its label):
    "wx20231027001" is one code, not the label wx and an id."""
    i = p
    while i > 0 and text[i - 1] in _ASCII_LETTERS:
        i -= 1
    return p - i


_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


def _qq_numbers(
    rules: _Rules, text: str, positions: Iterable[int], sounded: frozenset[int] = frozenset()
) -> Iterator[_Found]:
    """QQ numbers: 5–11 digits not starting with 0, right after a QQ (or QQ-mail) label."""
    for p in positions:
        if _glued_letters(text, p) == 1:  # Q3 2024, q1: a quarter or a model, not a label
            continue
        found = _digit_id(rules, text, p, p in sounded)
        if found:
            yield _Found("qq", *found)


def _wechat_ids(
    rules: _Rules, text: str, labelled: _Labelled, wechat_at: set[int]
) -> Iterator[_Found]:
    """WeChat ids after a label: letters first, or digits as QQ numbers are (2389471025); a
    phone there is left to the phone scan via `wechat_at`."""
    for p in labelled.wechat:
        if p < len(text) and text[p] in rules.digit_chars:
            wechat_at.add(p)
            if _glued_letters(text, p):  # wx20231027001; glued phones are still read
                continue
            found = _digit_id(rules, text, p, p in labelled.sounded)
            # A mobile-shaped number that is no valid phone is no WeChat id either.
            if found and not _MOBILE_SHAPE_RE.fullmatch(found[0]) and _phone(found[0]) is None:
                yield _Found("wechat", *found)
            continue
        m = _WECHAT_ID_RE.match(text, p)
        if m and m.group() not in rules.id_stopwords:
            yield _Found("wechat", m.group(), *m.span())
    for m in _WXID_RE.finditer(text) if "wxid_" in text else ():
        yield _Found("wechat", m.group(), *m.span())


def _at_sign(text: str, m: re.Match[str]) -> _AtSign:
    """Where the local part ends and the domain starts around an at sign found by `email_at`,
    and what the domain must prove (see _Proof)."""
    s, e = m.start(), m.end()
    if m.group() == "#":  # glued on both sides: "xinc888#163.com", never "# 163"
        return _AtSign(s, e, "provider")
    le, ds = _skip(text, s, -1), _skip(text, e, 1)
    opened = le > 0 and text[le - 1] in _OPEN
    closed = ds < len(text) and text[ds] in _CLOSE
    if opened:
        le = _skip(text, le - 1, -1)
    if closed:
        ds = _skip(text, ds + 1, 1)
    if m.group() == "@":
        # "someone @example.me" is shaped like a mention; "x @ 163 . com" and "x@163 . com" are not.
        mention = le < s and ds == e
        return _AtSign(le, ds, "cue" if mention else "tld")
    if m.group().isascii() and not (opened and closed):
        return _AtSign(le, ds, "cue")  # a bare " at ": prose uses it all the time
    return _AtSign(le, ds, "tld")


def _skip(text: str, i: int, step: int) -> int:
    """Index past a gap (at most _MAX_GAP spaces) at `i`, walking left (step -1: from
    text[i-1]) or right."""
    if step < 0:
        stop = max(0, i - _MAX_GAP)
        while i > stop and text[i - 1] in _GAP:
            i -= 1
    else:
        stop = min(len(text), i + _MAX_GAP)
        while i < stop and text[i] in _GAP:
            i += 1
    return i


def _local_part(text: str, end: int) -> int | None:
    """Start of the email local part ending at `end` (leading dots and dashes dropped), or None
    when there is none: empty, too long, ending with ".", or a URL's path ("/a#qq.com")."""
    s = end
    while s > 0 and end - s <= _MAX_LOCAL and text[s - 1] in _LOCAL_CHARS:
        s -= 1
    if end - s > _MAX_LOCAL or (s > 0 and text[s - 1] in _URL_CHARS):
        return None
    while s < end and not text[s].isalnum():
        s += 1
    return s if s < end and text[end - 1] != "." else None


def _mail_domain(rules: _Rules, text: str, start: int) -> _MailDomain | None:
    """The mail domain at `start`, its dots plain, spaced or spelled out ("163 dot com", 163点com),
    cut after its last known top-level domain; None without one ("meet at 10", "@某人")."""
    first = _LABEL_RE.match(text, start)
    if first is None:
        return None
    labels, ends, spelled = [first.group()], [first.end()], [False]
    while m := rules.mail_dot_label.match(text, ends[-1]):
        labels.append(m.group("label"))
        ends.append(m.end())
        spelled.append(m.group("dot").strip(_GAP + _OPEN + _CLOSE) != ".")
    last = max((k for k in range(1, len(labels)) if labels[k] in rules.tlds), default=0)
    if not last:
        return None
    kept = tuple(labels[: last + 1])
    name = next((w for w in reversed(kept) if w not in rules.tlds), "")
    return _MailDomain(kept, ends[last], any(spelled[: last + 1]), name)


def _in_prose(text: str, local_start: int, local: str) -> bool:
    """A letters-only local part after an ASCII word is English prose: "sign in at gmail.com"."""
    i = _skip(text, local_start, -1)
    return local.isalpha() and 0 < i < local_start and text[i - 1] in _WORD_CHARS


def _spelled_emails(rules: _Rules, text: str) -> Iterator[_Found]:
    """Emails whose at sign or dots are spelled out, spaced or swapped: xinc888 at 163 dot com,
    xinc888(at)163.com, xinc888艾特163点com, xinc888 @ 163 . com, xinc888#163.com.

    The weaker the at sign, the more the domain must prove (_Proof): "(at)" or 艾特 take any
    domain ending in a known top-level domain; a bare " at " needs a spelled-out dot or a mail
    provider (163, qq, gmail …), so "look at this" and "meet at 10 at the office" stay prose;
    "#" needs a mail provider, so "#话题#" and "价格#100" stay hashtags and prices. A domain
    is never guessed: "xinc888 at qq" names no domain and gives nothing.
    """
    if "@" not in text and "#" not in text and not any(w in text for w in rules.at_words):
        return
    for m in rules.email_at.finditer(text):
        at = _at_sign(text, m)
        start = _local_part(text, at.local_end)
        if start is None:
            continue
        domain = _mail_domain(rules, text, at.domain_start)
        if domain is None:
            continue
        local = text[start : at.local_end]
        provider = domain.name in rules.mail_providers
        if at.proof == "provider" and not provider:
            continue
        if at.proof == "cue" and not (
            domain.spelled or (provider and not _in_prose(text, start, local))
        ):
            continue
        yield _Found("email", f"{local}@{'.'.join(domain.labels)}", start, domain.end)


def _qq_mailboxes(rules: _Rules, text: str) -> Iterator[_Found]:
    """ "QQ邮箱 12345678": a QQ number given as a mailbox is 12345678@qq.com, QQ Mail's own
    convention (every QQ number has that mailbox). Only numbers: a name after QQ邮箱 may be an
    English alias on qq.com or foxmail.com, so it is not guessed; nor is a bare 邮箱 + number."""
    if not any(g in text for g in rules.qq_mail_gate):
        return
    for f in _qq_numbers(rules, text, _after_alias(rules, rules.qq_mail_alias, text)):
        yield _Found("email", f"{f.value}@qq.com", f.start, f.end, note="qq邮箱")


def _emails_and_urls(rules: _Rules, text: str, taken: _Taken) -> Iterator[_Found]:
    """Emails, plain, then spelled out, then QQ mailboxes given by number (each plus the QQ
    number of a numeric qq.com mailbox), then sites not inside them."""
    plain = (_Found("email", m.group(), *m.span()) for m in _EMAIL_RE.finditer(text))
    emails = chain(
        plain if "@" in text else (), _spelled_emails(rules, text), _qq_mailboxes(rules, text)
    )
    for f in emails:
        if taken.overlaps(f.start, f.end):
            continue
        taken.add(f.start, f.end)
        yield f
        qq = _QQ_MAIL_RE.fullmatch(f.value)
        if qq:
            yield _Found("qq", qq.group(1), f.start, f.end, note="qq邮箱")
    urls = _URL_RE.finditer(text) if "://" in text or "www." in text else ()
    for matches in (urls, _bare_domains(rules, text)):
        for m in matches:
            if not _starts_word(text, m) or (m.start() > 0 and text[m.start() - 1] in "@./-"):
                continue
            s, e = m.start(), len(m.group().rstrip(".,;:!?'")) + m.start()
            if taken.overlaps(s, e):
                continue
            taken.add(s, e)
            yield _Found("url", (m.group("h1") or m.group("h2")).strip("."), s, e)


_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def _bare_domains(rules: _Rules, text: str) -> Iterator[re.Match[str]]:
    """Domains without http:// or www.: found by their ".tld" (rare on Chinese pages, so this
    is fast), then read from the start of the host."""
    done = 0  # end of the last domain read: its path may hold more ".com"s
    for t in rules.tld_dot.finditer(text):
        if t.start() < done:
            continue
        s = t.start()
        while s > 0 and text[s - 1] in _HOST_CHARS:
            s -= 1
        m = rules.bare_domain.match(text, s)
        if m:
            done = m.end()
            yield m


def _same_number(rules: _Rules, text: str, phones: list[tuple[_Found, _Phone]]) -> Iterator[_Found]:
    """ "微信同号" near a phone: the WeChat id is that phone's number (mobiles preferred)."""
    starts = [f.start for f, _ in phones]  # phones come in text order
    for m in rules.same_number.finditer(text):
        near = []
        lo = bisect_left(starts, m.start() - _SAME_NUMBER_WINDOW - _MAX_RUN_CHARS)
        hi = bisect_right(starts, m.end() + _SAME_NUMBER_WINDOW)
        for found, phone in phones[lo:hi]:
            gap = m.start() - found.end if found.end <= m.start() else found.start - m.end()
            if 0 <= gap <= _SAME_NUMBER_WINDOW:
                near.append((not phone.mobile, gap, found.start, found, phone))
        if near:
            _, _, _, found, phone = min(near)
            yield _Found("wechat", phone.national, found.start, found.end, "微信同号")


class _Taken:
    """Normalized positions already claimed by an email, URL or WeChat id (O(1) per check)."""

    def __init__(self, size: int) -> None:
        self.mask = bytearray(size)

    def add(self, start: int, end: int) -> None:
        self.mask[start:end] = b"\x01" * (end - start)

    def overlaps(self, start: int, end: int) -> bool:
        return self.mask.find(1, start, end) != -1


def _to_contact(norm: NormalizedText, f: _Found) -> Contact:
    """Map a normalized span to the original, keeping trailing keycap/variation marks."""
    start, end = norm.to_original(f.start, f.end)
    original = norm.original
    while end < len(original) and original[end] in INVISIBLE:
        end += 1
    return Contact(f.kind, f.value, original[start:end], start, end, f.note)


def extract_contacts(text: str, *, norm: NormalizedText | None = None) -> list[Contact]:
    """Phones (E.164), WeChat/QQ ids, emails and site hosts in `text`, decoded from the usual
    obfuscations; spans index the original text, sorted by start, each contact once.

    `norm` may pass `normalize(text)` when the caller already has it (saves the main cost).
    """
    if not text:
        return []
    rules = _rules()
    if norm is None or norm.original != text:
        norm = normalize(text)
    ntext = norm.text
    wechat_at: set[int] = set()
    taken = _Taken(len(ntext))
    found: list[_Found] = list(_emails_and_urls(rules, ntext, taken))
    emails = [(f.start, f.end) for f in found if f.kind == "email"]
    runs = list(rules.run.finditer(ntext))
    labelled = _labelled(rules, ntext, runs)
    for f in _wechat_ids(rules, ntext, labelled, wechat_at):
        # "微信：xinc888 at qq.com": the id after the alias is an email's local part.
        if any(s < f.end and f.start < e for s, e in emails):
            continue
        if not f.value.isdigit():  # a digit id may be a QQ number too (微信QQ同号)
            taken.add(f.start, f.end)
        found.append(f)
    phones = [
        (f, p)
        for f, p in _phones(rules, ntext, runs, wechat_at)
        if not taken.overlaps(f.start, f.end)
    ]
    found += [f for f, _ in phones]
    qq = _qq_numbers(rules, ntext, labelled.qq, labelled.sounded)
    found += [f for f in qq if not taken.overlaps(f.start, f.end)]
    found += _same_number(rules, ntext, [(f, p) for f, p in phones if f.kind == "phone"])
    seen: set[tuple[str, str, int, int]] = set()
    contacts = []
    for f in sorted(found, key=lambda f: not f.note):  # a find that says how it was inferred wins
        key = (f.kind, f.value, f.start, f.end)
        if key not in seen:
            seen.add(key)
            contacts.append(_to_contact(norm, f))
    contacts.sort(key=lambda c: (c.start, c.end, c.kind, c.value))
    return contacts
