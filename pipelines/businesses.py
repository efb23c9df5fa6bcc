"""Company, shop and brand names mentioned in text (USCC codes: `pipelines.uscc_extract`).

Promoters advertise under a registered firm, an individual business or just a brand; each name
found here is later matched against registration records, so its span must quote the page and
its left boundary must not swallow the words before it ("我们是深圳市…有限公司的"). Names
written in parts ("深圳市 鑫诚 信息咨询 有限公司") are reported compact, their span quoting
the spaced original.
Matching runs on the normalized view (Simplified, half-width); spans map back to the original.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from pipelines import jieba_cache
from pipelines.business_rules import (
    BRIDGE_SEPARATORS,
    DATA_FILE,
    HAN,
    SEPARATOR_RE,
    Rules,
    load_data,
)
from pipelines.business_rules import compiled as _rules
from pipelines.business_rules import read_data as _data
from pipelines.lexicon import Lexicon
from pipelines.model import Business, BusinessForm, UsccMention
from pipelines.normalize import NormalizedText, compact, normalize_shared
from pipelines.uscc_extract import code_businesses, extract_uscc

# Importable from here as before: the data file and its loader, and USCC extraction.
__all__ = ["DATA_FILE", "extract_businesses", "extract_uscc", "load_data"]

if TYPE_CHECKING:
    import jieba

log = logging.getLogger(__name__)

# Longest names considered, in characters before the suffix end: registered names are capped
# at about 40 characters in practice (region + brand + industry + legal form); a branch adds
# its locality; shop and brand names are short, and a short window keeps jieba calls cheap.
MAX_LEN: dict[str, int] = {"company": 40, "branch": 56, "shop": 20, "brand": 10}
# A name needs this many characters that are not region, industry words or the suffix:
# "信息咨询有限公司" or "服务中心" alone names nobody.
MIN_DISTINCTIVE = 2
# A brand core is 2–6 characters ("鑫诚", "金诚信", "安信达财富").
BRAND_CORE = (2, 6)
# Characters of right context given to jieba, so "社会" / "部分" are seen as one word.
RIGHT_CONTEXT = 4
# jieba dictionary frequency from which a one-word brand core is common vocabulary ("心理咨询",
# "阳光法务"), not a brand; brands are unknown to jieba or rare in it (金盾: 6, 恒信: 2).
COMMON_WORD_FREQ = 50

# Fresh jieba calls per text (~0.1 ms each; repeated windows are cached). Real pages need a
# few hundred even when dense with ads; a page of keyword soup ("部店厂行社…") would need one
# per character and take seconds per 100 KB: the rest of such a page is skipped.
MAX_JIEBA_CALLS = 3000

# A common word in 【】 or quotes is a brand only right before a service claim: the claim's
# first character may come this many characters after the bracket ("【阳光法务】专业停息挂账").
CLAIM_REACH = 4
# Lexicon terms from this weight on are a service claim; weaker ones (退费, 退保) also appear
# in lawful refund and insurance notices.
CLAIM_MIN_WEIGHT = 0.6
# Characters of text after a bracket looked at for the claim.
CLAIM_WINDOW = 16

_NAME_WORD = re.compile(rf"[{HAN}0-9a-z]+")
_BRACKETED = re.compile(r"\(([^()]{1,8})\)")


@lru_cache(maxsize=1)
def _jieba() -> tuple[jieba.Tokenizer, dict[str, str]]:
    """jieba's default tokenizer with suffixes and industry words added (once per process),
    and the POS tags the rules look at (see jieba_cache.pos_subset)."""
    # Imported here: jieba takes ~0.15 s to import, which commands that never extract names
    # (greywatch --help) should not pay. jieba.posseg is never imported: building its table
    # reads all of dict.txt (~0.5 s), and the rules need a fraction of it, cached on disk.
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.dt, _prepare(jieba.dt, jieba.__version__, _rules(), jieba_cache.cache_dir())


def _prepare(tok: jieba.Tokenizer, version: str, rules: Rules, cache: Path) -> dict[str, str]:
    """Add our words to `tok` and return the POS subset, both restored from the cache in
    `cache` when it holds them for this jieba, dictionary and data (written otherwise)."""
    words, kept = _added_words(rules), _pos_kept(rules)
    return jieba_cache.prepare(tok, version, words, kept, COMMON_WORD_FREQ, cache)


def _added_words(rules: Rules) -> list[str]:
    """Words added to jieba, in the data file's order: each one's frequency depends on the
    words added before it, so a set's order (which varies per process) would not do."""
    return [*(s for s in rules.forms if len(s) > 1), *dict.fromkeys(_data()["industry_words"])]


def _pos_kept(rules: Rules) -> tuple[frozenset[str], frozenset[str]]:
    """The POS tags the rules ask about: for any word, and for common words only (brand cores
    such as 阳光 nr: rare words of those tags count as untagged, see _common_core_ok)."""
    return rules.reject_pos | rules.shop_reject_pos, rules.common_brand_pos


