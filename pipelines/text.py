"""Main text, title, date and author of a fetched page, minus page furniture and SEO spam.

Chinese forum, news and classifieds pages carry hidden ad text, keyword-stuffed link farms
and junk tags. Own lxml rules clean the tree first (that cleaning is never skipped), then
known content containers (Discuz! posts, CMS article bodies) are read directly; pages without
one go to a density rule and to trafilatura, and the one with more prose wins.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from copy import deepcopy
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import trafilatura
from lxml import etree
from lxml import html as lxml_html
from lxml.cssselect import CSSSelector, ExpressionError, SelectorError

from pipelines.datafiles import fail, read_mapping, string_lists

DATA_FILE = Path(__file__).parent / "data" / "boilerplate.yaml"

# Known content containers yielding fewer characters than this are treated as "not found"
# (an empty Discuz! post shell, a CMS body that only holds an image).
MIN_RULES_CHARS = 30
# A result with fewer prose characters than this is not a main text: both extractors failed.
MIN_TEXT_CHARS = 20
# A block is a link farm when it holds at least this many links...
LINKFARM_MIN_LINKS = 5
# ...and at least this share of its characters is link text (nav bars sit at 0.8-1.0,
# article bodies with inline links below 0.2). Judged after the farms inside are removed.
LINKFARM_DENSITY = 0.6
# A block with this many characters of plain (non-link) text is content, never a link farm
# (a long article whose container also holds many short link lists or inline links).
LINKFARM_KEEP_TEXT = 200
# A separator run ("a| b| c") needs this many parts, plus two spam markers, to be spam.
SPAM_MIN_PARTS = 3
# A cut marker ("热门推荐") only ends the article when it is a heading-sized line...
CUT_MARKER_MAX_LINE = 12
# ...that comes after some real text (a recommendation box above the article is not a tail).
CUT_MIN_CHARS_BEFORE = 40
# A date + "来源/作者" line longer than this is prose, not an article info line.
META_LINE_MAX = 60
# Density candidates tried in turn when the best one is all boilerplate after line filtering.
DENSITY_CANDIDATES = 3
# Meta names (lower-cased) that carry the publication time, most specific first.
PUBLISHED_META = (
    "article:published_time",
    "pubdate",
    "publishdate",
    "publish_time",
    "og:release_date",
    "datepublished",
    "weibo:article:create_at",
)
# Look for a visible date this many characters after the title in the body text.
DATE_WINDOW = 400
# Bytes of the page head searched for <meta charset>: browsers look at the first 1024,
# real Chinese pages put long SEO keyword lists first, so look further.
META_SNIFF_BYTES = 4096

_WS = re.compile(r"[ \t\r\f\v\u00a0\u2002\u2003\u2009]+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""")
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:px)?\s*(?:;|$)", re.I
)
_CSS_HIDDEN_RULE = re.compile(
    r"([^{}]+)\{[^}]*(?:display\s*:\s*none|visibility\s*:\s*hidden)[^}]*\}", re.I
)
_SIMPLE_SELECTOR = re.compile(r"^\s*([.#])([A-Za-z0-9_-]+)\s*$")
_TOKEN_SPLIT = re.compile(r"[\s_-]+")
_JUNK_ID = re.compile(r"^[0-9a-z]{4,8}$")
_SPAM_SEP = re.compile(r"\s*[|｜,，、]\s*")
_DATE = re.compile(
    r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[T\s]*(\d{1,2}):(\d{2})(?::(\d{2}))?)?(Z|[+-]\d{2}:?\d{2})?"
)
_AUTHOR = re.compile(
    r"(?:作者|作\s+者|发布人|發佈人|发帖人|楼主|樓主)\s*[:：]\s*([^\s|/，,:：]{1,24})"
)
_CATEGORY = re.compile(r"^\s*[\[【][^\]】]{1,12}[\]】]\s*")
_SENTENCE = re.compile(r"[，。！？；,!?;]")
_PROSE = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z0-9]")

