"""12315 evidence packs: one folder + zip per business, every file listed with its SHA-256.

A 12315 举报 names the target, states the facts and attaches evidence. The pack gathers all
three from the database: the target from its registration match, the facts drafted only from
captured pages (dates, sources, counts, quoted wording), and the captured pages themselves,
byte-identical to what was fetched (their SHA-256 equals the one stored at fetch time).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.errors import GreywatchError, StorageError
from pipelines.violations import BusinessFacts, PageTerms, Violation, suspected_violations
from storage.db import data_dir
from storage.exports import (
    atomic_file,
    category_label,
    check_output_dir,
    china_time,
    contact_text,
    current_user,
    make_folder,
    sha256_file,
)
from storage.models import Document, Entity, ExportLog, Finding, Mention, utcnow
from storage.review import BUSINESS_KINDS, BusinessTarget, resolve_business

# Report layout lives in storage/data (violation wording: pipelines/data/violations.yaml).
TEMPLATES = Path(__file__).resolve().parent / "data"
CONTACT_KINDS = ("phone", "wechat", "qq", "email", "url")
# Characters of context each side of a matched word in an excerpt, and an excerpt's budget:
# enough for the sentence around the word, short enough for a printed evidence table.
EXCERPT_CONTEXT = 40
EXCERPT_MAX = 240
# Context of a quote in the drafted description: the clause around the word, no more.
QUOTE_CONTEXT = 24
# How many quoted passages the drafted description carries (the rest is in the evidence list).
DESCRIPTION_QUOTES = 3
MANIFEST_FORMAT = "greywatch-12315-pack/1"

Segments = list[tuple[str, bool]]  # excerpt pieces: (text, is a matched word)


@dataclass(frozen=True)
class EvidenceItem:
    """One captured page in the pack and why it is there."""

    n: int
    document_id: int
    url: str
    source_id: str
    title: str
    fetched_at: datetime | None
    published_at: datetime | None
    raw_sha256: str
    categories: tuple[str, ...]
    terms: tuple[tuple[str, str], ...]  # (category, lexicon term) of each matched word
    relation: str  # "提及该企业" or "与上述页面联系方式相同：…"
    segments: Segments
    quote: str  # the sentence around the first matched word, for the description
    page_file: str
    screenshot_file: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        """The matched lexicon terms, unique, in page order."""
        return tuple(dict.fromkeys(t for _, t in self.terms))


@dataclass(frozen=True)
class Case:
    """Everything a report says: target, contacts, violations, description, evidence."""

    name: str
    uscc: str
    legal_rep: str
    address: str
    status: str
    scope: str
    aliases: tuple[str, ...]
    verdict: str
    contacts: tuple[str, ...]
    violations: tuple[Violation, ...]
    description: tuple[str, ...]  # paragraphs
    evidence: tuple[EvidenceItem, ...]
    generated_at: datetime
    notes: tuple[str, ...] = ()
    registry_basis: str = ""  # why these registration facts belong to the target


@dataclass(frozen=True)
class PackResult:
    """A built pack: the zip, the files in the folder, and the manifest written with them."""

    zip_path: Path
    files: list[Path]
    manifest: dict[str, Any]
    folder: Path
    case: Case
    notes: list[str] = field(default_factory=list)


def excerpt_segments(
    text: str, spans: Iterable[tuple[int, int]], context: int = EXCERPT_CONTEXT
) -> Segments:
    """Windows of `text` around `spans`, matched words flagged, "…" where text was cut."""
    marks = _merge((max(0, s), min(len(text), e)) for s, e in spans if e > s)
    marks = [(s, e) for s, e in marks if s < len(text)]
    if not marks:
        return [(text[:EXCERPT_MAX] + ("…" if len(text) > EXCERPT_MAX else ""), False)]
    windows = _merge((max(0, s - context), min(len(text), e + context)) for s, e in marks)
    out: Segments = []
    used = 0
    for ws, we in windows:
        if used >= EXCERPT_MAX:
            break
        out.append(("…" if ws > 0 else "", False))
        pos = ws
        for s, e in marks:
            if e <= ws or s >= we:
                continue
            out += [(text[pos:s], False), (text[s:e], True)]
            pos = e
        out.append((text[pos:we], False))
        used += we - ws
    if windows[-1][1] < len(text) or used >= EXCERPT_MAX:
        out.append(("…", False))
    return [(t, hit) for t, hit in out if t]


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def evidence_spans(text: str, evidence: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Spans of the matched words in `text`; a span that does not quote its word is re-found."""
    spans = []
    for ev in evidence:
        raw = str(ev.get("raw", ""))
        s, e = ev.get("span") or (ev.get("start", 0), ev.get("end", 0))
        if raw and text[s:e] != raw:
            s = text.find(raw)
            e = s + len(raw)
        if s >= 0 and e > s:
            spans.append((s, e))
    return spans