@lru_cache(maxsize=1)
def _non_shop_bigrams() -> frozenset[str]:
    """Two-character dictionary words that end in a one-character shop suffix but are verbs or
    place words (进行, 内部): such a candidate is dropped before any jieba call."""
    rules, tags = _rules(), _jieba()[1]
    ends = {s for s in rules.forms if len(s) == 1}
    verbs = {
        w for w, tag in tags.items() if len(w) == 2 and w[1] in ends and tag in rules.reject_pos
    }
    return frozenset(verbs | {w for w in rules.non_shop_words if len(w) == 2})


_normalized = normalize_shared


class _Tok(NamedTuple):
    """A jieba word with its span: a named tuple, as a window's words are built by the dozen
    and a tuple is built several times faster than a frozen dataclass instance."""

    text: str
    start: int  # index into the normalized text
    end: int


# Fresh word cuts made in this process: the page budget (MAX_JIEBA_CALLS) counts them. A plain
# counter, as reading _cut_cached.cache_info() before every suffix costs a lock and a tuple.
_CUTS_MADE = [0]


@lru_cache(maxsize=8192)
def _cut_cached(s: str) -> tuple[str, ...]:
    """jieba words; a new word guessed by jieba's HMM ("与鑫诚", "我在鑫诚") loses its leading
    stop words, which belong to the sentence, not to the name."""
    _CUTS_MADE[0] += 1
    freq, stops = _jieba()[0].FREQ, _rules().stops
    out: list[str] = []
    for w in _segment(s):
        while len(w) > 2 and w not in freq:
            n = next((n for n in (2, 1) if w[:n] in stops), 0)
            if not n:
                break
            out.append(w[:n])
            w = w[n:]
        out.append(w)
    return tuple(out)


# The jieba release whose `Tokenizer.cut(s, HMM=True)` _segment reproduces (checked word for word
# on windows of the bench corpus and random character soup); other releases use jieba's own.
_SEGMENT_JIEBA = "0.42.1"


def _segment(s: str) -> list[str]:
    """`jieba.dt.cut(s, HMM=True)` as a list, with its HMM step (half of the cost on text jieba
    does not know) done by `_hmm_words`: same dictionary pass, same words, several times less
    CPU for new words."""
    import jieba

    tok = _jieba()[0]
    if jieba.__version__ != _SEGMENT_JIEBA:
        return list(tok.cut(s, HMM=True))
    han, skip = jieba.re_han_default, jieba.re_skip_default
    out: list[str] = []
    for blk in han.split(s):
        if not blk:
            continue
        if not han.match(blk):
            for x in skip.split(blk):
                if skip.match(x):
                    out.append(x)
                else:
                    out.extend(x)
            continue
        tok.check_initialized()
        ends = _best_ends(blk, _word_scores(tok))
        x, n, buf = 0, len(blk), ""
        while x < n:
            y = ends[x] + 1
            if y - x == 1:
                buf += blk[x]
            else:
                if buf:
                    _flush(tok.FREQ, buf, out)
                    buf = ""
                out.append(blk[x:y])
            x = y
        if buf:
            _flush(tok.FREQ, buf, out)
    return out


class _WordScores(dict[str, float | None]):
    """jieba's score of each dictionary word, log(freq) - log(total), learned on first sight:
    None for a prefix of words that is no word itself (frequency 0). Strings jieba does not
    know are not kept (most strings met are such): they are looked up in its dictionary."""

    def __init__(self, freq: dict[str, int], total: int) -> None:
        super().__init__()
        self.freq, self.logtotal = freq, math.log(total)
        self.key = (id(freq), total, len(freq))  # changes when words are added


_SCORES: list[_WordScores] = []
_UNSEEN = 1.0  # no score is positive: marks a string not in _WordScores yet


def _word_scores(tok: jieba.Tokenizer) -> _WordScores:
    """The memo of word scores for `tok`, renewed when its dictionary or total changes."""
    key = (id(tok.FREQ), tok.total, len(tok.FREQ))
    if not _SCORES or _SCORES[0].key != key:
        _SCORES[:] = [_WordScores(tok.FREQ, tok.total)]
    return _SCORES[0]


def _best_ends(blk: str, scores: _WordScores) -> list[int]:
    """jieba's get_DAG and calc in one right-to-left pass: for each position of `blk`, the
    last index of the word the most probable route takes from there. The same sums in the same
    order and the same tie-break (the longer word wins), so the same route; each word's
    log(freq) - log(total) is computed once per process (see _WordScores), not per sight."""
    n = len(blk)
    score = [0.0] * (n + 1)
    ends = [0] * n
    known, freq, logtotal, log = scores.get, scores.freq, scores.logtotal, math.log
    for k in range(n - 1, -1, -1):
        best, best_end = 0.0, -1
        i, w = k, blk[k]
        while True:  # while blk[k:i+1] is a dictionary word or a prefix of one
            p = known(w, _UNSEEN)
            if p == _UNSEEN:
                f = freq.get(w)
                if f is None:
                    break
                p = scores[w] = log(f) - logtotal if f else None
            if p is not None:
                value = p + score[i + 1]
                if best_end < 0 or value >= best:
                    best, best_end = value, i
            i += 1
            if i == n:
                break
            w = blk[k : i + 1]
        if best_end < 0:  # no word starts here: the character alone, as jieba scores it
            best, best_end = log(freq.get(blk[k]) or 1) - logtotal + score[k + 1], k
        score[k] = best
        ends[k] = best_end
    return ends


