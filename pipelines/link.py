"""Linking documents: actors (documents sharing contacts) and templates (near-duplicate texts).

Actors come from union-find over documents and the phones, WeChat/QQ ids and emails they
mention; every cluster keeps *why* it was joined (which contact, on which documents), so an
analyst can defend "these posts are one promoter". Templates come from MinHash signatures of
character shingles with LSH banding, so one wording copied by many accounts is found without
comparing all pairs. Both have a batch function and an incremental class that agree.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import opencc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pipelines.normalize import INVISIBLE, is_decoration

DocId = Hashable  # int in the database, str in files; must be orderable among themselves
ContactKey = tuple[str, str]  # (kind, normalized value)

# Contact kinds that identify a promoter. URLs are left out: they are mostly hosts of the big
# platforms the ads are posted on (weibo.com, zhihu.com) and would join unrelated posts.
LINK_KINDS = frozenset({"phone", "wechat", "qq", "email"})

# A contact on more documents than this is a hub, not a person: a platform's customer-service
# number or a hotline quoted on every page of a site would otherwise merge everything into one
# "actor". 500 leaves room for a busy promoter reposting one WeChat id for months; it is a
# guess to revisit against real crawls (the `link` command reports how many hubs it skipped).
MAX_DOCS_PER_CONTACT = 500

# Character shingles of 5: long enough that two unrelated Chinese texts share few of them
# (common 2–3 character words do not count), short enough that an edited name or a changed
# sentence only touches a handful.
SHINGLE = 5
# 64 permutations = 16 bands x 4 rows. Probability that a pair becomes a candidate:
# Jaccard 0.8 → 0.9998, 0.6 → 0.89, 0.5 → 0.64, 0.4 → 0.34, 0.2 → 0.03; candidates are then
# verified on the full signature (standard error of the estimate ≈ 0.06 at 0.6).
NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
# Estimated Jaccard of the masked shingle sets above which two texts are one template.
# Measured on tests/test_templates_swaps.py (20 campaigns reposted 3–5 times with other
# platform, team, firm and person names, numbers, contacts, titles and a few rewordings, plus
# 60 unrelated short posts on the same services): same-campaign pairs score 0.39–1.0 (5th
# percentile 0.59), unrelated pairs at most 0.06; on five corpus seeds 0.5 groups 0.98–1.0 of
# the same-template pairs at precision 1.0 (0.6 lost up to 6%). Copies of one 代理退保
# complaint with other names and phones score 0.94–0.95, with one sentence reworded 0.80.
TEMPLATE_THRESHOLD = 0.5
# Texts shorter than this (after normalization and masking) are not templated: "加微信详聊"
# style one-liners are identical across unrelated promoters and say nothing about a template.
MIN_TEMPLATE_CHARS = 40
# Characters hashed per numpy batch: keeps the (permutations x shingles) matrix at ~2 MB;
# 12x bigger batches were 1.7x slower here (page faults on the temporaries).
_BATCH_CHARS = 8_000
_EDGE_CHUNK = 50_000  # candidate pairs verified per step: 2 x 12 MB of gathered signatures
_SEED = 20231027  # fixed: signatures (and so clusters) must be the same on every run

_rng = np.random.default_rng(_SEED)
_PERM_A = _rng.integers(0, 2**31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
_PERM_B = _rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32)
_BAND_MIX = _rng.integers(1, 2**63, ROWS, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_FNV = np.uint64(0x100000001B3)


# ---------------------------------------------------------------------------------- actors


@dataclass(frozen=True, slots=True)
class DocContacts:
    """What one document says about who is behind it."""

    doc_id: DocId
    contacts: frozenset[ContactKey] = frozenset()
    businesses: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ActorCluster:
    """Documents that share contacts, and the evidence: which contact joined which documents."""

    doc_ids: tuple[DocId, ...]
    contacts: tuple[ContactKey, ...]
    businesses: tuple[str, ...]
    why: tuple[tuple[ContactKey, tuple[DocId, ...]], ...]  # contacts seen on >= 2 documents


@dataclass(frozen=True, slots=True)
class ActorMerge:
    """Two clusters (named by their smallest document id) became one through `via`."""

    doc_id: DocId  # the document being added
    via: ContactKey
    kept: DocId
    absorbed: DocId


@dataclass
class ActorLinker:
    """Incremental actor clustering: add documents over time, get the merges they cause.

    A contact that grows past `max_docs_per_contact` becomes a hub; the linker then rebuilds
    its union-find without it (clusters it alone held together split again).
    """

    max_docs_per_contact: int = MAX_DOCS_PER_CONTACT
    _docs: dict[DocId, DocContacts] = field(default_factory=dict)
    _by_contact: dict[ContactKey, list[DocId]] = field(default_factory=dict)
    _parent: dict[DocId, DocId] = field(default_factory=dict)
    hubs: set[ContactKey] = field(default_factory=set)

    def add(self, doc: DocContacts) -> list[ActorMerge]:
        """Add (or replace) a document; returns the merges it caused, in order."""
        if doc.doc_id in self._docs:
            self._remove(doc.doc_id)
        self._docs[doc.doc_id] = doc
        self._parent[doc.doc_id] = doc.doc_id
        merges: list[ActorMerge] = []
        new_hub = False
        for contact in sorted(c for c in doc.contacts if c[0] in LINK_KINDS):
            docs = self._by_contact.setdefault(contact, [])
            docs.append(doc.doc_id)
            if contact in self.hubs:
                continue
            if len(docs) > self.max_docs_per_contact:
                new_hub = True
                self.hubs.add(contact)
            elif len(docs) > 1:
                merged = self._union(docs[0], doc.doc_id)
                if merged:
                    merges.append(ActorMerge(doc.doc_id, contact, *merged))
        if new_hub:
            self._rebuild()
        return merges

    def find(self, doc_id: DocId) -> DocId:
        """The cluster id of a document: the smallest document id in its cluster."""
        parent = self._parent
        root = doc_id
        while parent[root] != root:
            parent[root] = parent[parent[root]]  # path halving
            root = parent[root]
        return root

    def clusters(self) -> list[ActorCluster]:
        """All clusters, biggest first (single documents included)."""
        groups: dict[DocId, list[DocId]] = defaultdict(list)
        for doc_id in self._docs:
            groups[self.find(doc_id)].append(doc_id)
        out = [self._cluster(sorted(ids)) for ids in groups.values()]
        out.sort(key=lambda c: (-len(c.doc_ids), c.doc_ids[0]))
        return out

    def to_json(self) -> str:
        """The linker's state as JSON (documents and cap; the union-find is rebuilt on load)."""
        docs = [
            [d.doc_id, sorted(map(list, d.contacts)), sorted(d.businesses)]
            for d in self._docs.values()
        ]
        return json.dumps({"max_docs_per_contact": self.max_docs_per_contact, "docs": docs})

    @classmethod
    def from_json(cls, state: str) -> ActorLinker:
        """Rebuild a linker from `to_json` output."""
        data: dict[str, Any] = json.loads(state)
        linker = cls(max_docs_per_contact=int(data["max_docs_per_contact"]))
        for doc_id, contacts, businesses in data["docs"]:
            contact_set = frozenset((k, v) for k, v in contacts)
            linker.add(DocContacts(doc_id, contact_set, frozenset(businesses)))
        return linker

    def _union(self, a: DocId, b: DocId) -> tuple[DocId, DocId] | None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return None
        kept, absorbed = (ra, rb) if ra < rb else (rb, ra)  # type: ignore[operator]
        self._parent[absorbed] = kept
        return kept, absorbed

    def _linking(self, contact: ContactKey) -> bool:
        return contact not in self.hubs and len(self._by_contact.get(contact, ())) > 1

    def _rebuild(self) -> None:
        self._parent = {d: d for d in self._docs}
        for contact, docs in self._by_contact.items():
            if contact not in self.hubs:
                for other in docs[1:]:
                    self._union(docs[0], other)

    def _remove(self, doc_id: DocId) -> None:
        old = self._docs.pop(doc_id)
        for contact in old.contacts:
            docs = self._by_contact.get(contact)
            if docs and doc_id in docs:
                docs.remove(doc_id)
        self._rebuild()

    def _cluster(self, ids: list[DocId]) -> ActorCluster:
        contacts: set[ContactKey] = set()
        businesses: set[str] = set()
        for doc_id in ids:
            doc = self._docs[doc_id]
            contacts.update(c for c in doc.contacts if c[0] in LINK_KINDS and c not in self.hubs)
            businesses.update(doc.businesses)
        why = tuple(
            (c, tuple(sorted(self._by_contact[c])))  # type: ignore[type-var]
            for c in sorted(contacts)
            if self._linking(c)
        )
        return ActorCluster(tuple(ids), tuple(sorted(contacts)), tuple(sorted(businesses)), why)