# Encodings a declared label maps to: GBK/GB2312 pages routinely contain GB18030-only
# characters, and Big5 pages HKSCS ones, so always decode with the superset.
_SUPERSET = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    "utf-8-sig": "utf-8",
}
# Single-byte Western charsets decode any bytes, and servers send "ISO-8859-1" by default:
# from an HTTP header they only count after the Chinese encodings failed.
_WESTERN = frozenset(("iso8859-1", "cp1252", "iso8859-15", "ascii"))
# Detection order for undeclared pages, most specific first: valid UTF-8 is almost never
# anything else; GB18030 accepts most double-byte text, so Big5 is tried after it.
_DETECT_ORDER = ("utf-8", "gb18030", "big5hkscs")
# The most frequent Chinese characters in both scripts: a decode that yields more of them is
# the right one when GB18030 and Big5 both decode without error (they share a byte layout).
_COMMON_HANZI = frozenset(
    "的一是不了在人有我他这這个個们們中来來上大为為和国國地到以说說时時要就出会會可也你对對生能"
    "而子那得于於着著下自之年过過发發后後作里裡用道行所然家种種事成方多经經么麼去法学學如都同现現"
)
# GBK rows 0xA4-0xA9 hold kana, Greek, Cyrillic and box drawing: the rows Big5 uses for its
# most common hanzi, so Big5 decoded as GBK is full of them (and of private-use code points).
_MISDECODED = re.compile(r"[\u0370-\u04ff\u2500-\u257f\u3040-\u30ff\ue000-\uf8ff]")
_HTML_TAGS = frozenset(lxml_html.defs.tags)


@dataclass(frozen=True, slots=True)
class Page:
    """What a page says: main text (paragraphs split by "\\n"), metadata, and how it was got.

    `method` is "rules", "trafilatura" or "fallback"; `dropped` lists short reasons for
    what was removed ("hidden:display:none", "spam-linkfarm", "nav", ...) as evidence.
    """

    title: str
    text: str
    published: str
    author: str
    method: str
    dropped: tuple[str, ...] = ()
    encoding: str = ""


@dataclass(frozen=True, slots=True)
class Rules:
    """The tunable lists of data/boilerplate.yaml, read once."""

    drop_tags: frozenset[str]
    structural_tags: frozenset[str]
    hidden_classes: frozenset[str]
    boilerplate_tokens: frozenset[str]
    content_selectors: tuple[CSSSelector, ...]
    junk_tags: frozenset[str]
    line_prefixes: tuple[str, ...]
    cut_markers: tuple[str, ...]
    spam_markers: tuple[str, ...]
    title_separator: re.Pattern[str]
    site_suffix: re.Pattern[str]
    meta_line: re.Pattern[str]


# Keys of data/boilerplate.yaml, each a non-empty list of strings.
_RULE_KEYS = (
    "drop_tags",
    "structural_tags",
    "hidden_classes",
    "boilerplate_tokens",
    "content_selectors",
    "junk_tags",
    "line_prefixes",
    "cut_markers",
    "spam_markers",
    "site_suffix_words",
    "meta_line_words",
    "title_separators",
)


def _selector(path: Path, i: int, css: str) -> CSSSelector:
    """One compiled content selector, or a DataFileError naming it."""
    try:
        return CSSSelector(css)
    except (SelectorError, ExpressionError) as exc:
        fail(path, f"content_selectors[{i}]", f"{css!r} is not a CSS selector ({exc})")