def _flush(freq: dict[str, int], buf: str, out: list[str]) -> None:
    """Single characters the dictionary pass left in a row: a known word's characters stay
    apart, unknown ones go to the HMM (as jieba does)."""
    if len(buf) == 1:
        out.append(buf)
    elif freq.get(buf):
        out.extend(buf)
    else:
        out.extend(_hmm_words(buf))


@lru_cache(maxsize=8192)
def _hmm_words(buf: str) -> tuple[str, ...]:
    """jieba.finalseg.cut(buf): Han stretches split by the HMM's best B/M/E/S tags, the rest
    into letter/number pieces; cached (pages repeat their unknown words)."""
    from jieba import finalseg

    out: list[str] = []
    for blk in finalseg.re_han.split(buf):
        if not finalseg.re_han.match(blk):
            out.extend(x for x in finalseg.re_skip.split(blk) if x)
            continue
        begin = nxt = 0
        for i, tag in enumerate(_hmm_tags(blk)):
            if tag == "B":
                begin = i
            elif tag in "ES":
                word = blk[begin : i + 1] if tag == "E" else blk[i]
                if word in finalseg.Force_Split_Words:
                    out.extend(word)
                else:
                    out.append(word)
                nxt = i + 1
        rest = blk[nxt:]
        if rest and rest in finalseg.Force_Split_Words:
            out.extend(rest)
        elif rest:
            out.append(rest)
    return tuple(out)


# Character → its B, M, E, S emission log-probabilities in jieba's HMM, filled as met (the HMM
# only sees the ~21k characters of jieba's Han range, so this stays small).
_EMISSIONS: dict[str, tuple[float, float, float, float]] = {}

# Back-pointers of one Viterbi step as 4 bits: B came from S (1, else E), M from M (2, else B),
# E from M (4, else B), S from S (8, else E). _PREV[state][bits] is the state before (indices
# into "BMES").
_FROM = ((1, 3, 2), (2, 1, 0), (4, 1, 0), (8, 3, 2))  # per state: bit, state if set, else
_PREV = tuple(tuple(a if bits & bit else b for bits in range(16)) for bit, a, b in _FROM)


@lru_cache(maxsize=1)
def _hmm_model() -> tuple[float, ...]:
    """jieba's HMM constants _hmm_tags reads: start B M E S, then the transitions E→B, S→B,
    M→M, B→M, S→S, E→S, B→E, M→E (absent ones at finalseg.MIN_FLOAT)."""
    from jieba import finalseg

    low, start, trans = finalseg.MIN_FLOAT, finalseg.start_P, finalseg.trans_P
    pairs = ("EB", "SB", "MM", "BM", "SS", "ES", "BE", "ME")
    return (*(start[k] for k in "BMES"), *(trans[a].get(b, low) for a, b in pairs))


def _emission(c: str) -> tuple[float, float, float, float]:
    """The B, M, E, S emission log-probabilities of `c` (memoized in _EMISSIONS)."""
    from jieba import finalseg

    low, emit = finalseg.MIN_FLOAT, finalseg.emit_P
    b, m, e, s = (emit[k].get(c, low) for k in "BMES")
    found = _EMISSIONS[c] = (b, m, e, s)
    return found


def _hmm_tags(obs: str) -> str:
    """The Viterbi path of jieba's character HMM over `obs` (finalseg.viterbi): the same sums
    in the same order and the same tie-breaks (the later state letter wins), so the same tags;
    four floats and four bits per step instead of dicts and list copies."""
    s_b, s_m, s_e, s_s, t_eb, t_sb, t_mm, t_bm, t_ss, t_es, t_be, t_me = _hmm_model()
    emissions = _EMISSIONS
    eb, em, ee, es = emissions.get(obs[0]) or _emission(obs[0])
    b, m, e, s = s_b + eb, s_m + em, s_e + ee, s_s + es
    back: list[int] = []
    for c in obs[1:]:
        eb, em, ee, es = emissions.get(c) or _emission(c)
        x, y = s + t_sb + eb, e + t_eb + eb
        if x >= y:
            nb, bits = x, 1
        else:
            nb, bits = y, 0
        x, y = m + t_mm + em, b + t_bm + em
        if x >= y:
            nm, bits = x, bits | 2
        else:
            nm = y
        x, y = m + t_me + ee, b + t_be + ee
        if x >= y:
            ne, bits = x, bits | 4
        else:
            ne = y
        x, y = s + t_ss + es, e + t_es + es
        if x >= y:
            s, bits = x, bits | 8
        else:
            s = y
        b, m, e = nb, nm, ne
        back.append(bits)
    state = 3 if s >= e else 2
    tags = [state]
    for bits in reversed(back):
        state = _PREV[state][bits]
        tags.append(state)
    return "".join(["BMES"[i] for i in reversed(tags)])