def gather_case(session: Session, target: BusinessTarget) -> tuple[Case, list[Document]]:
    """Collect the target's facts and evidence pages (promotions naming it or its contacts)."""
    entity_ids = [e.id for e in target.entities]
    own_docs = _promotion_docs(session, entity_ids)
    if not own_docs:
        raise GreywatchError(
            f"no advertising evidence for {target.name!r}: no promotion page mentions it",
            hint="check the business with `greywatch leads --actor …` or re-run the analysis",
        )
    contacts = _contacts(session, [d.id for d in own_docs], target.entities)
    shared = _shared_contact_docs(session, contacts, {d.id for d in own_docs})
    docs = own_docs + [d for d, _ in shared]
    relations = {d.id: "提及该企业" for d in own_docs}
    relations |= {d.id: f"与上述页面联系方式相同：{label}" for d, label in shared}
    evidence = tuple(_evidence_item(n, d, relations[d.id]) for n, d in enumerate(docs, start=1))
    reg = target.registration
    verdict = target.match.verdict if target.match else ""
    case = Case(
        name=target.name,
        uscc=target.uscc,
        legal_rep=reg.legal_rep if reg else "",
        address=reg.address if reg else "",
        status=reg.status if reg else "",
        scope=reg.scope if reg else "",
        aliases=tuple(
            dict.fromkeys(
                e.display or e.key
                for e in target.entities
                if e.kind == "business" and (e.display or e.key) != target.name
            )
        ),
        verdict=verdict,
        contacts=tuple(contact_text({"kind": e.kind, "value": e.key}) for e in contacts),
        violations=(),
        description=(),
        evidence=evidence,
        generated_at=utcnow(),
        registry_basis=registry_basis(target),
    )
    violations = _violations(case)
    case = _replace(case, violations=violations, description=describe(case))
    return case, docs


def registry_basis(target: BusinessTarget) -> str:
    """Why the registration facts in a report are this business's: the match reason and the
    registry file and row they come from, so a reviewer can check them at the source."""
    reg = target.registration
    if reg is None:
        return ""
    row = f"登记数据文件{Path(reg.source_file).name or '（未记录）'}第{reg.source_row}行"
    match = target.match
    if match is not None and match.registration_id == reg.id and match.reason:
        return f"{match.reason}（{row}）"
    if target.ref.upper() == reg.uscc or target.ref == reg.name:
        how = "统一社会信用代码" if target.ref.upper() == reg.uscc else "登记名称"
        return f"分析人员按{how}“{target.ref}”指定（{row}）"
    return f"与页面中的名称或统一社会信用代码对应（{row}）"


def _replace(case: Case, **changes: Any) -> Case:
    from dataclasses import replace

    return replace(case, **changes)


def _violations(case: Case) -> tuple[Violation, ...]:
    """The violations `pipelines.violations` finds in the case's facts and evidence pages."""
    pages = tuple(PageTerms(ev.categories, ev.terms) for ev in case.evidence)
    facts = BusinessFacts(case.name, case.uscc, case.scope, case.status, case.verdict, pages)
    return suspected_violations(facts)