@lru_cache(maxsize=1)
def load_rules(path: Path = DATA_FILE) -> Rules:
    """Read the boilerplate rules once per process (compiled selectors included); a bad file
    raises DataFileError naming the key."""
    raw = read_mapping(path)
    string_lists(path, raw, _RULE_KEYS)
    seps = sorted(raw["title_separators"], key=len, reverse=True)
    return Rules(
        drop_tags=frozenset(raw["drop_tags"]),
        structural_tags=frozenset(raw["structural_tags"]),
        hidden_classes=frozenset(raw["hidden_classes"]),
        boilerplate_tokens=frozenset(raw["boilerplate_tokens"]),
        content_selectors=tuple(
            _selector(path, i, s) for i, s in enumerate(raw["content_selectors"])
        ),
        junk_tags=frozenset(raw["junk_tags"]),
        line_prefixes=tuple(raw["line_prefixes"]),
        cut_markers=tuple(raw["cut_markers"]),
        spam_markers=tuple(raw["spam_markers"]),
        title_separator=re.compile("|".join(re.escape(s) for s in seps)),
        site_suffix=re.compile(
            r"\s*-\s*[^-\s]{1,12}(?:" + "|".join(map(re.escape, raw["site_suffix_words"])) + ")$"
        ),
        meta_line=re.compile(
            r"^.{0,20}(?:19|20)\d{2}\D{1,2}\d{1,2}\D{1,2}\d{1,2}.{0,30}(?:"
            + "|".join(map(re.escape, raw["meta_line_words"]))
            + ")"
        ),
    )


# ---------------------------------------------------------------- decoding


def _canonical(label: str | None) -> str | None:
    """Python codec name for a charset label, GB/Big5 widened to their supersets."""
    if not label:
        return None
    if "charset=" in label.lower():  # a whole Content-Type header value
        label = label[label.lower().index("charset=") + 8 :].split(";")[0]
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower().removeprefix("x-")).name
    except LookupError:
        return None
    return _SUPERSET.get(name, name)


def _strict(body: bytes, enc: str) -> str | None:
    try:
        return body.decode(enc)
    except (UnicodeDecodeError, LookupError):
        return None


def _common_score(text: str) -> int:
    """Frequent hanzi minus kana/Greek/Cyrillic/box-drawing, what Big5 read as GBK turns into."""
    return sum(1 for ch in text if ch in _COMMON_HANZI) - len(_MISDECODED.findall(text))


def _sniff_meta(body: bytes) -> str | None:
    head = body[:META_SNIFF_BYTES]
    m = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    return _canonical(m.group(1).decode("ascii", "ignore")) if m else None