def _cut(text: str, start: int, end: int) -> list[_Tok]:
    """jieba tokens of text[start:end] with absolute positions (cached: pages repeat)."""
    toks: list[_Tok] = []
    pos = start
    for w in _cut_cached(text[start:end]):
        toks.append(_Tok(w, pos, pos + len(w)))
        pos += len(w)
    return toks


@dataclass(frozen=True, slots=True)
class _Cand:
    start: int
    end: int
    form: BusinessForm
    region: str
    gaps: tuple[int, ...] = ()  # bridged separators inside the span, left out of the name


def extract_businesses(text: str, uscc: list[UsccMention] | None = None) -> list[Business]:
    """Company, branch, shop and brand names in `text`, sorted by start, longest kept on overlap;
    a page naming none gives its valid USCCs as businesses named by the code (`uscc`: the
    page's `extract_uscc(text)` when the caller has it already)."""
    if not text:
        return []
    rules = _rules()
    norm = _normalized(text)
    t = norm.text
    cands: list[_Cand] = []
    run_of = _run_finder(t, rules)
    hits = itertools.chain(
        ((m, _name_at) for m in rules.suffix_re.finditer(t)),
        ((m, _brand_at) for m in rules.industry_re.finditer(t)),
    )
    budget = _CUTS_MADE[0] + MAX_JIEBA_CALLS
    for m, at in hits:
        if _CUTS_MADE[0] >= budget:
            break
        rs, re_ = run_of(m.start(), m.end())
        if re_ - rs >= 3 and (cand := at(t, rs, re_, m.start(), m.end(), rules)):
            cands.append(cand)
    else:
        if rules.bridge_probe_re.search(t):  # most pages have no such suffix: skip the chains
            for cs, ce in _chains(t, [m.span() for m in rules.run_re.finditer(t)]):
                if _CUTS_MADE[0] >= budget:
                    break
                cands.extend(_bridged_names(t, cs, ce, rules))
    if _CUTS_MADE[0] >= budget:
        log.warning("business names: over %d word cuts, the rest skipped", MAX_JIEBA_CALLS)
    cands.extend(_bracket_brands(t, rules))
    cands.extend(_common_word_brands(t, rules))
    named = [_to_business(norm, c) for c in _longest_non_overlapping(cands)]
    # No name, but a valid USCC: the code identifies the firm (pipelines.uscc_extract).
    if named:
        return named
    return code_businesses(extract_uscc(text) if uscc is None else uscc)


# How far around a suffix or industry word _run_finder reads the run of name characters: more
# than _name_at and _brand_at look at (a run cut there gives them the same window and verdicts).
_RUN_BACK = max(MAX_LEN.values()) + 8
_RUN_AHEAD = RIGHT_CONTEXT + MAX_LEN["brand"] + 2
_NAME_CHARS = re.compile(f"[{HAN}0-9a-z]*")


def _run_finder(t: str, rules: Rules) -> Callable[[int, int], tuple[int, int]]:
    """For a suffix or industry word at [s, e) of `t`: the run of name characters holding it.

    Without "(" a run is a plain stretch of name characters, read around the word only (and
    cut at _RUN_BACK / _RUN_AHEAD); with one, bracketed places may join runs: all runs are
    found with run_re first."""
    if "(" in t or not _words_are_name_chars():
        runs = [m.span() for m in rules.run_re.finditer(t)]
        starts = [s for s, _ in runs]
        # suffixes and industry words are name characters: each lies inside one run
        return lambda s, e: runs[bisect.bisect_right(starts, s) - 1]
    rev = t[::-1]
    n = len(t)
    match = _NAME_CHARS.match

    def run_of(s: int, e: int) -> tuple[int, int]:
        back = match(rev, n - s, n - s + _RUN_BACK).end() - (n - s)
        return s - back, match(t, e, e + _RUN_AHEAD).end()

    return run_of


@lru_cache(maxsize=1)
def _words_are_name_chars() -> bool:
    """Are all suffixes and industry words made of name characters (as run_re reads them)?"""
    words = [*_rules().forms, *_data()["industry_words"]]
    return all(_NAME_CHARS.fullmatch(w) for w in words)


def _name_at(t: str, rs: int, re_: int, ss: int, se: int, rules: Rules) -> _Cand | None:
    """The firm name ending with the suffix at [ss, se) of a name-character run, if any."""
    form = rules.forms[t[ss:se]]
    win = max(rs, se - MAX_LEN[form])
    if ss - win < MIN_DISTINCTIVE or t[ss - 1 : se] in _non_shop_bigrams():
        return None
    window = t[win : min(re_, se + RIGHT_CONTEXT)]
    # The word cut, as before: its cache's misses are the page's budget (MAX_JIEBA_CALLS).
    _cut_cached(window)
    found = _name_in_window(window, ss - win, se - win, win == rs)
    if found is None:
        return None
    start, form, region = found
    trailing = rules.trailing_re.match(t, se)
    return _Cand(win + start, trailing.end() if trailing else se, form, region)