def describe(case: Case) -> tuple[str, ...]:
    """A short factual account in Chinese: when, where, how many pages, what they said."""
    ev = case.evidence
    times = [t for t in (e.published_at or e.fetched_at for e in ev) if t]
    sources = list(dict.fromkeys(e.source_id or _host(e.url) for e in ev))
    cats = list(dict.fromkeys(category_label(c) for e in ev for c in e.categories))
    kinds = "、".join(f"“{c}”" for c in cats) or "金融"
    span = ""
    if times:
        first, last = _cn_date(min(times)), _cn_date(max(times))
        span = f"{first}至{last}期间，" if first != last else f"{first}，"
    paras = [
        f"{span}在{'、'.join(sources)}共{len(sources)}个网络来源发现{len(ev)}个页面"
        f"以“{case.name}”名义或其联系方式发布{kinds}类服务的推广信息。"
    ]
    if case.contacts:
        paras.append(f"页面留有的联系方式：{'；'.join(case.contacts)}。")
    quotes = [
        f"“{e.quote}”（{e.url}，抓取于{_cn_date(e.fetched_at)}）" for e in ev[:DESCRIPTION_QUOTES]
    ]
    paras.append("部分页面原文如下：" + "；".join(quotes) + "。")
    if case.uscc and case.status:
        paras.append(
            f"企业登记信息显示，该企业统一社会信用代码为{case.uscc}，登记状态为“{case.status}”"
            + (f"，经营范围为“{case.scope}”。" if case.scope else "。")
        )
    paras.append("上述页面均在抓取时保存了原始网页并计算SHA-256校验值，详见证据清单与附件。")
    return tuple(paras)


def _flat(segments: Segments) -> str:
    """An excerpt as one line of plain text (line breaks and runs of spaces made one space)."""
    return " ".join("".join(t for t, _ in segments).split())


def _cn_date(t: datetime | None) -> str:
    c = china_time(t)
    return f"{c.year}年{c.month}月{c.day}日" if c else "（时间不详）"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


def _promotion_docs(session: Session, entity_ids: list[int]) -> list[Document]:
    """Documents mentioning these entities whose finding is a promotion, oldest first."""
    if not entity_ids:
        return []
    return list(
        session.scalars(
            select(Document)
            .join(Finding, Finding.document_id == Document.id)
            .where(
                Finding.kind == "promotion",
                Document.id.in_(
                    select(Mention.document_id).where(Mention.entity_id.in_(entity_ids))
                ),
            )
            .order_by(Document.fetched_at, Document.id)
        ).all()
    )


def _contacts(session: Session, doc_ids: list[int], targets: Iterable[Entity]) -> list[Entity]:
    """Contacts on the target's pages, and those of the actor cluster it belongs to."""
    on_pages = session.scalars(
        select(Entity)
        .join(Mention, Mention.entity_id == Entity.id)
        .where(Mention.document_id.in_(doc_ids), Entity.kind.in_(CONTACT_KINDS))
        .order_by(Entity.id)
    ).all()
    actor_ids = {e.actor_id for e in [*targets, *on_pages] if e.actor_id is not None}
    in_cluster = (
        session.scalars(
            select(Entity)
            .where(Entity.actor_id.in_(actor_ids), Entity.kind.in_(CONTACT_KINDS))
            .order_by(Entity.id)
        ).all()
        if actor_ids
        else []
    )
    return list({e.id: e for e in [*on_pages, *in_cluster]}.values())


def _shared_contact_docs(
    session: Session, contacts: list[Entity], known: set[int]
) -> list[tuple[Document, str]]:
    """Other promotion pages carrying one of these contacts, with the contact they share."""
    out: dict[int, tuple[Document, str]] = {}
    for entity in contacts:
        for doc in _promotion_docs(session, [entity.id]):
            if doc.id not in known and doc.id not in out:
                out[doc.id] = (doc, contact_text({"kind": entity.kind, "value": entity.key}))
    return sorted(out.values(), key=lambda p: (_utc_key(p[0].fetched_at), p[0].id))


