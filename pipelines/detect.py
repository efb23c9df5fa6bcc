"""Promotion vs. warning vs. other: a transparent score over lexicon hits and contacts.

A regulator notice or a news report is full of the same service words as an ad, so the words
alone decide *which service*, and the cues around them decide *who is speaking*: sellers call to
action, guarantee results and give contacts; warnings quote the words and speak of 骗局, 警方,
监管. Every verdict carries the evidence and a one-sentence reason in Chinese.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from pipelines.lexicon import Hit
from pipelines.model import Contact, Detection, Evidence
from pipelines.normalize import NormalizedText

# Summed term weight needed before a page is about a watched service at all: one strong term
# (weight 1.0) or two suggestive ones; a lone generic 退费/退保 (0.4–0.5) is not enough.
MIN_TERM_WEIGHT = 0.8
# A page with only suggestive terms is still a promotion when it pushes this hard (cues +
# contacts), e.g. "退保找我，不成功不收费，加微信".
WEAK_TERM_PUSH = 3.0
# Repeated cues add little: counting distinct cues up to these caps keeps a keyword-stuffed
# page from outscoring a normal one.
MAX_PROMO_CUES = 4
MAX_WARNING_CUES = 6
# Contacts are the strongest sign of selling: an ad exists to be answered.
CONTACT_WEIGHT = 1.5
EXTRA_CONTACT_KIND_WEIGHT = 0.5
# A service word inside quotation marks is how news and notices name a practice (“征信修复”).
QUOTED_TERM_WEIGHT = 0.5
QUOTES_OPEN = "“「『\"'‘《"
QUOTES_CLOSE = "”」』\"'’》"
SELLING_CONTACTS = ("phone", "wechat", "qq")


def _distinct(hits: Sequence[Hit]) -> list[str]:
    seen: dict[str, None] = {}
    for h in hits:
        seen.setdefault(h.entry.term, None)
    return list(seen)


def _quoted(view: NormalizedText, hit: Hit) -> bool:
    s, e = view.to_original(hit.start, hit.end)
    orig = view.original
    before = orig[s - 1] if s > 0 else ""
    after = orig[e] if e < len(orig) else ""
    return bool(before) and before in QUOTES_OPEN and bool(after) and after in QUOTES_CLOSE


def _category_weights(terms: Sequence[Hit]) -> dict[str, float]:
    """Sum of distinct term weights per category (a term repeated counts once)."""
    seen: set[str] = set()
    weights: dict[str, float] = defaultdict(float)
    for h in terms:
        if h.entry.term not in seen:
            seen.add(h.entry.term)
            weights[h.entry.label] += h.entry.weight
    return weights


def detect(view: NormalizedText, hits: Sequence[Hit], contacts: Sequence[Contact]) -> Detection:
    """Decide the kind, categories and score of a document from its lexicon hits and contacts.

    `view` is the compact view the hits index; evidence spans are mapped to the original text.
    """
    terms = [h for h in hits if h.entry.kind == "term"]
    promo = [h for h in hits if h.entry.kind == "promotion_cue"]
    warn = [h for h in hits if h.entry.kind == "warning_cue"]

    cat_weights = _category_weights(terms)
    total_terms = sum(cat_weights.values())
    categories = tuple(
        sorted((c for c, w in cat_weights.items() if w >= 0.5), key=lambda c: -cat_weights[c])
    )
    contact_kinds = {c.kind for c in contacts if c.kind in SELLING_CONTACTS}
    contact_push = (
        CONTACT_WEIGHT + EXTRA_CONTACT_KIND_WEIGHT * (len(contact_kinds) - 1)
        if contact_kinds
        else 0.0
    )
    promo_cues = _distinct(promo)
    warn_cues = _distinct(warn)
    quoted = sum(1 for h in terms if _quoted(view, h))
    push = min(len(promo_cues), MAX_PROMO_CUES) + contact_push
    caution = min(len(warn_cues), MAX_WARNING_CUES) + QUOTED_TERM_WEIGHT * quoted

    if total_terms < MIN_TERM_WEIGHT and not (total_terms > 0 and push >= WEAK_TERM_PUSH):
        kind, categories = "other", ()
        reason = "其他：未命中足够的服务类词语" + (
            f"（仅 {'、'.join(_distinct(terms))}）" if terms else ""
        )
    elif caution >= 1 and caution >= push:
        kind = "warning"
        reason = (
            f"警示/新闻：警示用语 {len(warn_cues)} 个（{'、'.join(warn_cues[:5])}）"
            f"{f'、引号内服务词 {quoted} 处' if quoted else ''}，不少于推广信号 {push:g}"
        )
    elif push >= 1:
        kind = "promotion"
        parts = [f"服务词 {'、'.join(_distinct(terms)[:5])}"]
        if promo_cues:
            parts.append(f"推广用语 {'、'.join(promo_cues[:5])}")
        if contact_kinds:
            parts.append(f"联系方式 {len([c for c in contacts if c.kind in SELLING_CONTACTS])} 个")
        reason = "推广：" + "；".join(parts)
    else:
        kind = "other"
        reason = "其他：提及服务类词语，但无推广用语或联系方式，也无警示用语"

    x = 0.6 * total_terms + 0.45 * push - 0.5 * caution
    score = 1.0 - math.exp(-max(x, 0.0) / 1.5)
    # Keep the score consistent with the kind: ≥ 0.5 means "promotion", so --min-score 0.5
    # selects exactly the leads.
    score = max(score, 0.5) if kind == "promotion" else min(score, 0.49)
    if kind == "other" and not terms:
        score = 0.0

    evidence = tuple(_evidence(view, h) for h in hits)
    return Detection(kind, categories, round(score, 4), evidence, reason)


def _evidence(view: NormalizedText, hit: Hit) -> Evidence:
    s, e = view.to_original(hit.start, hit.end)
    return Evidence(hit.entry.kind, hit.entry.label, hit.entry.term, view.original[s:e], s, e)  # type: ignore[arg-type]