@lru_cache(maxsize=8192)
def _name_in_window(
    t: str, ss: int, se: int, at_run_start: bool
) -> tuple[int, BusinessForm, str] | None:
    """`_name_at` inside its window `t`, the suffix at t[ss:se] (`at_run_start`: the window
    starts where the run does): the name's start, its form and region, or None. Cached, as
    pages and sites repeat their lines; the trailing bracket after the window is not read."""
    rules = _rules()
    form = rules.forms[t[ss:se]]
    win, rs = 0, 0 if at_run_start else -1
    toks = _split_at(_cut(t, win, len(t)), ss, form != "shop")
    head = ss  # where the suffix word starts (a shop word like 五金店 starts before its 店)
    if form == "shop":
        last = next((k for k in toks if k.end == se), None)
        if last is None or not _is_shop_word(last, ss, rules):
            return None
        head = min(head, last.start)
    shop_part = len(_strip_shop_word(t[head:se], rules)) if head < ss else 0
    before = [k for k in toks if k.end <= head]
    for start, crossed in _left_starts(before, win, rs, form, rules):
        name_toks = [k for k in before if k.start >= start]
        if not _plausible(name_toks, crossed, form, rules):
            continue
        distinct = sum(len(k.text) for k in name_toks if _is_distinctive(k.text, rules))
        if distinct + shop_part >= MIN_DISTINCTIVE:
            break
    else:
        return None
    if form == "shop" and t[head:se].endswith(rules.bank_words):
        form = "company"  # a bank ("上海浦东发展银行") is a company whatever its suffix
    region = _region_prefix(name_toks, rules) or _bracket_region(t[start:ss], rules)
    if not region and form == "branch":  # the branch's own place: "…股份有限公司北京朝阳支行"
        parent = [i for i, k in enumerate(name_toks) if k.text.endswith(rules.branch_parents)]
        region = _region_prefix(name_toks[parent[-1] + 1 :] if parent else name_toks[-1:], rules)
    return start, form, region


def _split_at(toks: list[_Tok], pos: int, split: bool) -> list[_Tok]:
    """Tokens with a boundary at `pos`: jieba knows some whole firm names ("华为技术有限公司")."""
    if not split:
        return toks
    out: list[_Tok] = []
    for k in toks:
        if k.start < pos < k.end:
            cut = pos - k.start
            out += [_Tok(k.text[:cut], k.start, pos), _Tok(k.text[cut:], pos, k.end)]
        else:
            out.append(k)
    return out


def _is_shop_word(last: _Tok, ss: int, rules: Rules) -> bool:
    """Does the jieba word ending at a shop suffix name a shop (书店, 印社), not 进行 / 内部?"""
    if last.text in rules.non_shop_words or last.text[: ss - last.start] in rules.stops:
        return False  # 同行, 就行, 本店, 该店
    if last.start >= ss or last.text.endswith(rules.shop_words):
        return True
    tag = _jieba()[1].get(last.text)
    return tag is None or tag not in rules.reject_pos


def _strip_shop_word(word: str, rules: Rules) -> str:
    """The distinctive part of a word ending in a shop word: "新华书店" → "新华", "银行" → ""."""
    if word in rules.generic:
        return ""  # "人民银行", "网上银行"
    for sw in rules.shop_words:  # longest first
        if word.endswith(sw):
            word = word[: -len(sw)]
            break
    else:
        word = word[:-1]
    return "" if word in rules.generic or word in rules.descriptors else word


def _plausible(toks: list[_Tok], crossed: int, form: str, rules: Rules) -> bool:
    """Can these words be a name? Words before a crossed soft stop must be rare ("信永中和",
    not "自己和银行"); a shop name holds no pronoun, adverb or conjunction ("可以自行与银行")."""
    freq, tags = _jieba()[0].FREQ, _jieba()[1]
    for k in toks:
        if len(k.text) < 2 or k.text in rules.stops or _is_region(k.text, rules, False):
            continue
        if k.start < crossed and freq.get(k.text, 0) >= COMMON_WORD_FREQ:
            return False
        if form == "shop" and tags.get(k.text) in rules.shop_reject_pos:
            return False
    return True


def _left_starts(
    toks: list[_Tok], win: int, rs: int, form: str, rules: Rules
) -> list[tuple[int, int]]:
    """Where the name may start, best first: after the last stop word or earlier firm name
    (or at the run start). After a soft stop (和, 在, 是, 马上) names may contain it ("信永中和…",
    "马上消费金融…"), so the start before it is the next guess when the name after it has
    nothing distinctive left. Each start comes with where the crossed soft stops end."""
    bounds: list[tuple[int, bool]] = [(win, False)] if win == rs else []  # (start, soft)
    freq = _jieba()[0].FREQ
    for i, k in enumerate(toks):
        if k.text in rules.stops or (form != "branch" and k.text in rules.company_suffixes):
            # jieba may split a rare dictionary word at a stop character (同城 → 同 + 城):
            # the word is the name's start, not a boundary inside it.
            nxt = toks[i + 1].text if i + 1 < len(toks) else ""
            if len(k.text) == 1 and nxt and freq.get(k.text + nxt):
                continue
            bounds.append((k.end, k.text in rules.soft_stops))
    starts: list[tuple[int, int]] = []
    for start, soft in reversed(bounds):
        starts.append((_region_cut(toks, start, form, rules), bounds[-1][0] if starts else -1))
        if not soft:
            break
    if not bounds:  # window cut inside a long run: only a full region token gives a start
        cut = _region_cut(toks, win, form, rules)
        starts = [(cut, -1)] if cut > win else []
    return starts