def _utc_key(t: datetime | None) -> str:
    c = china_time(t)
    return c.isoformat() if c else ""


def _evidence_item(n: int, doc: Document, relation: str) -> EvidenceItem:
    finding = doc.finding
    evidence = list(finding.evidence or []) if finding else []
    text = doc.text or ""
    terms = [e for e in evidence if e.get("kind") == "term"]
    spans = evidence_spans(text, terms)
    return EvidenceItem(
        n=n,
        document_id=doc.id,
        url=doc.url,
        source_id=doc.source_id or "",
        title=doc.title,
        fetched_at=doc.fetched_at,
        published_at=doc.published_at,
        raw_sha256=doc.raw_sha256,
        categories=tuple(finding.categories or []) if finding else (),
        terms=tuple(
            (str(e.get("label", "")), str(e.get("term") or e.get("raw")))
            for e in terms
            if e.get("term") or e.get("raw")
        ),
        relation=relation,
        segments=excerpt_segments(text, spans),
        quote=_flat(excerpt_segments(text, sorted(spans)[:1], QUOTE_CONTEXT)),
        page_file=f"pages/{n:02d}-doc{doc.id}.html",
    )


def pack_slug(case: Case, target: BusinessTarget) -> str:
    """An ASCII folder name: 12315-<USCC>, or 12315-entity<id> for an unregistered name."""
    return f"12315-{case.uscc}" if case.uscc else f"12315-entity{target.entities[0].id}"