def cluster_actors(
    docs: Iterable[DocContacts], max_docs_per_contact: int = MAX_DOCS_PER_CONTACT
) -> list[ActorCluster]:
    """Cluster documents by shared contacts (hubs past the cap excluded), biggest first."""
    doc_list = list(docs)
    counts: dict[ContactKey, int] = defaultdict(int)
    for doc in doc_list:
        for c in doc.contacts:
            counts[c] += 1
    linker = ActorLinker(max_docs_per_contact)
    # Declaring the hubs up front means no rebuild happens while adding.
    linker.hubs = {c for c, n in counts.items() if n > max_docs_per_contact and c[0] in LINK_KINDS}
    for doc in doc_list:
        linker.add(doc)
    return linker.clusters()


# ------------------------------------------------------------------------------- templates

# ASCII runs left after compaction: ids, phone digits, emails, urls. Masked as "0" when they
# hold a digit or are 5+ letters long, so one template with different contacts still matches;
# short words (vx, wx, qq, app) are kept, they are part of the wording.
_ASCII_RUN = re.compile(r"[a-z0-9]+")
# Runs of Chinese numerals (两万, 二十四, 百分之九十's 九十): amounts and counts campaigns swap.
_HAN_NUMBER = re.compile(r"[零一二三四五六七八九十百千万亿两]{2,}")
# What reposts of one campaign swap besides numbers and contacts, masked as "〇" before
# comparing: quoted names (“鼎盛资本”, 「恒信金服」, 【…】), the name before 平台/团队/工作室/
# 公司/… with it (up to 16 characters back to punctuation or a function word: 在汇丰达国际平台
# → 在〇), and a surname with its title (王经理, 李老师 → 〇).
NAME_MASK = "〇"
_SEP = "\x1f"  # punctuation while names are masked: a name never runs across a sentence
_QUOTED = re.compile(r"[“\"「『【]([^“”\"「」『』【】\n]{1,15})[”\"」』】]")
_OPENING_QUOTES = ("“", '"', "「", "『", "【")
_NAME_SUFFIXES = (
    "有限公司", "公司", "平台", "团队", "工作室", "资本", "金服", "集团", "中心", "事务所",
    "律所", "服务部", "交易所", "国际",
)  # fmt: skip
# Characters that end a name going backwards: function words and verbs that precede names.
_STOP = (
    "的是在了和与及或被把让给向从对于为到找由跟同请加联系有个这那其该"
    "本我你他她们都也就还等将已只每各吗呢吧啊"
)
_NAMED = re.compile("|".join(sorted(_NAME_SUFFIXES, key=len, reverse=True)))
_TITLED = re.compile("经理|老师|律师|顾问|主任|专员|助理")
_NOT_NAME = frozenset(_STOP + _SEP)