def _region_cut(toks: list[_Tok], start: int, form: str, rules: Rules) -> int:
    """A full region token ("深圳市") after other words starts the name ("知名企业深圳市…");
    in a branch, only before its parent's legal form ("…股份有限公司深圳市分公司")."""
    for i, k in enumerate(toks):
        if k.start < start:
            continue
        if form == "branch" and i > 0 and k.text.endswith(rules.branch_parents):
            break
        if _is_region(k.text, rules, strict=True) and (i == 0 or toks[i - 1].text != "("):
            return k.start
    return start


def _is_region(word: str, rules: Rules, strict: bool) -> bool:
    """Is a jieba word a place: 广东省, 南山区 (strict) or also 深圳, 广东 (prefix only)?"""
    if word in rules.region_full or (not strict and word in rules.region_short):
        return True
    return (
        len(word) >= 3 and word.endswith(rules.unit_suffixes) and word not in rules.region_non_words
    )


def _region_prefix(toks: list[_Tok], rules: Rules) -> str:
    """The leading chain of place words of a name ("广东省深圳市南山区")."""
    parts: list[str] = []
    for k in toks:
        if _is_region(k.text, rules, strict=False) or (parts and k.text in rules.unit_suffixes):
            parts.append(k.text)
        else:
            break
    return "".join(parts)


def _bracket_region(name: str, rules: Rules) -> str:
    """The region written in brackets inside a name ("腾讯科技(深圳)有限公司" → "深圳")."""
    m = _BRACKETED.search(name)
    if m and m.group(1) not in rules.bracket_non_regions:
        return m.group(1)
    return ""


def _is_distinctive(word: str, rules: Rules) -> bool:
    """A word that can identify a firm: not an industry word, generic word or bracket."""
    return not (
        word in rules.descriptors
        or word in rules.generic
        or (word in rules.stops and word not in rules.soft_words)
        or word in "()"
        or word.isdigit()
        or _is_region(word, rules, strict=False)
    )


