"""WeChat and QQ labels recognised by sound and shape, for ids no alias list foresaw.

Promoters keep inventing spellings for 微信 and QQ (威芯, 蔚信, 徽芯, 薇❤, 秋秋, 寇寇, weixin,
kou kou, 亻言 for 信 …), so pipelines.contacts asks this module, for each id-like token, which
apps the words just before it name: the filler between (separators, a bracketed remark, 号, 是,
同号 …) is stepped over, and the short run of characters left is read as tone-less pinyin and
compared with the label sounds of pipelines/data/contacts.yaml. A label may list several apps
(微信QQ同号, V/Q, 扣/微). Only the few characters right before an id are ever read, and their
readings are cached, so pages without ids cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product

from pipelines.errors import ConfigError
from pipelines.normalize import is_decoration

# Most filler characters (separators, a remark in brackets, 号码, 同号 …) between label and id.
_REACH = 16
# Most characters read as labels before the filler: two labels and a joiner ("微信 / 扣扣").
_REGION = 12
# Most syllables one label has (彳微亻言 is two once its parts are joined; "wei xin" is two).
_MAX_UNITS = 4
# Most apps one label lists (微信/QQ/企鹅 …).
_MAX_LABELS = 3
# labels_before reads at most this many characters before an id (the filler, then the label
# region and the character before it) and the id's first character: its verdict is a function
# of that stretch, which pages repeat (the same contact line on every page of a site).
_LOOK_BACK = _REACH + _REGION + 2
# Most stretches remembered (see labelled_ids); the memo is emptied when full.
_MAX_REMEMBERED = 65536
# Characters between the labels of several apps: 微信/QQ, V+Q, 微信、QQ.
_JOIN_CHARS = frozenset("/、+&|")
# A remark in brackets between label and id ("V：(备注来意) 138…") is stepped over whole.
_OPENER = {")": "(", "]": "[", "】": "【", "」": "「", ">": "<", "》": "《", "〉": "〈", "』": "『"}
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_GLUE = frozenset("0123456789_-")
_JOIN = ("", frozenset[str]())  # a joiner token: no sound of its own


@dataclass(frozen=True, slots=True)
class SoundRules:
    """The sound-related parts of the data file, compiled."""

    sounds: Mapping[str, str]  # joined tone-less syllables ("weixin", "vx", "qq") -> kind
    singles: Mapping[str, str]  # one syllable ("wei", "kou"): a label only with a stronger sign
    near: Mapping[str, str]  # near-homophones promoters swap in: hui -> wei, xing -> xin
    parts: tuple[tuple[str, str], ...]  # a character written as its parts: (亻言, 信)
    joiner_words: frozenset[str]  # 和, 或 …: between the labels of two apps
    fillers: Mapping[str, tuple[str, ...]]  # words between label and id by last character,
    # longest first
    memo: dict[str, tuple[tuple[str, bool], ...]] = field(default_factory=dict)
    ends: dict[str, bool] = field(default_factory=dict)  # see _may_end
    before: dict[str, frozenset[str]] = field(default_factory=dict)  # see labelled_ids


_NONE: frozenset[str] = frozenset()


def sound_rules(data: Mapping[str, object], words: Callable[[str], list[str]]) -> SoundRules:
    """Compile the label sounds from the data file (`words` reads a normalized word list)."""
    sounds: dict[str, str] = {}
    for kind in ("wechat", "qq"):
        for sound in words(f"{kind}_sounds"):
            sounds["".join(sound.split())] = kind
    singles = {s: k for k in ("wechat", "qq") for s in words(f"{k}_single_sounds")}
    near = data.get("near_sounds")
    parts = data.get("character_parts")
    if not _str_map(near) or not _str_map(parts):
        raise ConfigError("contacts.yaml: 'near_sounds' and 'character_parts' must map strings")
    fillers: dict[str, tuple[str, ...]] = {}
    for w in sorted(set(words("alias_fillers") + words("label_fillers")), key=len, reverse=True):
        fillers[w[-1]] = (*fillers.get(w[-1], ()), w)
    return SoundRules(
        sounds=sounds,
        singles=singles,
        near=dict(near),  # type: ignore[arg-type]
        parts=tuple(parts.items()),  # type: ignore[union-attr]
        joiner_words=frozenset(words("label_joiners")),
        fillers=fillers,
    )


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
    )


@lru_cache(maxsize=4096)
def _readings(ch: str) -> frozenset[str]:
    """Tone-less pinyin of one Han character: its common reading only (rare readings such as
    机 "wei" would make prose sound like labels)."""
    from pypinyin import Style, pinyin  # loaded on the first label candidate only

    return frozenset(pinyin(ch, style=Style.NORMAL, errors="ignore")[0] or ())


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


# The characters a label region is made of (Han, ASCII letters, spaces, joiners), read back from
# the end of the filler; searched from _REGION characters before, so the run found is maximal.
_REGION_RE = re.compile(rf"[\u3400-\u9fffa-z /、+&|]{{1,{_REGION}}}$")


def _filler_start(rules: SoundRules, text: str, end: int) -> tuple[int, bool]:
    """Where the filler before an id at `end` begins, and whether it holds more than spaces
    (a colon, an arrow, a remark, 号 … is a stronger sign that a label precedes)."""
    i, strong = end, False
    lo = max(0, end - _REACH)
    while i > lo:
        ch = text[i - 1]
        if ch.isspace():
            i -= 1
            continue
        word = _filler_word(rules, text, lo, i)
        if word:
            i, strong = i - len(word), True
            continue
        if _is_han(ch) or ch in _LETTERS or ch in _JOIN_CHARS:
            break  # the common case: prose or a label right before the filler
        opener = _OPENER.get(ch)
        j = text.rfind(opener, lo, i - 1) if opener else -1
        if j >= 0:
            i, strong = j, True
        elif ch == ":" or is_decoration(ch):
            i, strong = i - 1, True
        else:
            break
    return i, strong


def _filler_word(rules: SoundRules, text: str, lo: int, i: int) -> str:
    """The filler word ending at `i` ("号码", "同号", "id" but not the end of "paid"), or ""."""
    for w in rules.fillers.get(text[i - 1], ()):
        if text.endswith(w, lo, i):
            s = i - len(w)
            if not (w[0] in _LETTERS and s > 0 and text[s - 1] in _LETTERS):
                return w
    return ""


def _tokens(rules: SoundRules, region: str) -> list[tuple[str, frozenset[str]]]:
    """A label region as sound units, right to left: a Han character (or one written as its
    parts) with its readings, an ASCII letter run as itself, _JOIN for a joiner."""
    for whole_parts, char in rules.parts:
        region = region.replace(whole_parts, char)
    units: list[tuple[str, frozenset[str]]] = []
    k = len(region)
    while k > 0:
        ch = region[k - 1]
        if ch in _LETTERS:
            s = k
            while s > 0 and region[s - 1] in _LETTERS:
                s -= 1
            units.append((region[s:k], frozenset((region[s:k],))))
            k = s
            continue
        if ch in _JOIN_CHARS or ch in rules.joiner_words:
            units.append(_JOIN)
        elif _is_han(ch):
            units.append((ch, _readings(ch)))
        k -= 1
    return units


def _match(rules: SoundRules, units: list[tuple[str, frozenset[str]]]) -> tuple[str, bool] | None:
    """The app a run of sound units names, and whether it is weak (one syllable, or only a
    near-homophone), or None."""
    near = False
    for readings in (units, [(t, frozenset(rules.near.get(r, r) for r in rs)) for t, rs in units]):
        for combo in product(*(rs for _, rs in reversed(readings))):
            sound = "".join(combo)
            if sound in rules.sounds:
                return rules.sounds[sound], near
            if sound in rules.singles:
                return rules.singles[sound], True
        near = True
    return None


def _parse(rules: SoundRules, region: str) -> tuple[tuple[str, bool], ...]:
    """The labels at the end of `region`, right to left: (kind, weak) each; cached."""
    hit = rules.memo.get(region)
    if hit is not None:
        return hit
    units = _tokens(rules, region)
    labels: list[tuple[str, bool]] = []
    k = 0
    while k < len(units) and len(labels) < _MAX_LABELS:
        if labels:
            while k < len(units) and units[k] is _JOIN:
                k += 1
        found = None
        for n in range(min(_MAX_UNITS, len(units) - k), 0, -1):
            run = units[k : k + n]
            if any(u is _JOIN for u in run):
                continue
            found = _match(rules, run)
            if found:
                labels.append(found)
                k += n
                break
        if not found:
            break
    if len(rules.memo) > 65536:
        rules.memo.clear()
    rules.memo[region] = result = tuple(labels)
    return result


def _may_end(rules: SoundRules, ch: str) -> bool:
    """False when `ch` can end no label, filler or character-parts pair: a Han character whose
    reading ends no label sound (话, 于, 价 …). Memoized per character."""
    hit = rules.ends.get(ch)
    if hit is None:
        if _is_han(ch) and ch not in rules.fillers and not any(p[-1] == ch for p, _ in rules.parts):
            keys = (*rules.sounds, *rules.singles)
            sounds = {n for r in _readings(ch) for n in (r, rules.near.get(r, r))}
            hit = any(k.endswith(n) for k in keys for n in sounds)
        else:
            hit = True
        rules.ends[ch] = hit
    return hit


def labels_before(rules: SoundRules, text: str, start: int) -> frozenset[str]:
    """The apps ("wechat", "qq") that the words right before an id at `start` name, by sound.

    A weak label (one syllable such as 扣 or 微, or a near-homophone such as 徽芯) counts only
    after a stronger filler than spaces or beside another app's label (扣/微 2389471025).
    """
    if start == 0 or not _may_end(rules, text[start - 1]):
        return _NONE  # the common case: prose right before a number
    i, strong = _filler_start(rules, text, start)
    if i == 0 or not _may_end(rules, text[i - 1]):
        return _NONE
    if i == start and text[i - 1] in _LETTERS and text[start].isascii():
        return _NONE  # glued letters and digits are one token: V12345, wx2023
    region = _REGION_RE.search(text, max(0, i - _REGION), i)
    if region is None or text[i - 1] in _JOIN_CHARS:
        return _NONE
    j = region.start()
    if j > 0 and text[j - 1] in _GLUE:
        while j < i and text[j] in _LETTERS:  # "2023wx": the letters belong to the number
            j += 1
    labels = _parse(rules, text[j:i].strip())
    return frozenset(k for k, weak in labels if not weak or strong or len(labels) > 1)


def labelled_ids(
    rules: SoundRules, text: str, starts: Iterable[int]
) -> Iterator[tuple[int, frozenset[str]]]:
    """(start, apps) for each id start that a label read by sound precedes (see labels_before);
    most starts follow prose and are dismissed by one lookup of the character before them."""
    ends, before = rules.ends, rules.before
    for a in starts:
        if a and ends.get(text[a - 1]) is not False:
            kinds = before.get(stretch := text[max(0, a - _LOOK_BACK) : a + 1])
            if kinds is None:
                kinds = _labels_of_stretch(rules, stretch)
            if kinds:
                yield a, kinds


def _labels_of_stretch(rules: SoundRules, stretch: str) -> frozenset[str]:
    """labels_before for an id at the last character of `stretch` (the text from _LOOK_BACK
    characters before it, or from the start of the text): the same verdict as in the whole
    text, since nothing further back is read and the start of the text stays the start."""
    if len(rules.before) >= _MAX_REMEMBERED:
        rules.before.clear()
    kinds = rules.before[stretch] = labels_before(rules, stretch, len(stretch) - 1)
    return kinds
