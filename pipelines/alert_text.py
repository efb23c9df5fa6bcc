"""Alert message text in Chinese (subject and body) from an event's stored payload.

Scraped words (titles, contacts, excerpts) are hostile: control and bidi characters are
stripped everywhere, and subjects are cut to one short line so no header can be injected.
Pure functions: payload dicts in, `AlertText` out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# C0/C1 controls (tab and newline handled apart), DEL, line/paragraph separators, bidi
# overrides and isolates, zero-width characters and the BOM.
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
SUBJECT_CHARS = 120
FIELD_CHARS = 300


@dataclass(frozen=True)
class AlertText:
    """One message: a one-line subject and a plain-text body."""

    subject: str
    body: str


def clean(value: Any, limit: int = FIELD_CHARS) -> str:
    """Scraped text made safe to show: controls stripped, whitespace runs folded, cut."""
    text = _CONTROLS.sub("", str(value if value is not None else ""))
    text = " ".join(text.replace("\t", " ").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(value: Any, limit: int = SUBJECT_CHARS) -> str:
    """A header-safe line: no CR/LF or other controls, at most `limit` characters."""
    return clean(value, limit)


def _words(words: list[Any]) -> str:
    shown = [f"“{clean(w, 40)}”" for w in words[:8] if clean(w, 40)]
    return "、".join(shown) if shown else "（无）"


def _lead(p: dict[str, Any]) -> AlertText:
    cats = "、".join(clean(c, 30) for c in p.get("category_labels") or p.get("categories") or [])
    title = clean(p.get("title"), 80) or clean(p.get("url"), 80)
    subject = one_line(f"新线索：{cats or '未分类'}（评分 {float(p.get('score', 0)):.2f}）{title}")
    body = "\n".join(
        [
            "发现一条新的推广线索。",
            f"类别：{cats or '未分类'}",
            f"评分：{float(p.get('score', 0)):.2f}（规则阈值 {float(p.get('min_score', 0)):.2f}）",
            f"命中词：{_words(p.get('words') or [])}",
            f"判断理由：{clean(p.get('reason'), 300)}",
            f"标题：{title}",
            f"来源：{clean(p.get('source_id'), 100)}",
            f"链接：{clean(p.get('url'), 500)}",
        ]
    )
    return AlertText(subject, body)


def _actor(p: dict[str, Any]) -> AlertText:
    label = clean(p.get("label"), 80) or f"#{p.get('actor_id')}"
    subject = one_line(f"新发布者：{label}（{int(p.get('size', 0))} 个页面）")
    body = "\n".join(
        [
            "发现一个新的发布者（多个页面共用联系方式）。",
            f"发布者：{label}",
            f"页面数：{int(p.get('size', 0))}",
            f"联系方式：{_words(p.get('contacts') or [])}",
            f"首次出现：{clean(p.get('first_seen'), 40)}",
            f"示例链接：{clean(p.get('url'), 500)}",
        ]
    )
    return AlertText(subject, body)


def _burst(p: dict[str, Any]) -> AlertText:
    subject = one_line(
        f"模板集中发布：{int(p.get('accounts', 0))} 个账号 {float(p.get('hours', 0)):g} 小时内"
        f"使用同一文案"
    )
    body = "\n".join(
        [
            "同一段推广文案在短时间内被多个账号发布。",
            f"账号数：{int(p.get('accounts', 0))}（规则：{float(p.get('hours', 0)):g} 小时内"
            f"至少 {int(p.get('threshold', 0))} 个）",
            f"账号：{_words(p.get('account_names') or [])}",
            f"文案摘录：{clean(p.get('excerpt'), 200)}",
            f"示例链接：{clean(p.get('url'), 500)}",
        ]
    )
    return AlertText(subject, body)


def _failing(p: dict[str, Any]) -> AlertText:
    source = clean(p.get("source_id"), 100)
    subject = one_line(f"来源连续失败：{source} 最近 {int(p.get('runs', 0))} 次抓取均失败")
    body = "\n".join(
        [
            "一个来源连续多次抓取失败，请检查站点是否改版、封禁或不可达。",
            f"来源：{source}",
            f"连续失败次数：{int(p.get('runs', 0))}",
            f"失败的运行：{', '.join(str(int(r)) for r in p.get('run_ids') or [])}",
            f"最近一次的原因：{clean(p.get('last_message'), 300)}",
        ]
    )
    return AlertText(subject, body)


_RENDER = {
    "new_lead": _lead,
    "new_actor": _actor,
    "template_burst": _burst,
    "source_failing": _failing,
}


def render_event(payload: dict[str, Any]) -> AlertText:
    """The message for one event (payload['kind'] says which rule kind made it)."""
    text = _RENDER[str(payload.get("kind"))](payload)
    rule = clean(payload.get("rule"), 64)
    return AlertText(one_line(f"[greywatch] {text.subject}"), f"{text.body}\n规则：{rule}\n")


def render_digest(rule_id: str, day: str, payloads: list[dict[str, Any]]) -> AlertText:
    """One daily message listing every event a digest rule collected."""
    parts = [f"规则 {clean(rule_id, 64)} 在 {clean(day, 20)} 的汇总：共 {len(payloads)} 条。", ""]
    for i, payload in enumerate(payloads, 1):
        text = _RENDER[str(payload.get("kind"))](payload)
        parts += [f"{i}. {text.subject}", *("   " + line for line in text.body.splitlines()), ""]
    subject = one_line(
        f"[greywatch] 每日汇总 {clean(day, 20)}：{clean(rule_id, 64)} {len(payloads)} 条"
    )
    return AlertText(subject, "\n".join(parts))