def decode_html(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode page bytes; returns (text, encoding used).

    A BOM wins, then valid UTF-8, then the <meta> charset, then the HTTP header (`declared`),
    each only if it decodes strictly; then utf-8 → gb18030 → big5hkscs, else gb18030 lossy.
    """
    for bom, enc in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(enc, "replace"), enc
    if body.isascii():
        return body.decode("ascii"), _canonical(declared) or _sniff_meta(body) or "utf-8"
    header = _canonical(declared)
    for enc in ("utf-8", _sniff_meta(body), None if header in _WESTERN else header):
        if enc and not enc.startswith("utf-16"):
            text = _strict(body, enc)
            if text is not None:
                return text, enc
    decoded = [(enc, t) for enc in _DETECT_ORDER[1:] if (t := _strict(body, enc)) is not None]
    if decoded:
        enc, text = max(decoded, key=lambda et: _common_score(et[1]))
        return text, enc
    if header in _WESTERN and (text := _strict(body, header)) is not None:
        return text, header
    return body.decode("gb18030", "replace"), "gb18030"


# ---------------------------------------------------------------- rendering


# Elements that start a new line in the text; table cells only get a space so that
# "联系电话 | 138..." rows stay on one line.
_BLOCK_TAGS = (
    "p div br li ul ol dl dt dd tr table tbody thead section article main h1 h2 h3 h4 h5 h6 "
    "blockquote pre hr form header footer figure figcaption address center fieldset"
)
_BLOCK = frozenset(_BLOCK_TAGS.split())
_CELL = frozenset(("td", "th"))


def render(el: etree._Element) -> str:
    """Visible text of an element, one line per block, whitespace collapsed."""
    parts: list[str] = []
    for event, node in etree.iterwalk(el, events=("start", "end")):
        tag = node.tag if isinstance(node.tag, str) else ""
        if event == "start":
            if tag in _BLOCK:
                parts.append("\n")
            elif tag in _CELL:
                parts.append(" ")
            if node.text and tag:
                parts.append(node.text)
        else:
            if tag in _BLOCK:
                parts.append("\n")
            if node.tail and node is not el:
                parts.append(node.tail)
    lines = (_WS.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------- cleaning


def _css_hidden(root: etree._Element) -> tuple[set[str], set[str]]:
    """Classes and ids a <style> block hides with display:none / visibility:hidden."""
    classes: set[str] = set()
    ids: set[str] = set()
    for style in root.iter("style"):
        for m in _CSS_HIDDEN_RULE.finditer(style.text or ""):
            for sel in m.group(1).split(","):
                s = _SIMPLE_SELECTOR.match(sel)
                if s:
                    (classes if s.group(1) == "." else ids).add(s.group(2))
    return classes, ids


def _hidden_reason(el: etree._Element, classes: set[str], ids: set[str]) -> str | None:
    attrib = el.attrib
    style = attrib.get("style")
    if style and (m := _HIDDEN_STYLE.search(style)):
        return "hidden:" + _WS.sub("", m.group(0)).rstrip(";").lower()
    if "hidden" in attrib:
        return "hidden:attr"
    if attrib.get("aria-hidden", "").lower() == "true":
        return "hidden:aria"
    if attrib.get("type", "").lower() == "hidden":
        return "hidden:input"
    cls = attrib.get("class")
    if cls:
        hit = next((c for c in cls.split() if c in classes), None)
        if hit:
            return f"hidden:class:{hit}"
    if ids and attrib.get("id") in ids:
        return "hidden:id"
    return None


def _furniture_reason(el: etree._Element, tag: str, rules: Rules) -> str | None:
    if tag in rules.structural_tags:
        return tag
    names = f"{el.get('class', '')} {el.get('id', '')}".strip()
    if names:
        hit = next(
            (t for t in _TOKEN_SPLIT.split(names.lower()) if t in rules.boilerplate_tokens), None
        )
        if hit:
            return f"boilerplate:{hit}"
    return None


def _is_junk(el: etree._Element, tag: str, rules: Rules) -> bool:
    """Empty id-only farm tags (<bdo id="0wauq"></bdo>) and unknown custom tags."""
    if (el.text and el.text.strip()) or len(el):
        return False
    if tag in rules.junk_tags and len(el.attrib) == 1 and _JUNK_ID.match(el.get("id", "")):
        return True
    return tag not in _HTML_TAGS


def _content_nodes(root: etree._Element, rules: Rules) -> list[etree._Element]:
    """All matches of the first content selector that holds text, outermost only."""
    for sel in rules.content_selectors:
        nodes = [
            n
            for n in sel(root)
            if not _HIDDEN_STYLE.search(n.get("style", "")) or "visibility" in n.get("style", "")
        ]
        if nodes and any(n.text_content().strip() for n in nodes):
            found = set(nodes)
            return [n for n in nodes if not any(a in found for a in n.iterancestors())]
    return []


def _link_farms(root: etree._Element, protected: set[etree._Element]) -> list[etree._Element]:
    """Link-farm elements, judged bottom-up on what is left once the farms inside are gone.

    An outer container holding the article and a sidebar of link lists is judged without
    those lists, so it stays; a block with LINKFARM_KEEP_TEXT characters of plain (non-link)
    text is never a farm, whatever its links.
    """
    stats: dict[etree._Element, tuple[int, int, int]] = {}  # (text chars, link chars, links)
    farms: list[etree._Element] = []
    for _, el in etree.iterwalk(root, events=("end",)):
        if not isinstance(el.tag, str):
            continue
        total = len(el.text.strip()) if el.text else 0
        link_chars = links = 0
        for ch in el:
            t, lc, n = stats.get(ch, (0, 0, 0))  # a farm child counts nothing: it will go
            total += t + (len(ch.tail.strip()) if ch.tail else 0)
            link_chars += lc
            links += n
        if el.tag == "a":
            link_chars, links = total, links + 1
        if (
            links >= LINKFARM_MIN_LINKS
            and link_chars >= LINKFARM_DENSITY * total
            and total - link_chars < LINKFARM_KEEP_TEXT
            and el.tag not in ("html", "body")
            and el not in protected
        ):
            farms.append(el)
            stats[el] = (0, 0, 0)
        else:
            stats[el] = (total, link_chars, links)
    return farms


def _drop(el: etree._Element) -> None:
    if el.getparent() is not None:
        el.drop_tree()


def clean_tree(root: etree._Element, protected: set[etree._Element], rules: Rules) -> list[str]:
    """Remove invisible, furniture, junk and link-farm elements in place; returns reasons."""
    classes, ids = _css_hidden(root)
    classes |= rules.hidden_classes
    reasons: list[str] = []
    doomed: list[etree._Element] = []
    for el in root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag:
            doomed.append(el)
            continue
        if tag in rules.drop_tags:
            doomed.append(el)
            continue
        if tag in ("html", "body", "head"):
            continue
        # Content containers are never dropped: WeChat ships #js_content with
        # visibility:hidden and reveals it by script. Hidden ads inside them still go.
        reason = None if el in protected else _hidden_reason(el, classes, ids)
        if reason is None and el not in protected:
            reason = _furniture_reason(el, tag, rules)
        if reason is None and _is_junk(el, tag, rules):
            reason = "junk-tag"
        if reason:
            doomed.append(el)
            if reason == "junk-tag" or el.text_content().strip():
                reasons.append(reason)
    for el in doomed:
        _drop(el)
    for el in _link_farms(root, protected):
        reasons.append("spam-linkfarm")
        _drop(el)
    return reasons


# ---------------------------------------------------------------- line filters


def _is_spam_run(line: str, rules: Rules) -> bool:
    parts = [p for p in _SPAM_SEP.split(line) if p]
    if len(parts) < SPAM_MIN_PARTS:
        return False
    low = line.lower()
    return sum(1 for m in rules.spam_markers if m in low) >= 2


def _is_meta_line(line: str, rules: Rules) -> bool:
    """An article info line ("2023-09-27 14:53:48 来源:今日热点网"): short, dated, no prose."""
    return (
        len(line) <= META_LINE_MAX
        and not _SENTENCE.search(line)
        and bool(rules.meta_line.match(line))
    )


def filter_lines(text: str, rules: Rules, title: str = "") -> tuple[str, list[str]]:
    """Drop boilerplate, spam, title and date/source lines; cut at a "热门推荐"-style tail."""
    kept: list[str] = []
    reasons: list[str] = []
    seen = 0
    for raw_line in text.split("\n"):
        line = _WS.sub(" ", raw_line).strip()  # trafilatura keeps indentation and blank lines
        if not line:
            continue
        if (
            len(line) <= CUT_MARKER_MAX_LINE
            and seen >= CUT_MIN_CHARS_BEFORE
            and any(line.startswith(m) for m in rules.cut_markers)
        ):
            reasons.append("tail:" + line[:8])
            break
        if line.startswith(rules.line_prefixes):
            reasons.append("line:" + next(p for p in rules.line_prefixes if line.startswith(p)))
            continue
        if _is_spam_run(line, rules):
            reasons.append("spam-keywords")
            continue
        if line == title or _is_meta_line(line, rules):
            reasons.append("line:title" if line == title else "line:meta")
            continue
        kept.append(line)
        seen += len(line)
    return "\n".join(kept), reasons


def prose_score(text: str) -> int:
    """Characters of lines that read like prose (≥ 8 letters): the cheap 'which is better' test."""
    return sum(n for line in text.split("\n") if (n := len(_PROSE.findall(line))) >= 8)


# ---------------------------------------------------------------- metadata


def _metas(root: etree._Element) -> dict[str, str]:
    """<meta> contents keyed by lower-cased property/name/itemprop (first one wins)."""
    out: dict[str, str] = {}
    for meta in root.iter("meta"):
        key = meta.get("property") or meta.get("name") or meta.get("itemprop")
        content = meta.get("content")
        if key and content and content.strip():
            out.setdefault(key.strip().lower(), _WS.sub(" ", content).strip())
    return out


def _first(metas: dict[str, str], *names: str) -> str:
    return next((metas[n] for n in names if n in metas), "")


def clean_title(raw: str, site_name: str, rules: Rules) -> str:
    """Strip "_站点名" / " - 版块 - 论坛" suffixes: keep the first part that is not the site."""
    raw = _WS.sub(" ", raw).strip()
    parts = [p.strip() for p in rules.title_separator.split(raw) if p.strip()]
    first = next((p for p in parts if p != site_name and len(p) >= 4), parts[0] if parts else "")
    if site_name and first.endswith(site_name) and len(first) > len(site_name) + 4:
        first = first[: -len(site_name)].rstrip(" -—_|")
    return rules.site_suffix.sub("", first)


def _iso(m: re.Match[str]) -> str:
    y, mo, d, hh, mm, ss, tz = m.groups()
    if not (1 <= int(mo) <= 12 and 1 <= int(d) <= 31):
        return ""
    out = f"{y}-{int(mo):02d}-{int(d):02d}"
    if hh is not None and int(hh) < 24:
        out += f"T{int(hh):02d}:{mm}:{ss or '00'}"
        if tz:
            out += tz if tz == "Z" or ":" in tz else f"{tz[:3]}:{tz[3:]}"
    return out


def find_published(root: etree._Element, metas: dict[str, str], body_text: str, title: str) -> str:
    """ISO date from meta tags or <time>, else the first date after the title in the text."""
    candidates = [
        _first(metas, *PUBLISHED_META),
        *root.xpath("//time/@datetime")[:1],
    ]
    for cand in candidates:
        if cand and (m := _DATE.search(cand)) and (iso := _iso(m)):
            return iso
    start = body_text.find(title) if title else -1
    window = body_text[start : start + DATE_WINDOW] if start >= 0 else body_text[: DATE_WINDOW * 4]
    for m in _DATE.finditer(window):
        if iso := _iso(m):
            return iso
    return ""


def find_author(root: etree._Element, metas: dict[str, str], body_text: str) -> str:
    """Author from meta tags, the Discuz! first-post author link, or a "作者：" label."""
    author = _first(metas, "author", "article:author", "og:article:author")
    if not author:
        link = root.xpath("(//div[contains(@class,'authi')]/a[contains(@class,'xw1')])[1]")
        author = link[0].text_content().strip() if link else ""
    if not author and (m := _AUTHOR.search(body_text[: DATE_WINDOW * 10])):
        author = m.group(1)
    return author[:200]


# ---------------------------------------------------------------- extraction


def _parse(text: str) -> etree._Element | None:
    if not text.strip():
        return None
    parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, recover=True)
    try:
        # lxml refuses str input that carries an encoding declaration.
        return lxml_html.document_fromstring(_XML_DECL.sub("", text, count=1), parser=parser)
    except (etree.ParserError, ValueError):
        return None


def _h1_text(el: etree._Element) -> str:
    """Heading text without a leading forum category tag ("[征信交流] 标题")."""
    return _CATEGORY.sub("", _WS.sub(" ", el.text_content()).strip())


def _density_blocks(root: etree._Element, rules: Rules) -> list[list[etree._Element]]:
    """Readability-style candidates, best first: each text-holding element (a <p>, or a block
    with its own text) credits its parent fully and its grandparent by half; spam runs score
    nothing. Each candidate comes with its scored same-tag/class siblings (the other posts).
    """
    scores: dict[etree._Element, float] = {}
    for el in root.iter("p", "div", "td", "section", "li", "span", "font", "pre"):
        pieces = [el.text_content()] if el.tag == "p" else [el.text, *(ch.tail for ch in el)]
        n = sum(len(_PROSE.findall(t)) for t in pieces if t and not _is_spam_run(t.strip(), rules))
        if n < 8:
            continue
        parent = el.getparent()
        if parent is None:
            continue
        scores[parent] = scores.get(parent, 0.0) + n
        grand = parent.getparent()
        if grand is not None:
            scores[grand] = scores.get(grand, 0.0) + n / 2
    best = sorted(scores, key=scores.__getitem__, reverse=True)[:DENSITY_CANDIDATES]
    return [_with_siblings(el, scores) for el in best]


def _with_siblings(el: etree._Element, scores: dict[etree._Element, float]) -> list[etree._Element]:
    """The element plus its scored siblings of the same tag and class, in page order."""
    parent = el.getparent()
    if parent is None or not el.get("class"):
        return [el]
    return [
        s
        for s in parent
        if s is el or (s.tag == el.tag and s.get("class") == el.get("class") and s in scores)
    ]


def _trafilatura(root: etree._Element, url: str) -> str:
    """trafilatura on the already-cleaned tree (it keeps display:none text otherwise)."""
    out = trafilatura.extract(
        deepcopy(root),
        url=url or None,
        include_comments=False,
        include_tables=True,
        deduplicate=False,
        favor_recall=True,
        # Skip trafilatura's readability/jusText fallbacks: our density rule is the
        # fallback, and jusText alone cost ~70% of the time on the test pages.
        fast=True,
    )
    return out or ""


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def extract_page(html: str | bytes, url: str = "", encoding: str | None = None) -> Page:
    """Main text and metadata of one page; `encoding` is the HTTP header charset, if any.

    The text starts with the title line, then the body paragraphs, one per line.
    """
    rules = load_rules()
    enc = ""
    if isinstance(html, bytes):
        html, enc = decode_html(html, encoding)
    root = _parse(html)
    if root is None:
        return Page("", "", "", "", "fallback", ("empty",), enc)
    body_text = (
        root.xpath("normalize-space(string(//body))") if root.find("body") is not None else ""
    )
    metas = _metas(root)
    site = metas.get("og:site_name", "")
    title_el = root.find(".//title")
    page_title = title_el.text_content() if title_el is not None else ""
    # An <h1> holding the site name (the logo) is the "_深圳热线" part of <title>: skip it.
    site_parts = {p.strip() for p in rules.title_separator.split(page_title)[1:]} | {site}
    h1 = next(
        (t for el in root.iter("h1") if len(t := _h1_text(el)) >= 4 and t not in site_parts), ""
    )
    raw_title = metas.get("og:title") or h1 or page_title
    title = clean_title(raw_title, site, rules)
    published = find_published(root, metas, body_text, h1 or title)
    author = find_author(root, metas, body_text)

    nodes = _content_nodes(root, rules)
    # Element objects, not id()s: lxml proxies die and their ids get reused.
    protected = {a for n in nodes for a in (n, *n.iterancestors())}
    dropped = clean_tree(root, protected, rules)
    text, method, line_reasons = _choose(
        title, root, [n for n in nodes if n.getparent() is not None], url, rules
    )
    # The headline is page content too (detection reads it); body copies of it were dropped.
    text = "\n".join(part for part in (title, text) if part)
    return Page(title, text, published, author, method, _unique(dropped + line_reasons), enc)


def _choose(
    title: str, root: etree._Element, nodes: list[etree._Element], url: str, rules: Rules
) -> tuple[str, str, list[str]]:
    """Pick rules or trafilatura text (see module docstring); returns (text, method, reasons)."""
    if nodes:
        text, reasons = filter_lines("\n".join(render(n) for n in nodes), rules, title)
        if len(text) >= MIN_RULES_CHARS:
            return text, "rules", reasons
    rules_text, rule_reasons = "", []
    for group in _density_blocks(root, rules):
        rules_text, rule_reasons = filter_lines("\n".join(map(render, group)), rules, title)
        if prose_score(rules_text) >= MIN_TEXT_CHARS:
            break
    traf_text, traf_reasons = filter_lines(_trafilatura(root, url), rules, title)
    best = max(
        (prose_score(rules_text), 1, rules_text, "rules", rule_reasons),
        (prose_score(traf_text), 0, traf_text, "trafilatura", traf_reasons),
    )
    if best[0] >= MIN_TEXT_CHARS:
        return best[2], best[3], best[4]
    body = root.find("body")
    text, reasons = filter_lines(render(body if body is not None else root), rules, title)
    return text, "fallback", reasons