def _mask_names(text: str, suffix: re.Pattern[str], longest: int) -> str:
    """Each `suffix` with the name before it (1 to `longest` letters back to punctuation or a
    function word) as NAME_MASK; a suffix with no name before it is kept. Suffixes are found
    first and names walked back from them (one regex starting with the name's character class
    tries every position of every text, and made cluster_templates about 2.5x slower here)."""
    parts: list[str] = []
    last = 0
    for m in suffix.finditer(text):
        end = start = m.start()
        if start < last:
            continue
        if parts and start == last:  # 汇丰达国际 + 平台: one name, one mask
            last = m.end()
            continue
        while start > last and end - start < longest:
            ch = text[start - 1]
            if ch in _NOT_NAME or not ch.isalnum():
                break
            start -= 1
        if start < end:
            parts += (text[last:start], NAME_MASK)
            last = m.end()
    if not parts:
        return text
    parts.append(text[last:])
    return "".join(parts)


def _mask(match: re.Match[str]) -> str:
    run = match.group()
    return "0" if len(run) >= 5 or not run.isalpha() else run


def _is_punct(ch: str) -> bool:
    """Sentence punctuation: compact() keeps it (terms must not match across sentences), but
    copies of one template re-punctuated ("，" → " ✨ ") must still match, so it goes here."""
    return unicodedata.category(ch).startswith("P")


