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
import os
import re
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
from pipelines.violations import (
    BusinessFacts,
    PageTerms,
    Violation,
    registry_complete,
    suspected_violations,
)
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
from storage.models import (
    Document,
    Entity,
    ExportLog,
    Finding,
    Mention,
    Registration,
    Source,
    utcnow,
)
from storage.review import BUSINESS_KINDS, BusinessTarget, resolve_business

# Report layout lives in storage/data (violation wording: pipelines/data/violations.yaml).
TEMPLATES = Path(__file__).resolve().parent / "data"
CONTACT_KINDS = ("phone", "wechat", "qq", "email", "url")
# Characters of context each side of a matched word in an excerpt, and an excerpt's budget:
# enough for the sentence around the word, short enough for a printed evidence table.
EXCERPT_CONTEXT = 40
EXCERPT_MAX = 240
# Longest quote in the drafted description: the sentence around the word, cut to this many
# characters (the cut is at the page's own characters: a quote is always the page's text).
QUOTE_MAX = 60
# Where a quoted sentence ends (a quote never runs across these).
SENTENCE_END = re.compile(r"[。！？!?；;\n\r]")
# How many quoted passages the drafted description carries (the rest is in the evidence list).
DESCRIPTION_QUOTES = 3
MANIFEST_FORMAT = "greywatch-12315-pack/2"

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
    categories: tuple[str, ...]  # service categories the page's own words belong to
    terms: tuple[tuple[str, str], ...]  # (category, the word as the page wrote it)
    relation: str  # "提及该企业" or "与上述页面联系方式相同：…"
    segments: Segments
    quote: str  # the page's sentence around its first service word, for the description
    page_file: str
    screenshot_file: str = ""  # taken by the browser at capture time (browser sources)
    rendering_file: str = ""  # the stored page rendered offline for this pack
    site: str = ""  # the site by name and domain: 金融生活论坛（bbs.example.cn）
    encoding: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        """The page's service words as written, unique, in page order."""
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
    place: str = ""  # 违法行为发生地: registered address, else the region the ads name
    authority: str = ""  # the market regulator suggested for the complaint
    authority_basis: str = ""  # what the suggestion rests on
    imported: str = ""  # the registry data searched: "2026年11月1日导入的x.csv"
    requests: tuple[str, ...] = ()  # 请求事项


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
    sites = _site_names(session, docs)
    evidence = tuple(
        _evidence_item(n, d, relations[d.id], sites[d.id]) for n, d in enumerate(docs, start=1)
    )
    reg = target.registration
    verdict = target.match.verdict if target.match else ""
    files, imported = _imports(session)
    place, authority, why = jurisdiction(target.name, reg, [d.text or "" for d in docs])
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
        contacts=tuple(contact_display(e.kind, e.key) for e in contacts),
        violations=(),
        description=(),
        evidence=evidence,
        generated_at=utcnow(),
        registry_basis=registry_basis(target),
        place=place,
        authority=authority,
        authority_basis=why,
        imported=imported,
    )
    regions = [r for r in (_region_of(target.name, reg),) if r]
    violations = _violations(case, registry_complete(files, regions))
    case = _replace(case, violations=violations)
    case = _replace(case, description=describe(case), requests=requests(case))
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
        return f"分析人员按{how}{target.ref}指定（{row}）"
    return f"与页面中的名称或统一社会信用代码对应（{row}）"


def _replace(case: Case, **changes: Any) -> Case:
    from dataclasses import replace

    return replace(case, **changes)


def _violations(case: Case, complete: bool = False) -> tuple[Violation, ...]:
    """The violations `pipelines.violations` finds in the case's facts and evidence pages."""
    pages = tuple(PageTerms(ev.categories, ev.terms, ev.n) for ev in case.evidence)
    facts = BusinessFacts(
        case.name, case.uscc, case.scope, case.status, case.verdict, pages, case.imported, complete
    )
    return suspected_violations(facts)


# --- who is behind it, where, and which regulator ------------------------------------------

# Provinces whose government name is not "<name>省".
PROVINCE_NAMES = {
    "北京": "北京市",
    "天津": "天津市",
    "上海": "上海市",
    "重庆": "重庆市",
    "内蒙古": "内蒙古自治区",
    "广西": "广西壮族自治区",
    "西藏": "西藏自治区",
    "宁夏": "宁夏回族自治区",
    "新疆": "新疆维吾尔自治区",
    "香港": "香港特别行政区",
    "澳门": "澳门特别行政区",
}