def build_pack(
    session: Session, business: str, out_dir: Path, user: str | None = None
) -> PackResult:
    """Build the evidence pack of one business (name, USCC or entity id) under `out_dir`."""
    from storage.report_render import render_docx, render_html

    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    target = resolve_business(session, business)
    case, docs = gather_case(session, target)
    make_folder(out_dir)
    slug = pack_slug(case, target)
    work = Path(tempfile.mkdtemp(prefix=f".{slug}.", dir=out_dir))
    try:
        case = _write_pages(case, docs, work)
        notes = list(case.notes)
        (work / "report.html").write_text(render_html(case), encoding="utf-8")
        if not render_docx(case, work / "report.docx"):
            notes.append("python-docx is not installed: report.docx was not written")
        manifest = _manifest(case, work, business)
        (work / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        folder = out_dir / slug
        if folder.exists():
            shutil.rmtree(folder)
        work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    zip_path = out_dir / f"{slug}.zip"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with atomic_file(zip_path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, f"{slug}/{p.relative_to(folder).as_posix()}")
        session.add(
            ExportLog(
                user=current_user(user),
                what="report",
                format="zip",
                filters={"business": business, "uscc": case.uscc, "name": case.name},
                rows=len(case.evidence),
                path=str(zip_path.resolve()),
                sha256=sha256_file(tmp),
            )
        )
        session.flush()
    return PackResult(zip_path, files, manifest, folder, case, notes)


def _write_pages(case: Case, docs: list[Document], work: Path) -> Case:
    """Save each captured page byte-for-byte (checked against its SHA-256) and screenshots."""
    (work / "pages").mkdir()
    items, notes = [], list(case.notes)
    for item, doc in zip(case.evidence, docs, strict=True):
        body = zlib.decompress(doc.raw)
        if hashlib.sha256(body).hexdigest() != doc.raw_sha256:
            raise StorageError(
                f"document {doc.id} ({doc.url}): stored page does not match its SHA-256",
                hint="the raw page was altered after capture; re-crawl it before reporting",
            )
        (work / item.page_file).write_bytes(body)
        shot = _screenshot(doc.screenshot_path)
        if shot is not None and shot.is_file():
            name = f"screenshots/{item.n:02d}-doc{doc.id}{shot.suffix or '.png'}"
            (work / "screenshots").mkdir(exist_ok=True)
            shutil.copyfile(shot, work / name)
            item = _replace_item(item, screenshot_file=name)
        elif shot is not None:
            notes.append(f"screenshot of document {doc.id} not found: {shot}")
        items.append(item)
    return _replace(case, evidence=tuple(items), notes=tuple(notes))


def _screenshot(path: str) -> Path | None:
    """The screenshot file: as stored, or relative to the greywatch data directory."""
    if not path:
        return None
    shot = Path(path)
    if not shot.is_absolute() and not shot.is_file():
        shot = data_dir() / shot
    return shot


def _replace_item(item: EvidenceItem, **changes: Any) -> EvidenceItem:
    from dataclasses import replace

    return replace(item, **changes)


def _manifest(case: Case, work: Path, business: str) -> dict[str, Any]:
    """SHA-256 and size of every file (bar the manifest), the target and the page hashes."""
    files = sorted(p for p in work.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {
        "format": MANIFEST_FORMAT,
        "generated_at": case.generated_at.isoformat(),
        "requested": business,
        "target": {
            "name": case.name,
            "uscc": case.uscc,
            "status": case.status,
            "legal_rep": case.legal_rep,
            "address": case.address,
            "verdict": case.verdict,
        },
        "violations": [v.code for v in case.violations],
        "documents": [
            {
                "document_id": e.document_id,
                "url": e.url,
                "fetched_at": e.fetched_at.isoformat() if e.fetched_at else None,
                "raw_sha256": e.raw_sha256,
                "file": e.page_file,
                "screenshot": e.screenshot_file or None,
            }
            for e in case.evidence
        ],
        "files": [
            {
                "path": p.relative_to(work).as_posix(),
                "sha256": sha256_file(p),
                "size": p.stat().st_size,
            }
            for p in files
        ],
    }


def confirmed_businesses(session: Session) -> list[Entity]:
    """Business-name and USCC entities an analyst marked confirmed."""
    return list(
        session.scalars(
            select(Entity)
            .where(Entity.kind.in_(BUSINESS_KINDS), Entity.review_status == "confirmed")
            .order_by(Entity.id)
        ).all()
    )


INDEX_HEADER = ("序号", "企业名称", "统一社会信用代码", "登记状态", "涉嫌违法行为", "证据页面数")
INDEX_HEADER += ("压缩包", "压缩包SHA-256", "备注")


def build_all_confirmed(
    session: Session,
    out_dir: Path,
    user: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[PackResult]:
    """One pack per confirmed business (a firm once, however many names it has) + index.csv."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    seen: set[tuple[Any, ...]] = set()
    results: list[PackResult] = []
    rows: list[list[Any]] = []
    for entity in confirmed_businesses(session):
        target = resolve_business(session, str(entity.id))
        key = ("reg", target.registration.id) if target.registration else ("ent", entity.id)
        if key in seen or seen & {("ent", e.id) for e in target.entities}:
            continue
        seen.add(key)
        seen.update(("ent", e.id) for e in target.entities)
        if progress:
            progress(target.name)
        try:
            res = build_pack(session, str(entity.id), out_dir, user=user)
        except GreywatchError as exc:
            rows.append([len(rows) + 1, target.name, target.uscc, "", "", 0, "", "", str(exc)])
            continue
        results.append(res)
        c = res.case
        rows.append(
            [
                len(rows) + 1,
                c.name,
                c.uscc,
                c.status,
                "；".join(v.title for v in c.violations),
                len(c.evidence),
                res.zip_path.name,
                sha256_file(res.zip_path),
                "；".join(res.notes),
            ]
        )
    make_folder(out_dir)
    with (
        atomic_file(out_dir / "index.csv") as tmp,
        tmp.open("w", encoding="utf-8-sig", newline="") as fh,
    ):
        w = csv.writer(fh)
        w.writerow(INDEX_HEADER)
        w.writerows(rows)
    return results