class _Folder(dict[int, str]):
    """str.translate table: per character what normalize() + compact() turn it into (NFKC,
    invisibles and decorations dropped, ASCII lower-cased), punctuation as _SEP, once per
    character."""

    def __missing__(self, code: int) -> str:
        out = "".join(
            _SEP if _is_punct(c) else c.lower() if c.isascii() else c
            for c in unicodedata.normalize("NFKC", chr(code))
            if c not in INVISIBLE and not is_decoration(c)
        )
        self[code] = out
        return out


_FOLDER = _Folder()


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def template_body(text: str, title: str) -> str:
    """The text without its title line: analysis stores a page as its title, a newline and the
    body, and reposts of one body come under titles of their own."""
    if title and text.startswith(title + "\n"):
        return text[len(title) + 1 :]
    return text


def template_text(text: str) -> str | None:
    """The text templates are compared on: the normalized, compacted text (as
    `compact(normalize(text))`, without its offset map) without punctuation, with what
    campaigns swap masked (ids and digit runs as "0", Chinese numerals as "0", quoted names,
    platform/team/firm names and surnames before titles as NAME_MASK); None when shorter than
    MIN_TEMPLATE_CHARS.

    One translate table replaces normalize()'s per-character offset bookkeeping, which made
    this 4x slower on every text with full-width punctuation; tests check both agree.
    """
    quoted = _QUOTED.sub(NAME_MASK, text) if any(q in text for q in _OPENING_QUOTES) else text
    folded = _t2s().convert(quoted.translate(_FOLDER))
    folded = _ASCII_RUN.sub(_mask, folded)
    folded = _HAN_NUMBER.sub("0", folded)
    folded = _mask_names(_mask_names(folded, _NAMED, 16), _TITLED, 1)
    masked = folded.replace(_SEP, "")
    return masked if len(masked) >= MIN_TEMPLATE_CHARS else None


def _signatures(texts: list[str]) -> np.ndarray:
    """MinHash signatures (len(texts) x NUM_PERM, uint32) of the 5-character shingle sets."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    cps = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n_sh = len(cps) - SHINGLE + 1
    h = cps[:n_sh].copy()
    for j in range(1, SHINGLE):
        h = (h * _FNV) ^ cps[j : j + n_sh]
    # splitmix64 finalizer: spreads the code-point mix over all 64 bits
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    # keep only shingles that start and end inside one text
    valid = np.ones(n_sh, dtype=bool)
    for back in range(1, SHINGLE):
        ends = starts[1:] - back
        valid[ends[ends >= 0]] = False
    h = h[valid]
    sh_starts = starts - np.arange(len(texts)) * (SHINGLE - 1)
    # 32-bit affine maps of the (already well mixed) shingle hashes stand in for permutations;
    # uint32 is 5x faster than 64-bit multiply-shift here, with the same estimation error
    # (bench/link.py checks the estimate against exact Jaccard). Rows are permutations, so
    # each text's minimum is taken over a contiguous slice.
    h32 = (h >> np.uint64(32)).astype(np.uint32)
    perm = np.multiply(_PERM_A[:, None], h32[None, :])
    perm += _PERM_B[:, None]
    return np.minimum.reduceat(perm, sh_starts, axis=1).T.copy()


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of one text (NUM_PERM uint32), or None if it is too short."""
    masked = template_text(text)
    return None if masked is None else _signatures([masked])[0]


