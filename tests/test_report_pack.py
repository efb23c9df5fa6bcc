"""12315 packs a compliance officer can file as they are: quotes are the pages' own words,
every evidence page has an offline screenshot, and packs are never overwritten."""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pipelines.model import Analysis, Business, Contact, Detection, Evidence
from pipelines.violations import (
    BusinessFacts,
    PageTerms,
    load_coverage,
    registry_complete,
    suspected_violations,
)
from storage.models import Document
from storage.repo import PageRecord, save_page
from storage.report import build_all_confirmed, build_pack, contact_display, page_quote
from storage.report_render import EVIDENCE_COLUMNS_CM, EVIDENCE_HEADER, png_size
from storage.review import review_business
from tests.case_world import ANXIN, HENGTONG, XINCHENG, ZHENGXIN, build_world

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="no Chromium")
JINDUN = "上海金盾信用管理有限公司"


class _Counter(BaseHTTPRequestHandler):
    """Counts every request it gets: an offline rendering must send none."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"x")

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def tracker() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 and the list of paths it was asked for."""
    _Counter.hits = []
    server = HTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Counter.hits
    finally:
        server.shutdown()
        server.server_close()


def add_jindun(session: Session, tracker_url: str) -> int:
    """The demo's Shanghai ad: variant words (逾期处理 for the lexicon's 逾期上岸), a guarantee
    (不成功全额退款, which holds the refund word 退款), a landline, and page resources that
    would load from `tracker_url` if the renderer went online."""
    title = "金盾信用 专业处理"
    text = (
        f"{JINDUN} 上海 专业信用修复、逾期处理，保证成功，不成功全额退款！联系电话：021-62881234。"
    )

    def span(raw: str) -> tuple[int, int]:
        start = text.index(raw)
        return start, start + len(raw)

    evidence = (
        Evidence("term", "credit_repair", "信用修复", "信用修复", *span("信用修复")),
        Evidence("term", "debt_relief", "逾期上岸", "逾期处理", *span("逾期处理")),
        Evidence("term", "refund_agency", "退费", "退款", *span("退款")),
        Evidence(
            "promotion_cue",
            "guarantee",
            "不成功全额退款",
            "不成功全额退款",
            *span("不成功全额退款"),
        ),
        Evidence("promotion_cue", "guarantee", "保证", "保证", *span("保证")),
    )
    analysis = Analysis(
        id="http://ads.demo.test/ad/1",
        detection=Detection(
            "promotion", ("credit_repair", "debt_relief", "refund_agency"), 0.9, evidence, "推广"
        ),
        contacts=(Contact("phone", "+862162881234", "021-62881234", *span("021-62881234")),),
        businesses=(Business(JINDUN, "company", JINDUN, *span(JINDUN)),),
        title=title,
        text=text,
    )
    body = (
        f"<html><head><meta charset='utf-8'><title>{title}</title>"
        f"<link rel='stylesheet' href='{tracker_url}/style.css'>"
        f"<script src='{tracker_url}/app.js'></script></head>"
        f"<body><img src='{tracker_url}/pixel.png'><iframe src='{tracker_url}/frame'></iframe>"
        f"<p>{text}</p><script>document.body.innerHTML='changed'</script></body></html>"
    ).encode()
    record = PageRecord(
        url="http://ads.demo.test/ad/1",
        body=body,
        fetched_at=datetime(2026, 11, 11, 3, 0, tzinfo=UTC),
        source_id="demo-forum",
        title=title,
        text=text,
        encoding="utf-8",
    )
    doc_id = save_page(session, record, analysis, "test-1").document_id
    session.commit()
    return doc_id


QUOTE = re.compile(r"“([^“”]*)”(（证据(\d+))?")
BOOK_TITLE = re.compile(r"《[^《》]*》")


def report_texts(folder: Path) -> dict[str, str]:
    """The words a reader sees in report.html and report.docx."""
    import docx

    page = (folder / "report.html").read_text(encoding="utf-8")
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = html.unescape(re.sub(r"<[^>]+>", "\n", page))
    document = docx.Document(str(folder / "report.docx"))
    words = [p.text for p in document.paragraphs]
    words += [c.text for t in document.tables for r in t.rows for c in r.cells]
    return {"report.html": page, "report.docx": "\n".join(words)}