def authority_of(region: str) -> str:
    """The market regulator of a region (深圳 → 深圳市市场监督管理局), "" when unknown."""
    from pipelines.names import vocab

    if not region:
        return ""
    if region in PROVINCE_NAMES:
        return f"{PROVINCE_NAMES[region]}市场监督管理局"
    if region in vocab().cities:
        return f"{region}市市场监督管理局"
    return f"{region}省市场监督管理局"


def _region_of(name: str, reg: Registration | None) -> str:
    """The firm's region: its registration's, its address's, or its name's prefix."""
    from pipelines.names import find_region

    if reg is not None:
        return reg.region or find_region(reg.address) or find_region(reg.name)
    return find_region(name)


def jurisdiction(name: str, reg: Registration | None, texts: list[str]) -> tuple[str, str, str]:
    """(违法行为发生地, suggested authority, what the suggestion rests on): the registered
    address first, then the region in the firm's name, then places the ads name."""
    from pipelines.matching import region_hints_from_text

    region = _region_of(name, reg)
    if reg is not None and reg.address:
        place = f"{reg.address}（被举报人登记住所）；网络广告发布于证据清单所列网站"
        why = f"被举报人登记住所位于{region}" if region else "被举报人登记住所"
    elif region:
        place = f"{region}（被举报人名称所含地名）；网络广告发布于证据清单所列网站"
        why = f"被举报人名称所含地名为{region}"
    else:
        hints: dict[str, str] = {}
        for text in texts:
            for city, how in region_hints_from_text(text).regions().items():
                hints.setdefault(city, how)
        if not hints:
            return "网络广告发布于证据清单所列网站，页面未显示经营地点", "", ""
        region, how = next(iter(hints.items()))
        place = f"{region}（广告中的{how}）；网络广告发布于证据清单所列网站"
        why = f"广告中的{how}指向{region}"
    authority = authority_of(region)
    return place, authority, (why + "；以12315平台的受理分派为准") if authority else ""


def _imports(session: Session) -> tuple[list[str], str]:
    """The registry files imported and a sentence naming them with their import dates."""
    rows = session.execute(
        select(Registration.source_file, Registration.imported_at)
        .group_by(Registration.source_file, Registration.imported_at)
        .order_by(Registration.imported_at)
    ).all()
    latest: dict[str, datetime] = {}
    for file, at in rows:
        latest[file] = at
    if not latest:
        return [], ""
    said = "、".join(
        f"{_cn_date(at)}导入的企业登记数据（{Path(f).name or '未记录文件名'}）"
        for f, at in latest.items()
    )
    return list(latest), said


def _site_names(session: Session, docs: list[Document]) -> dict[int, str]:
    """Each document's site by name and domain: 金融生活论坛（bbs.example.cn）."""
    names = {s.id: s.name for s in session.scalars(select(Source)).all()}
    out = {}
    for d in docs:
        host = _host(d.url)
        name = names.get(d.source_id or "", "")
        out[d.id] = f"{name}（{host}）" if name and name != d.source_id else host
    return out


# --- contacts as people read them ------------------------------------------------------------


def contact_display(kind: str, value: str) -> str:
    """`电话 021-62881234`: a contact as an analyst would dial or search it (one display rule,
    shared with the lead tables and exports)."""
    return contact_text({"kind": kind, "value": value})


# --- the drafted text ------------------------------------------------------------------------


def describe(case: Case) -> tuple[str, ...]:
    """A short factual account in Chinese: when, where, how many pages, what they said.

    Quotation marks only ever enclose the pages' own words, each with its evidence number."""
    ev = case.evidence
    times = [t for t in (e.published_at or e.fetched_at for e in ev) if t]
    sites = list(dict.fromkeys(e.site or _host(e.url) for e in ev))
    cats = list(dict.fromkeys(category_label(c) for e in ev for c in e.categories))
    kinds = "、".join(cats) or "金融"
    span = ""
    if times:
        first, last = _cn_date(min(times)), _cn_date(max(times))
        span = f"{first}至{last}期间，" if first != last else f"{first}，"
    paras = [
        f"{span}在{'、'.join(sites)}共{len(sites)}个网站发现{len(ev)}个页面"
        f"以{case.name}名义或其联系方式发布{kinds}类服务的推广信息。"
    ]
    if case.contacts:
        paras.append(f"页面留有的联系方式：{'；'.join(case.contacts)}。")
    quotes = [
        f"“{e.quote}”（证据{e.n}，{e.url}，抓取于{_cn_date(e.fetched_at)}）" for e in ev if e.quote
    ][:DESCRIPTION_QUOTES]
    if quotes:
        paras.append("部分页面原文如下：" + "；".join(quotes) + "。")
    if case.uscc and case.status:
        paras.append(
            f"企业登记信息显示，该企业统一社会信用代码为{case.uscc}，登记状态为{case.status}"
            + (f"，登记的经营范围为：{case.scope}。" if case.scope else "。")
        )
    paras.append("上述页面均在抓取时保存了原始网页并计算SHA-256校验值，详见证据清单与附件。")
    return tuple(paras)