def similarity(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two texts' masked shingle sets (0 if either is short)."""
    sa, sb = signature(a), signature(b)
    if sa is None or sb is None:
        return 0.0
    return float(np.mean(sa == sb))


def _band_keys(sigs: np.ndarray, band: int) -> np.ndarray:
    """The uint64 bucket key of every document in one band."""
    rows = sigs[:, band * ROWS : (band + 1) * ROWS].astype(np.uint64)
    return (rows * _BAND_MIX).sum(axis=1, dtype=np.uint64)


def _signature_batches(
    docs: Iterable[tuple[DocId, str]],
) -> Iterator[tuple[list[DocId], np.ndarray]]:
    """Signatures in batches of about _BATCH_CHARS characters, short texts dropped."""
    ids: list[DocId] = []
    texts: list[str] = []
    size = 0
    for doc_id, text in docs:
        masked = template_text(text or "")
        if masked is None:
            continue
        ids.append(doc_id)
        texts.append(masked)
        size += len(masked)
        if size >= _BATCH_CHARS:
            yield ids, _signatures(texts)
            ids, texts, size = [], [], 0
    if ids:
        yield ids, _signatures(texts)


@dataclass(frozen=True, slots=True)
class TemplateCluster:
    """Near-duplicate documents; the representative is the first one given (the oldest)."""

    doc_ids: tuple[DocId, ...]
    representative_id: DocId
    similarity_min: float  # lowest estimated similarity of a member to the representative


def _verified_edges(sigs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs from LSH bands (each document to the previous one in its bucket),
    kept when the full signatures agree on at least `threshold` of the permutations."""
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    for band in range(BANDS):
        keys = _band_keys(sigs, band)
        order = np.argsort(keys, kind="stable")
        same = keys[order[1:]] == keys[order[:-1]]
        a, b = order[:-1][same], order[1:][same]
        for lo in range(0, len(a), _EDGE_CHUNK):  # bound the gathered signature copies
            ca, cb = a[lo : lo + _EDGE_CHUNK], b[lo : lo + _EDGE_CHUNK]
            ok = (sigs[ca] == sigs[cb]).sum(axis=1) >= threshold * NUM_PERM
            src.append(ca[ok])
            dst.append(cb[ok])
    if not src:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(src), np.concatenate(dst)


def cluster_templates(
    docs: Iterable[tuple[DocId, str]],
    threshold: float = TEMPLATE_THRESHOLD,
    progress: Callable[[int], None] | None = None,
) -> list[TemplateCluster]:
    """Near-duplicate clusters (2+ documents) among `docs`, biggest first.

    Single linkage over LSH candidates verified on the signature; memory is the signatures
    (256 bytes a document) plus one band of keys at a time. `progress(n)` gets documents done.
    """
    ids: list[DocId] = []
    parts: list[np.ndarray] = []
    for batch_ids, sigs in _signature_batches(docs):
        ids.extend(batch_ids)
        parts.append(sigs)
        if progress:
            progress(len(ids))
    if len(ids) < 2:
        return []
    sigs = np.concatenate(parts)
    del parts
    src, dst = _verified_edges(sigs, threshold)
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(len(ids), len(ids)))
    _, labels = connected_components(graph, directed=False)
    return _clusters_from_labels(ids, sigs, labels)


def _clusters_from_labels(
    ids: list[DocId], sigs: np.ndarray, labels: np.ndarray
) -> list[TemplateCluster]:
    sizes = np.bincount(labels)
    multi = np.flatnonzero(sizes[labels] > 1)  # members of clusters of 2+, in input order
    order = multi[np.argsort(labels[multi], kind="stable")]
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    out: list[TemplateCluster] = []
    for members in np.split(order, bounds) if len(order) else []:
        rep = members[0]
        sim = float((sigs[members[1:]] == sigs[rep]).mean(axis=1).min())
        out.append(TemplateCluster(tuple(ids[i] for i in members), ids[rep], sim))
    out.sort(key=lambda c: -len(c.doc_ids))
    return out


class TemplateIndex:
    """Incremental template clustering: `add` a document, get its cluster's representative.

    Same edges as `cluster_templates` (each document against the previous document in each
    of its LSH buckets), so adding documents one by one gives the batch result.
    """

    def __init__(self, threshold: float = TEMPLATE_THRESHOLD) -> None:
        self.threshold = threshold
        self._ids: list[DocId] = []
        self._sigs = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self._parent: list[int] = []
        self._buckets: list[dict[int, int]] = [{} for _ in range(BANDS)]

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, doc_id: DocId, text: str) -> DocId | None:
        """Index a document; returns its template's representative id (None: too short)."""
        sig = signature(text)
        if sig is None:
            return None
        i = len(self._ids)
        if i == len(self._sigs):
            self._sigs = np.concatenate([self._sigs, np.empty_like(self._sigs)])
        self._sigs[i] = sig
        self._ids.append(doc_id)
        self._parent.append(i)
        for band in range(BANDS):
            key = int(_band_keys(sig[None, :], band)[0])
            prev = self._buckets[band].get(key)
            self._buckets[band][key] = i
            if prev is not None and (self._sigs[prev] == sig).sum() >= self.threshold * NUM_PERM:
                self._union(prev, i)
        return self._ids[self._find(i)]

    def clusters(self) -> list[TemplateCluster]:
        """Clusters of 2+ documents, biggest first (same shape as `cluster_templates`)."""
        labels = np.fromiter((self._find(i) for i in range(len(self._ids))), dtype=np.int64)
        return _clusters_from_labels(self._ids, self._sigs[: len(self._ids)], labels)

    def _find(self, i: int) -> int:
        parent = self._parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)  # the oldest document stays the root


# ------------------------------------------------------------------------ suggested actors

# Posts of one template from one place closer together than this are suggested as one actor:
# the founding case was three "customers" posting one complaint within a day; 72 h leaves room
# for a promoter posting over a weekend.
SUGGEST_WINDOW_HOURS = 72


@dataclass(frozen=True, slots=True)
class Post:
    """One document as the suggestion sees it: who posted which template, where and when."""

    doc_id: DocId
    account: str  # the posting account ("" when the page shows none)
    location: str  # IP location as shown ("广东"); "" when unknown
    when: datetime
    template_id: Hashable


@dataclass(frozen=True, slots=True)
class SuggestionEvidence:
    """Why accounts were suggested as one: posts of one template from one place, close in time."""

    template_id: Hashable
    location: str
    posts: tuple[Post, ...]  # oldest first


@dataclass(frozen=True, slots=True)
class SuggestedActor:
    """Accounts that posted template wording from one place within the window: a suggestion
    for review, never proof (proof is a shared contact: `cluster_actors`)."""

    accounts: tuple[str, ...]
    doc_ids: tuple[DocId, ...]
    evidence: tuple[SuggestionEvidence, ...]


def _account_key(post: Post) -> str:
    return post.account or f"#{post.doc_id}"  # an anonymous post is its own account


def suggest_actors(
    posts: Iterable[Post], window: timedelta = timedelta(hours=SUGGEST_WINDOW_HOURS)
) -> list[SuggestedActor]:
    """Suggested actors, biggest first: per (template, location), posts each within `window`
    of the previous one form a run; a run by 2+ accounts links them, and accounts linked by
    several runs (templates, places, times) are one suggestion with every run as evidence."""
    groups: dict[tuple[Hashable, str], list[Post]] = defaultdict(list)
    for post in posts:
        if post.location and post.template_id is not None:
            groups[(post.template_id, post.location)].append(post)
    runs: list[SuggestionEvidence] = []
    for (template_id, location), members in groups.items():
        members.sort(key=lambda p: (p.when, str(p.doc_id)))
        run = [members[0]]
        for post in [*members[1:], None]:
            if post is not None and post.when - run[-1].when <= window:
                run.append(post)
                continue
            if len({_account_key(p) for p in run}) > 1:
                runs.append(SuggestionEvidence(template_id, location, tuple(run)))
            if post is not None:
                run = [post]
    parent: dict[str, str] = {}

    def find(a: str) -> str:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for ev in runs:
        keys = sorted({_account_key(p) for p in ev.posts})
        for other in keys[1:]:
            ra, rb = find(keys[0]), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    by_root: dict[str, list[SuggestionEvidence]] = defaultdict(list)
    for ev in runs:
        by_root[find(_account_key(ev.posts[0]))].append(ev)
    out = []
    for evs in by_root.values():
        evs.sort(key=lambda e: (e.posts[0].when, str(e.template_id), e.location))
        posts_all = {p.doc_id: p for e in evs for p in e.posts}
        accounts = sorted({_account_key(p) for p in posts_all.values()})
        doc_ids = tuple(sorted(posts_all, key=lambda d: (posts_all[d].when, str(d))))
        out.append(SuggestedActor(tuple(accounts), doc_ids, tuple(evs)))
    out.sort(key=lambda s: (-len(s.accounts), s.evidence[0].posts[0].when))
    return out