def check_quotes(session: Session, folder: Path) -> int:
    """Every quoted phrase is in its evidence page (title or text); returns how many."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    pages = {}
    for n, d in enumerate(manifest["documents"], start=1):
        doc = session.get(Document, d["document_id"])
        assert doc is not None
        pages[n] = f"{doc.title}\n{doc.text}"
    count = 0
    for name, text in report_texts(folder).items():
        # a cited text's own title (《关于防范“代理退保”等风险的提示》) is not a quotation
        for m in QUOTE.finditer(BOOK_TITLE.sub("", text)):
            phrase, n = m.group(1), m.group(3)
            if n is not None:
                assert phrase in pages[int(n)], f"{name}: “{phrase}” is not on page {n}"
                count += 1
            else:
                assert any(phrase in p for p in pages.values()), f"{name}: “{phrase}” unquoted"
    return count


@needs_chromium
def test_every_quote_is_the_pages_own_words_and_every_page_has_a_screenshot(
    sqlite_engine: Engine, tmp_path: Path, tracker: tuple[str, list[str]]
) -> None:
    tracker_url, hits = tracker
    with Session(sqlite_engine) as session:
        world = build_world(session)
        add_jindun(session, tracker_url)
        for name in (XINCHENG, ANXIN, HENGTONG, ZHENGXIN, JINDUN):
            ref = str(world.entity_ids.get(name, "")) or name
            review_business(session, ref, "confirmed")
        results = build_all_confirmed(session, tmp_path / "packs")
        session.commit()
        assert len(results) == 5
        for res in results:
            assert check_quotes(session, res.folder) > 0, res.case.name
            assert res.notes == []
            docs = res.manifest["documents"]
            page_html = (res.folder / "report.html").read_text(encoding="utf-8")
            assert page_html.count("src='data:image/png;base64,") == len(docs)
            for d in docs:
                shot = res.folder / d["rendering"]
                width, height = png_size(shot.read_bytes())
                assert width >= 1280 and height > 100
            import docx

            pictures = docx.Document(str(res.folder / "report.docx")).inline_shapes
            assert len(pictures) >= len(docs)
            with zipfile.ZipFile(res.zip_path) as zf:
                assert all(f"{res.folder.name}/{d['rendering']}" in zf.namelist() for d in docs)

    jindun = next(r for r in results if r.case.name == JINDUN)
    texts = report_texts(jindun.folder)
    for text in texts.values():
        assert "逾期上岸" not in text  # the lexicon's name, never what the page said
        assert "“退款”" not in text and "代理退保、代理退费类" not in text  # a guarantee
        assert "“信用修复”（证据1）" in text and "“逾期处理”（证据1）" in text
        assert "电话 021-62881234" in text
        assert "无照经营" not in text  # only missing from the imported registry
        assert "上海市市场监督管理局" in text
    assert "<mark>退款</mark>" not in (jindun.folder / "report.html").read_text(encoding="utf-8")
    assert [v.code for v in jindun.case.violations] == ["credit_repair", "debt_relief"]
    # offline: not one request for the page's stylesheet, script, image or frame
    assert hits == []


def test_stamp_names_url_and_beijing_capture_time(lite_case: object) -> None:
    from storage.report_render import stamp_lines

    case = lite_case
    lines = "\n".join(stamp_lines(case.evidence[0], case))  # type: ignore[attr-defined]
    assert "网址：http://forum.demo.test/t/101" in lines
    assert "抓取时间：2026-11-03 10:30:00（北京时间）" in lines


@pytest.fixture
def lite_case(sqlite_engine: Engine) -> object:
    from storage.report import gather_case
    from storage.review import resolve_business

    with Session(sqlite_engine) as session:
        build_world(session)
        case, _ = gather_case(session, resolve_business(session, XINCHENG))
        return case


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_second_report_is_a_new_version_and_the_first_stays_byte_for_byte(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "packs"
    with Session(sqlite_engine) as session:
        build_world(session)
        first = build_pack(session, XINCHENG, out)
        review_business(session, XINCHENG, "confirmed")
        build_all_confirmed(session, out)
        before = tree_hashes(out)
        second = build_pack(session, XINCHENG, out)
        batch = build_all_confirmed(session, out)
    after = tree_hashes(out)
    assert {k: after[k] for k in before} == before  # nothing written before was changed
    assert first.zip_path.name == "12315-91440300MA5FX0L12G.zip"
    assert second.zip_path.name == "12315-91440300MA5FX0L12G-v3.zip"
    assert batch[0].zip_path.name == "12315-91440300MA5FX0L12G-v4.zip"
    assert batch.index.name == "index-v2.csv"
    with zipfile.ZipFile(second.zip_path) as zf:
        assert all(n.startswith("12315-91440300MA5FX0L12G-v3/") for n in zf.namelist())
    manifest = second.manifest
    times = [manifest["generated_at"], *(d["fetched_at"] for d in manifest["documents"])]
    assert all(t.endswith("+08:00") for t in times), times
    assert manifest["documents"][0]["fetched_at"] == "2026-11-03T10:30:00+08:00"


def test_docx_evidence_table_has_fixed_sensible_column_widths(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    import docx
    from docx.oxml.ns import qn
    from docx.shared import Cm

    with Session(sqlite_engine) as session:
        build_world(session)
        res = build_pack(session, XINCHENG, tmp_path)
    document = docx.Document(str(res.folder / "report.docx"))
    table = next(t for t in document.tables if t.rows[0].cells[0].text == EVIDENCE_HEADER[0])
    assert [c.text for c in table.rows[0].cells] == list(EVIDENCE_HEADER)
    widths = [round(c.width / Cm(1), 1) for c in table.rows[1].cells]
    assert widths == list(EVIDENCE_COLUMNS_CM)
    layout = table._tbl.tblPr.find(qn("w:tblLayout"))
    assert layout is not None and layout.get(qn("w:type")) == "fixed"
    section = document.sections[0]
    usable = (section.page_width - section.left_margin - section.right_margin) / Cm(1)
    assert sum(EVIDENCE_COLUMNS_CM) <= round(usable, 1)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+862162881234", "021-62881234"),
        ("+8613800138000", "13800138000"),
        ("+8675588886666", "0755-88886666"),
        ("+864008001234", "400-800-1234"),
    ],
)
def test_report_shows_phones_as_written(value: str, shown: str) -> None:
    """The report uses the one display rule (pipelines.display) the tables and exports use."""
    assert contact_display("phone", value) == f"电话 {shown}"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("第一句。各位朋友，专业征信修复，消除逾期记录！联系我", "征信修复"),
        ("征信洗白，内部渠道\n打电话详询", "征信洗白"),
        ("长" * 80 + "停息挂账" + "尾" * 80, "停息挂账"),
    ],
)
def test_page_quote_is_always_the_pages_text(text: str, word: str) -> None:
    start = text.index(word)
    quote = page_quote(text, start, start + len(word))
    assert word in quote and quote in text
    assert "\n" not in quote and "。" not in quote and len(quote) <= 60


def test_unregistered_only_when_the_registry_is_declared_complete(tmp_path: Path) -> None:
    page = PageTerms(("refund_agency",), (("refund_agency", "代理退保"),), 1)
    facts = BusinessFacts(HENGTONG, "", "", "", "not_registered", (page,), "某日导入的r.csv")
    found = suspected_violations(facts)
    assert [v.code for v in found] == ["refund_agency", "not_found"]
    assert "无照经营" not in " ".join(v.title + v.facts + v.basis for v in found)
    assert "在某日导入的r.csv中未检索到" in found[1].facts
    complete = BusinessFacts(
        HENGTONG, "", "", "", "not_registered", (page,), "某日导入的r.csv", True
    )
    declared = suspected_violations(complete)[1]
    assert declared.code == "not_registered" and "无照经营" in declared.title
    assert "第三条" in declared.basis

    coverage_file = tmp_path / "coverage.yaml"
    coverage_file.write_text("complete:\n  - {file: r.csv, regions: [东莞]}\n", encoding="utf-8")
    coverage = load_coverage(coverage_file)
    assert registry_complete(["/data/r.csv"], ["东莞"], coverage)
    assert not registry_complete(["/data/r.csv"], ["深圳"], coverage)
    assert not registry_complete(["/data/other.csv"], ["东莞"], coverage)
    assert not registry_complete(["/data/r.csv"], ["东莞"])  # the bundled file declares none


@pytest.mark.parametrize(
    ("category", "cite"),
    [
        ("credit_repair", "《征信业管理条例》第十六条"),
        ("debt_relief", "《商业银行信用卡业务监督管理办法》第七十条"),
        ("refund_agency", "《关于防范“代理退保”等风险的提示》"),
        ("complaint_agency", "《关于警惕涉金融领域“代理维权”风险的提示》"),
    ],
)
def test_each_category_has_its_own_grounds(category: str, cite: str) -> None:
    page = PageTerms((category,), ((category, "某词"),), 1)
    facts = BusinessFacts("某公司", "9144", "商务信息咨询", "存续", "out_of_scope", (page,))
    service, scope = suspected_violations(facts)
    assert service.code == category and cite in service.basis
    assert all(c.source and c.checked for c in service.grounds)
    # out of scope cites the registration rules, never the credit-reporting ones
    assert scope.code == "out_of_scope"
    assert "市场主体登记管理条例" in scope.basis and "征信" not in scope.basis