def requests(case: Case) -> tuple[str, ...]:
    """请求事项: what the complainant asks the regulator to do, from the violations named."""
    codes = {v.code for v in case.violations}
    out = ["依法调查核实被举报人发布上述广告及相关经营行为。"]
    if codes & {"credit_repair", "debt_relief", "refund_agency", "complaint_agency"}:
        out.append("依法责令停止发布上述广告，并依法予以处理。")
    if "out_of_scope" in codes or "inactive" in codes or "not_registered" in codes:
        out.append("依法查处被举报人超出登记范围或无照从事经营活动的行为。")
    if "not_found" in codes:
        out.append("核查被举报人是否依法办理登记，并依法处理。")
    out.append("将处理结果告知举报人。")
    return tuple(out)


def page_quote(text: str, start: int, end: int, limit: int = QUOTE_MAX) -> str:
    """The page's sentence around text[start:end], cut to `limit` characters around the word:
    always a substring of `text`, never crossing a line or sentence end."""
    if not 0 <= start < end <= len(text):
        return ""
    left = max((m.end() for m in SENTENCE_END.finditer(text, 0, start)), default=0)
    stop = SENTENCE_END.search(text, end)
    right = stop.start() if stop else len(text)
    if right - left > limit:
        room = max(0, limit - (end - start))
        left = max(left, start - room // 2)
        right = min(right, max(end, left + limit))
    return text[left:right].strip()


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
                out[doc.id] = (doc, contact_display(entity.kind, entity.key))
    return sorted(out.values(), key=lambda p: (_utc_key(p[0].fetched_at), p[0].id))


def _utc_key(t: datetime | None) -> str:
    c = china_time(t)
    return c.isoformat() if c else ""


def service_words(text: str, evidence: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    """(category, start, end) of each service word in `text`, in page order.

    A word inside a selling cue (“不成功全额退款” holds 退款) is the cue's, not a service the
    page offers: it is left out. Spans that do not quote their word are re-found."""
    terms = [e for e in evidence if e.get("kind") == "term"]
    cues = evidence_spans(text, [e for e in evidence if e.get("kind") == "promotion_cue"])
    out = []
    for ev in terms:
        spans = evidence_spans(text, [ev])
        if not spans:
            continue
        s, e = spans[0]
        if any(cs <= s and e <= ce and (cs, ce) != (s, e) for cs, ce in cues):
            continue
        out.append((str(ev.get("label", "")), s, e))
    return sorted(set(out), key=lambda t: (t[1], t[2]))


def _evidence_item(n: int, doc: Document, relation: str, site: str = "") -> EvidenceItem:
    finding = doc.finding
    evidence = list(finding.evidence or []) if finding else []
    text = doc.text or ""
    words = service_words(text, evidence)
    spans = [(s, e) for _, s, e in words]
    first = min(spans, default=None)
    return EvidenceItem(
        n=n,
        document_id=doc.id,
        url=doc.url,
        source_id=doc.source_id or "",
        title=doc.title,
        fetched_at=doc.fetched_at,
        published_at=doc.published_at,
        raw_sha256=doc.raw_sha256,
        categories=tuple(dict.fromkeys(c for c, _, _ in words if c)),
        terms=tuple((c, text[s:e]) for c, s, e in words),
        relation=relation,
        segments=excerpt_segments(text, spans),
        quote=page_quote(text, *first) if first else "",
        page_file=f"pages/{n:02d}-doc{doc.id}.html",
        site=site,
        encoding=doc.encoding or "",
    )


def pack_slug(case: Case, target: BusinessTarget) -> str:
    """An ASCII folder name: 12315-<USCC>, or 12315-entity<id> for an unregistered name."""
    return f"12315-{case.uscc}" if case.uscc else f"12315-entity{target.entities[0].id}"


def _reserve(out_dir: Path, slug: str) -> str:
    """The first free name slug, slug-v2, slug-v3 … whose folder and zip do not exist yet;
    its folder is created empty here, so no other run can take the same name."""
    version = 1
    while True:
        name = slug if version == 1 else f"{slug}-v{version}"
        if not (out_dir / f"{name}.zip").exists():
            try:
                (out_dir / name).mkdir()
                return name
            except FileExistsError:
                pass
        version += 1


def _publish(tmp: Path, dest: Path) -> None:
    """Move a finished file to `dest`, refusing (never replacing) an existing file."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise StorageError(f"{dest} appeared while the pack was written: not overwritten") from None
    tmp.unlink()


def build_pack(
    session: Session, business: str, out_dir: Path, user: str | None = None
) -> PackResult:
    """Build the evidence pack of one business (name, USCC or entity id) under `out_dir`.

    A pack already in `out_dir` is never touched: a second pack of the same business is
    written beside it as <slug>-v2 (then -v3 …)."""
    from storage.report_render import render_docx, render_html, render_pages

    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    target = resolve_business(session, business)
    case, docs = gather_case(session, target)
    make_folder(out_dir)
    work = Path(tempfile.mkdtemp(prefix=f".{pack_slug(case, target)}.", dir=out_dir))
    folder: Path | None = None
    try:
        case = _write_pages(case, docs, work)
        case, slices = render_pages(case, work, [zlib.decompress(d.raw) for d in docs])
        notes = list(case.notes)
        (work / "report.html").write_text(render_html(case, work), encoding="utf-8")
        if not render_docx(case, work / "report.docx", work, slices):
            notes.append("python-docx is not installed: report.docx was not written")
        manifest = _manifest(case, work, business)
        (work / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        slug = _reserve(out_dir, pack_slug(case, target))
        folder = out_dir / slug
        work.rename(folder)  # onto the empty folder reserved for it
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if folder is not None and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise
    zip_path = out_dir / f"{slug}.zip"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    fd, name = tempfile.mkstemp(prefix=f".{slug}.zip.", suffix=".part", dir=out_dir)
    os.close(fd)
    tmp = Path(name)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in files:
                zf.write(p, f"{slug}/{p.relative_to(folder).as_posix()}")
        digest = sha256_file(tmp)
        _publish(tmp, zip_path)
    finally:
        tmp.unlink(missing_ok=True)
    session.add(
        ExportLog(
            user=current_user(user),
            what="report",
            format="zip",
            filters={"business": business, "uscc": case.uscc, "name": case.name},
            rows=len(case.evidence),
            path=str(zip_path.resolve()),
            sha256=digest,
        )
    )
    session.flush()
    return PackResult(zip_path, files, manifest, folder, case, notes)


def _write_pages(case: Case, docs: list[Document], work: Path) -> Case:
    """Save each captured page byte-for-byte (checked against its SHA-256) and the screenshot
    the browser took at capture time, where there is one."""
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
        "generated_at": _iso(case.generated_at),
        "time_zone": "times are ISO 8601 with their UTC offset (+08:00: Beijing time)",
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
                "site": e.site,
                "fetched_at": _iso(e.fetched_at),
                "published_at": _iso(e.published_at),
                "raw_sha256": e.raw_sha256,
                "file": e.page_file,
                "screenshot": e.screenshot_file or None,
                "rendering": e.rendering_file or None,
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


def _iso(t: datetime | None) -> str | None:
    """A stored time as ISO 8601 in Beijing time, with its offset (2026-11-03T10:30:00+08:00)."""
    c = china_time(t)
    return c.isoformat() if c else None


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


class PackList(list[PackResult]):
    """The packs of one batch, and the index file listing them."""

    index: Path


def index_path(out_dir: Path) -> Path:
    """index.csv, or index-v2.csv … when an earlier batch's index is there (never replaced)."""
    version = 1
    while True:
        path = out_dir / ("index.csv" if version == 1 else f"index-v{version}.csv")
        if not path.exists():
            return path
        version += 1


def build_all_confirmed(
    session: Session,
    out_dir: Path,
    user: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PackList:
    """One pack per confirmed business (a firm once, however many names it has) + an index
    (index.csv, or index-v2.csv … beside the earlier batches' ones)."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir)
    seen: set[tuple[Any, ...]] = set()
    results = PackList()
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
    results.index = index_path(out_dir)
    with atomic_file(results.index) as tmp:
        with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(INDEX_HEADER)
            w.writerows(rows)
        if results.index.exists():  # another batch took the name meanwhile: take the next
            results.index = index_path(out_dir)
    return results