def _chains(t: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans of two or more runs of name characters joined by single bridgeable separators."""
    out: list[tuple[int, int]] = []
    start = -1
    for (s1, e1), (s2, e2) in itertools.pairwise(runs):
        if s2 == e1 + 1 and t[e1] in BRIDGE_SEPARATORS:
            start = s1 if start < 0 else start
            if out and out[-1][0] == start:
                out[-1] = (start, e2)
            else:
                out.append((start, e2))
        else:
            start = -1
    return out


def _bridged_names(t: str, cs: int, ce: int, rules: Rules) -> list[_Cand]:
    """Names written in parts ("深圳市 鑫诚 信息咨询 有限公司", "广州·安信商务服务有限公司")
    in the chain of runs t[cs:ce]: found in the chain without its separators, and kept only
    when they cross a separator that `_bridge_ok` accepts. Spans index `t`."""
    g = SEPARATOR_RE.sub("", t[cs:ce])
    # one-character suffixes (行, 部, 店) are too ambiguous to bridge for
    hits = list(rules.bridge_suffix_re.finditer(g))
    if not hits:
        return []
    where = [cs + i for i, ch in enumerate(t[cs:ce]) if ch not in BRIDGE_SEPARATORS]
    gaps = [i for i in range(1, len(g)) if where[i] != where[i - 1] + 1]
    out: list[_Cand] = []
    for m in hits:
        if m.end() <= gaps[0]:
            continue
        cand = _bridged_at(g, gaps, m.start(), m.end(), rules)
        if cand is not None:
            crossed = tuple(where[p] - 1 for p in _gaps_in(gaps, cand.start, cand.end))
            end = where[cand.end - 1] + 1
            out.append(_Cand(where[cand.start], end, cand.form, cand.region, crossed))
    return out


def _bridged_at(g: str, gaps: list[int], ss: int, se: int, rules: Rules) -> _Cand | None:
    """The name ending with the suffix at g[ss:se] that bridges at least one gap (g indices
    where a separator was dropped); a gap `_bridge_ok` refuses ends the text before the name."""
    start = 0
    while se - start >= 3:
        cand = _name_at(g, start, len(g), ss, se, rules)
        if cand is None:
            return None
        crossed = _gaps_in(gaps, cand.start, cand.end)
        if not crossed:
            return None  # found without bridging: the plain pass has it
        refused = [p for p in crossed if not _bridge_ok(g, p, cand, gaps, rules)]
        if not refused:
            return cand
        start = refused[-1]
    return None


def _gaps_in(gaps: list[int], start: int, end: int) -> list[int]:
    """The gaps strictly inside (start, end); `gaps` is sorted (a page may hold thousands)."""
    return gaps[bisect.bisect_right(gaps, start) : bisect.bisect_left(gaps, end)]


def _bridge_ok(g: str, p: int, cand: _Cand, gaps: list[int], rules: Rules) -> bool:
    """May the gap before g[p] be bridged in the name `cand`? Only between name parts: in a
    legal form (有限 公司), after a place (深圳市 鑫诚), around a bracketed place, before an
    industry word after a brand (鑫诚 信息咨询), before a legal form after an industry word or
    bank (信息咨询 有限公司), or before a branch (华夏银行 深圳分行)."""
    longest = max(map(len, rules.forms))
    for i in range(max(cand.start, p - longest + 1), p):
        m = rules.suffix_re.match(g, i)
        if m and p < m.end() <= cand.end:
            return True  # the separator splits a legal form
    if g[p] == "(" or g[p - 1] == ")":
        return True  # run_re only lets a place or 集团-like word stand in brackets
    # The part of the name around the gap p: from the gap before it to the gap after it.
    k = bisect.bisect_left(gaps, p)  # gaps[k] == p
    part_start = max(cand.start, gaps[k - 1]) if k > 0 else cand.start
    part_end = min(cand.end, gaps[k + 1]) if k + 1 < len(gaps) else cand.end
    # The writer's separator is a word boundary ("华为 技术有限公司"); p is the only gap
    # inside the part.
    toks = _split_at(_cut(g, part_start, part_end), p, True)
    left = [k for k in toks if k.end <= p]
    right = next((k for k in toks if k.start == p), None)
    if not left or right is None:
        return False
    word, nxt = left[-1].text, right.text
    if all(_is_region(k.text, rules, strict=False) for k in left):
        return not _is_region(nxt, rules, strict=False) or _is_region(word, rules, strict=True)
    industry_before = any(g.endswith(d, part_start, p) for d in rules.descriptors)
    if cand.form == "branch" and part_end == cand.end and word.endswith(rules.branch_parents):
        parent_only = g[cand.start : p] in rules.branch_parents
        return not parent_only and nxt not in rules.stops and nxt not in rules.generic
    if rules.suffix_re.match(g, p):  # a registered name has an industry word before its form
        return industry_before or word.endswith(rules.bank_words)
    industry_after = any(g.startswith(d, p, part_end) for d in rules.descriptors)
    return industry_after and (industry_before or _brand_word_ok(word, rules))


def _brand_at(t: str, rs: int, re_: int, is_: int, ie: int, rules: Rules) -> _Cand | None:
    """A brand-only mention: a 2–6 character brand right before an industry word ("鑫诚法务")."""
    win = max(rs, is_ - MAX_LEN["brand"])
    if is_ - win < BRAND_CORE[0]:
        return None
    window = t[win : min(re_, ie + RIGHT_CONTEXT + MAX_LEN["brand"])]
    _cut_cached(window)  # the word cut, as before: its cache's misses are the page's budget
    found = _brand_in_window(window, is_ - win, ie - win)
    if found is None:
        return None
    start, end, region = found
    return _Cand(win + start, win + end, "brand", region)


@lru_cache(maxsize=8192)
def _brand_in_window(t: str, is_: int, ie: int) -> tuple[int, int, str] | None:
    """`_brand_at` inside its window `t`, the industry word at t[is_:ie]: the brand's start,
    end and region, or None (cached)."""
    rules = _rules()
    toks = _cut(t, 0, len(t))
    end = _brand_end(t, toks, is_, ie, rules)
    if end is None:
        return None
    before = [k for k in toks if k.end <= is_]
    if not before or not _brand_word_ok(before[-1].text, rules):
        return None
    i = len(before) - 1
    while i > 0 and len(before[i - 1].text) == 1 and _brand_word_ok(before[i - 1].text, rules):
        i -= 1
    core = is_ - before[i].start
    if not BRAND_CORE[0] <= core <= BRAND_CORE[1]:
        return None
    if i == len(before) - 1 and _jieba()[0].FREQ.get(before[i].text, 0) >= COMMON_WORD_FREQ:
        return None  # one common word ("心理咨询", "阳光法务") is rarely a brand
    j = i
    while j > 0 and _is_region(before[j - 1].text, rules, strict=False):
        j -= 1
    region = "".join(k.text for k in before[j:i])
    return before[j].start, end, region


def _brand_end(t: str, toks: list[_Tok], is_: int, ie: int, rules: Rules) -> int | None:
    """Where a brand mention ends: through the last industry word of a run such as
    企业/管理咨询; None when the industry word names a person ("咨询师") or is inside a word."""
    end, pos = is_, is_
    for k in (k for k in toks if k.start >= is_):
        if k.start != pos or k.text not in rules.descriptors:
            break
        pos = k.end
        end = pos if k.text in rules.industry else end
    if end >= ie:
        return end
    first = next((k for k in toks if k.start == is_), None)
    if first is None or first.end <= ie or not first.text.startswith(t[is_:ie]):
        return None
    rest = first.text[ie - is_ :]  # "咨询电话" → 电话: the brand's phone, the brand ends at ie
    return None if rest in rules.person_words else ie


def _brand_word_ok(word: str, rules: Rules) -> bool:
    """Can this jieba word be (part of) a brand: not a stop, generic, industry word or verb."""
    if word in rules.stops or word in rules.generic or word in rules.descriptors:
        return False
    if _is_region(word, rules, strict=False) or not _NAME_WORD.fullmatch(word):
        return False
    return _jieba()[1].get(word) not in rules.reject_pos


def _bracket_brands(t: str, rules: Rules) -> list[_Cand]:
    """Brands set off in 【】 in ads ("【鑫诚】"), not slogans like 【征信修复】 or 【联系方式】."""
    out: list[_Cand] = []
    freq = _jieba()[0].FREQ
    for m in rules.bracket_brand_re.finditer(t):
        s, e = m.span(1)
        words = [k.text for k in _cut(t, s, e)]
        if not all(_brand_word_ok(w, rules) or w in rules.industry for w in words):
            continue
        if not any(len(w) > 1 and not freq.get(w) for w in words):
            continue  # only dictionary words: a slogan such as 【联系方式】
        out.append(_Cand(s, e, "brand", ""))
    return out


def _common_word_brands(t: str, rules: Rules) -> list[_Cand]:
    """Brands made of a common word and an industry word ("阳光法务", "平安财税"), which the
    other rules reject as vocabulary: only inside 【】 or quotes right before a service claim
    ("【阳光法务】专业停息挂账"), where an ad names its seller."""
    out: list[_Cand] = []
    for m in rules.quoted_re.finditer(t):
        if not m.group(m.lastindex or 0).endswith(rules.industry_ends):
            continue  # “征信修复”, 【联系方式】: no trade named
        s, e = m.span(m.lastindex or 0)
        toks = [k.text for k in _cut(t, s, e)]
        n_region = next(
            (i for i, w in enumerate(toks) if not _is_region(w, rules, False)), len(toks)
        )
        n_ind = next(
            (i for i, w in enumerate(reversed(toks)) if w not in rules.industry), len(toks)
        )
        core = toks[n_region : len(toks) - n_ind]
        if not n_ind or toks[-1] in rules.action_industry or not 1 <= len(core) <= 2:
            continue
        if not BRAND_CORE[0] <= sum(map(len, core)) <= BRAND_CORE[1]:
            continue
        if all(_common_core_ok(w, rules) for w in core) and _claim_follows(t, m.end()):
            out.append(_Cand(s, e, "brand", "".join(toks[:n_region])))
    return out


def _common_core_ok(word: str, rules: Rules) -> bool:
    """Can this word be part of a brand core in 【】 before a claim? A rare word as in any
    brand; a common one (阳光, 平安) only with a name or adjective tag (common_brand_pos)."""
    if _jieba()[0].FREQ.get(word, 0) < COMMON_WORD_FREQ:
        return _brand_word_ok(word, rules)
    if word in rules.stops or word in rules.generic or word in rules.descriptors:
        return False
    if _is_region(word, rules, strict=False) or not _NAME_WORD.fullmatch(word):
        return False
    return _jieba()[1].get(word) in rules.common_brand_pos


def _claim_follows(t: str, pos: int) -> bool:
    """Does a service claim (a lexicon term, see CLAIM_MIN_WEIGHT) start within CLAIM_REACH
    characters after `pos`, past separators and a colon?"""
    view = compact(NormalizedText(t[pos : pos + CLAIM_WINDOW], t[pos : pos + CLAIM_WINDOW]))
    lead = len(view.text) - len(view.text.lstrip(":：,，"))
    return any(
        h.entry.kind == "term"
        and h.entry.weight >= CLAIM_MIN_WEIGHT
        and h.start - lead <= CLAIM_REACH
        for h in Lexicon.load().find(view)
    )


def _longest_non_overlapping(cands: list[_Cand]) -> list[_Cand]:
    """Keep the longest of overlapping candidates (then the earliest), sorted by start."""
    starts: list[int] = []  # kept spans never overlap, so sorted starts order their ends too
    kept: list[_Cand] = []
    # dict, not set: on equal spans the first rule's candidate wins, whatever the hash seed
    for c in sorted(dict.fromkeys(cands), key=lambda c: (-(c.end - c.start), c.start)):
        i = bisect.bisect_right(starts, c.start)
        if (i and kept[i - 1].end > c.start) or (i < len(kept) and kept[i].start < c.end):
            continue
        starts.insert(i, c.start)
        kept.insert(i, c)
    return kept


def _display(norm: NormalizedText, start: int, end: int) -> str:
    """The normalized span with the page's letter case restored ("TCL科技", not "tcl科技")."""
    chars = list(norm.text[start:end])
    for i, ch in enumerate(chars):
        if "a" <= ch <= "z":
            orig = norm.original[norm.origin(start + i)]
            if orig.isupper():
                chars[i] = ch.upper()
    return "".join(chars)


def _to_business(norm: NormalizedText, c: _Cand) -> Business:
    """The candidate as reported: a bridged name without its separators, the span as written."""
    s, e = norm.to_original(c.start, c.end)
    name = _display(norm, c.start, c.end)
    if c.gaps:
        name = "".join(ch for i, ch in enumerate(name, start=c.start) if i not in c.gaps)
    return Business(
        name=name,
        form=c.form,
        raw=norm.original[s:e],
        start=s,
        end=e,
        region=c.region,
    )
