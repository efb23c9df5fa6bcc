"""Render a 12315 case as a self-contained printable HTML page and as a Word document, and
render every stored evidence page to a stamped screenshot.

Both reports follow the shape of a 举报 (complainant to fill in, the reported firm, place and
competent authority, facts and reasons, requests, evidence list, screenshots) in Chinese;
the pages' own words are highlighted in the excerpts so a reviewer sees why a page counts.
Screenshots are taken offline: Chromium gets the stored bytes of the page and nothing else
(every other request is refused, scripts are off), so the picture shows what was captured.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import replace
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from storage.exports import format_time
from storage.report import TEMPLATES, Case, EvidenceItem, Segments

SUBTITLE = "拟向全国12315平台提交 · 生成时间："
TITLE = "关于涉嫌违法金融类广告及经营行为的举报材料"
ATTACHMENTS = (
    "pages/ 目录保存抓取时的原始网页（逐字节保存，其SHA-256与抓取时记录的校验值一致）；"
    "screenshots/ 目录保存每个证据页面的截图：-offline.png 为依据存档原始网页离线渲染的整页截图"
    "（渲染时不联网、不执行脚本，图上标注网址与抓取时间），其余为抓取时浏览器截图（如有）；"
    "manifest.json 列出本材料包中每个文件的SHA-256与大小，可用于核验材料未被改动。"
)
FOOTER = (
    "本材料由 greywatch 根据公开网页自动整理：事实描述仅依据所附页面，引号内均为页面原文；"
    "提交前请人工逐条核实证据并填写举报人信息。"
)
PLACEHOLDER = "（请填写）"
COMPLAINANT_FIELDS = (
    "姓名或名称",
    "身份证件类型及号码",
    "联系电话",
    "通讯地址",
    "电子邮箱",
    "与被举报人的关系",
)
NO_VIOLATION = "（证据未显示上述类型的违法行为，请人工判断）"
# Word needs an East Asian font named on every run, or it renders Chinese in a fallback font.
EAST_ASIAN_FONT = "宋体"
LATIN_FONT = "Times New Roman"
THEME_FONT_ATTRS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")
# A4 with 2 cm margins leaves 17 cm: the evidence table's columns (cm), and the widest picture.
PAGE_MARGIN_CM = 2.0
EVIDENCE_COLUMNS_CM = (1.0, 4.4, 2.8, 5.4, 3.4)
EVIDENCE_HEADER = (
    "序号",
    "网站与页面",
    "时间（北京时间）",
    "原文摘录（服务用语高亮）",
    "附件与SHA-256",
)
PICTURE_WIDTH_CM = 16.0
# Screenshots: the browser window, how long a page may take, and how a tall screenshot is cut
# into Word-page-sized slices (height = width × ratio), at most this many per page.
VIEWPORT = {"width": 1280, "height": 900}
RENDER_TIMEOUT_MS = 20000
SLICE_RATIO = 1.3
MAX_SLICES = 8
STAMP_HOST = "http://stamp.greywatch.invalid/"
OFFLINE_ARGS = ("--dns-prefetch-disable", "--disable-features=NetworkPrediction")


# --- screenshots -----------------------------------------------------------------------------


Slices = dict[int, list[bytes]]  # evidence number → its screenshot cut into page-sized parts


def render_pages(case: Case, work: Path, bodies: list[bytes]) -> tuple[Case, Slices]:
    """Render each stored page offline to screenshots/NN-docID-offline.png (stamped with its
    URL and capture time), and the same cut into slices for Word; a missing Chromium or
    Playwright is a note, not a failure."""
    from crawler.browser import CHROMIUM_ARGS, find_chromium

    notes = list(case.notes)
    chromium = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if not chromium:
        notes.append(
            "no Chromium/Playwright found: evidence pages were not rendered to screenshots "
            "(set GREYWATCH_CHROMIUM and build the pack again)"
        )
        return replace(case, notes=tuple(notes)), {}
    (work / "screenshots").mkdir(exist_ok=True)
    items = []
    slices: Slices = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=[*CHROMIUM_ARGS, *OFFLINE_ARGS]
        )
        try:
            for item, body in zip(case.evidence, bodies, strict=True):
                try:
                    png = render_page(browser, item.url, body, item.encoding)
                    png, slices[item.n] = stamp(browser, png, stamp_lines(item, case))
                except Exception as exc:  # one bad page must not lose the other screenshots
                    notes.append(f"document {item.document_id}: could not render: {exc}")
                    items.append(item)
                    continue
                name = f"screenshots/{item.n:02d}-doc{item.document_id}-offline.png"
                (work / name).write_bytes(png)
                items.append(replace(item, rendering_file=name))
        finally:
            browser.close()
    return replace(case, evidence=tuple(items), notes=tuple(notes)), slices


def render_page(browser: Any, url: str, body: bytes, encoding: str = "") -> bytes:
    """A full-page PNG of `body` shown as `url`, offline: the page's own request is answered
    with the stored bytes, every other request (images, styles, scripts, frames) is refused,
    and JavaScript is off."""
    ctype = f"text/html; charset={encoding}" if encoding else "text/html"
    context = browser.new_context(
        java_script_enabled=False, viewport=VIEWPORT, service_workers="block"
    )
    served: list[str] = []

    def answer(route: Any) -> None:
        req = route.request
        if not served and req.is_navigation_request() and req.frame.parent_frame is None:
            served.append(req.url)
            route.fulfill(status=200, headers={"content-type": ctype}, body=body)
        else:
            route.abort()

    try:
        context.route("**/*", answer)
        page = context.new_page()
        page.goto(url, wait_until="load", timeout=RENDER_TIMEOUT_MS)
        return bytes(page.screenshot(full_page=True, type="png"))
    finally:
        context.close()


def stamp_lines(item: EvidenceItem, case: Case) -> list[str]:
    """What the stamp above a screenshot says: which evidence, its URL, when captured."""
    return [
        f"证据{item.n}　{item.site}",
        f"网址：{item.url}",
        f"抓取时间：{format_time(item.fetched_at) or '不详'}（北京时间）　"
        f"页面SHA-256：{item.raw_sha256}",
        f"本图由存档的原始网页离线渲染（未联网、未执行脚本），"
        f"渲染时间：{format_time(case.generated_at)}（北京时间）",
    ]


def stamp(browser: Any, png: bytes, lines: list[str]) -> tuple[bytes, list[bytes]]:
    """`png` with a header band carrying `lines`, drawn by Chromium from a local page, and
    the result cut into page-sized slices (for Word, which cannot break a picture)."""
    width, _ = png_size(png)
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;background:#fff}"
        ".s{font:15px/1.5 'Noto Sans CJK SC','Noto Serif CJK SC',sans-serif;color:#000;"
        "background:#fff3b0;border-bottom:3px solid #b00;padding:8px 12px;word-break:break-all}"
        "img{display:block}</style></head><body><div class='s'>"
        + "<br>".join(escape(line) for line in lines)
        + f"</div><img src='{STAMP_HOST}shot.png' width='{width}'></body></html>"
    ).encode("utf-8")
    files = {f"{STAMP_HOST}page": ("text/html; charset=utf-8", html)}
    files[f"{STAMP_HOST}shot.png"] = ("image/png", png)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": width, "height": 200}
    )

    def answer(route: Any) -> None:
        hit = files.get(route.request.url)
        if hit is None:
            route.abort()
        else:
            route.fulfill(status=200, headers={"content-type": hit[0]}, body=hit[1])

    try:
        context.route("**/*", answer)
        page = context.new_page()
        page.goto(f"{STAMP_HOST}page", wait_until="load", timeout=RENDER_TIMEOUT_MS)
        full = bytes(page.screenshot(full_page=True, type="png"))
        parts = [
            bytes(
                page.screenshot(
                    clip={"x": 0, "y": top, "width": width, "height": height},
                    full_page=True,
                    type="png",
                )
            )
            for top, height in _slices(full)
        ]
        return full, parts
    finally:
        context.close()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _slices(png: bytes) -> list[tuple[int, int]]:
    """(top, height) of the page-sized slices of a tall screenshot, at most MAX_SLICES."""
    width, height = png_size(png)
    step = max(1, int(width * SLICE_RATIO))
    return [(y, min(step, height - y)) for y in range(0, height, step)][:MAX_SLICES]


# --- the report's parts ----------------------------------------------------------------------


def target_fields(case: Case) -> list[tuple[str, str]]:
    """(label, value) rows describing the reported firm, empty values shown as 未查到."""
    rows = [
        ("名称", case.name),
        ("统一社会信用代码", case.uscc or "未查到"),
        ("住所", case.address or "未查到"),
        ("法定代表人", case.legal_rep or "未查到"),
        ("登记状态", case.status or "未查到登记信息"),
        ("登记经营范围", case.scope or "未查到"),
    ]
    if case.registry_basis:
        rows.append(("登记信息依据", case.registry_basis))
    elif case.imported:
        rows.append(("登记信息依据", f"在{case.imported}中未检索到该名称"))
    if case.aliases:
        rows.append(("页面使用的名称", "、".join(case.aliases)))
    rows.append(("联系方式", "；".join(case.contacts) or "页面未留联系方式"))
    sites = list(dict.fromkeys(e.site for e in case.evidence if e.site))
    rows.append(("发布广告的网站", "；".join(sites) or "见证据清单"))
    return rows


def place_fields(case: Case) -> list[tuple[str, str]]:
    """违法行为发生地 and the suggested authority, with what the suggestion rests on."""
    return [
        ("违法行为发生地", case.place or "（请填写）"),
        ("建议管辖部门", case.authority or "（请根据被举报人所在地填写）"),
        ("建议依据", case.authority_basis or "—"),
    ]


def violation_lines(case: Case) -> list[tuple[str, list[str]]]:
    """(title, [事实, 理由, 依据 …]) of each suspected violation."""
    out = []
    for i, v in enumerate(case.violations, start=1):
        lines = [f"事实：{v.facts}"]
        if v.reason:
            lines.append(f"理由：{v.reason}")
        lines += [f"依据：{c.text()}" for c in v.grounds]
        out.append((f"{i}. {v.title}", lines))
    return out


def segments_html(segments: Segments) -> str:
    """Excerpt pieces as HTML with <mark> around the page's service words."""
    return "".join(f"<mark>{escape(t)}</mark>" if hit else escape(t) for t, hit in segments)


def _page_lines(e: EvidenceItem) -> list[str]:
    return [e.site or e.source_id or "—", e.title or "（无标题）", e.url, e.relation]


def _time_lines(e: EvidenceItem) -> list[str]:
    return [f"发布：{format_time(e.published_at) or '不详'}", f"抓取：{format_time(e.fetched_at)}"]


def _file_lines(e: EvidenceItem) -> list[str]:
    return [f for f in (e.page_file, e.rendering_file, e.screenshot_file) if f]


def _evidence_row(e: EvidenceItem) -> str:
    times = "<br>".join(escape(t) for t in _time_lines(e))
    files = "<br>".join(escape(f) for f in _file_lines(e))
    site, title, url, relation = (escape(t) for t in _page_lines(e))
    page = f"{site}<br>{title}<br><span class='url'>{url}</span><br>{relation}"
    return (
        f"<tr><td>{e.n}</td><td>{page}</td><td class='time'>{times}</td>"
        f"<td class='excerpt'>{segments_html(e.segments)}</td>"
        f"<td>{files}<br><span class='mono'>{e.raw_sha256}</span></td></tr>"
    )


def _rows(rows: list[tuple[str, str]]) -> str:
    return "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)


def _shots_html(case: Case, work: Path | None) -> str:
    """Each evidence page's offline screenshot, inline (data: URL), with its caption."""
    out = []
    for e in case.evidence:
        caption = f"证据{e.n}：{e.url}"
        if work is None or not e.rendering_file or not (work / e.rendering_file).is_file():
            out.append(f"<p class='shot'>{escape(caption)}（截图未生成，见附注）</p>")
            continue
        data = base64.b64encode((work / e.rendering_file).read_bytes()).decode("ascii")
        out.append(
            f"<figure class='shot'><figcaption>{escape(caption)}（{escape(e.rendering_file)}）"
            f"</figcaption><img alt='证据{e.n}截图' src='data:image/png;base64,{data}'></figure>"
        )
    return "\n".join(out)


def render_html(case: Case, work: Path | None = None) -> str:
    """The report as one HTML page with inline CSS and inline screenshots (no external
    files), ready to print."""
    template = Template((TEMPLATES / "report.html").read_text(encoding="utf-8"))
    violations = (
        "\n".join(
            f"<p><b>{escape(title)}</b>"
            + "".join(f"<br><span class='basis'>{escape(line)}</span>" for line in lines)
            + "</p>"
            for title, lines in violation_lines(case)
        )
        or f"<p>{escape(NO_VIOLATION)}</p>"
    )
    notes = "".join(f"<li>{escape(n)}</li>" for n in case.notes)
    return template.substitute(
        title=escape(TITLE),
        generated_at=escape(format_time(case.generated_at)),
        complainant_rows=_rows([(k, PLACEHOLDER) for k in COMPLAINANT_FIELDS]),
        target_rows=_rows(target_fields(case)),
        place_rows=_rows(place_fields(case)),
        description="\n".join(f"<p>{escape(p)}</p>" for p in case.description),
        violations=violations,
        requests="\n".join(f"<li>{escape(r)}</li>" for r in case.requests),
        evidence_header="".join(f"<th>{escape(h)}</th>" for h in EVIDENCE_HEADER),
        evidence_rows="\n".join(_evidence_row(e) for e in case.evidence),
        screenshots=_shots_html(case, work),
        attachments=escape(ATTACHMENTS),
        notes=f"<ul class='note'>{notes}</ul>" if notes else "",
        footer=escape(FOOTER),
    )


# --- Word ------------------------------------------------------------------------------------


def render_docx(
    case: Case, path: Path, work: Path | None = None, slices: Slices | None = None
) -> bool:
    """Write the report as .docx; False (nothing written) when python-docx is not installed."""
    try:
        import docx
        from docx.enum.text import WD_COLOR_INDEX
        from docx.shared import Cm, Pt
    except ImportError:
        return False
    doc = docx.Document()
    _document_defaults(doc)
    for style_name in ("Normal", "Title", "Heading 1", "Table Grid"):
        _set_fonts(doc.styles[style_name])
    doc.styles["Normal"].font.size = Pt(10.5)
    for section in doc.sections:
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.left_margin = section.right_margin = Cm(PAGE_MARGIN_CM)
    doc.add_heading(TITLE, level=0)
    doc.add_paragraph(f"{SUBTITLE}{format_time(case.generated_at)}（北京时间）")

    doc.add_heading("一、举报人信息（由举报人填写）", level=1)
    _table(doc, [[k, PLACEHOLDER] for k in COMPLAINANT_FIELDS])
    doc.add_heading("二、被举报人信息", level=1)
    _table(doc, [list(r) for r in target_fields(case)])
    doc.add_heading("三、违法行为发生地及管辖", level=1)
    _table(doc, [list(r) for r in place_fields(case)])

    doc.add_heading("四、事实与理由", level=1)
    for para in case.description:
        doc.add_paragraph(para)
    doc.add_paragraph().add_run("涉嫌违法行为：").bold = True
    for title, lines in violation_lines(case):
        doc.add_paragraph().add_run(title).bold = True
        for line in lines:
            doc.add_paragraph(line)
    if not case.violations:
        doc.add_paragraph(NO_VIOLATION)

    doc.add_heading("五、请求事项", level=1)
    for i, r in enumerate(case.requests, start=1):
        doc.add_paragraph(f"{i}. {r}")

    doc.add_heading("六、证据清单", level=1)
    table = _table(doc, [list(EVIDENCE_HEADER)])
    for e in case.evidence:
        cells = table.add_row().cells
        cells[0].text = str(e.n)
        cells[1].text = "\n".join(_page_lines(e))
        cells[2].text = "\n".join(_time_lines(e))
        para = cells[3].paragraphs[0]
        for text, hit in e.segments:
            run = para.add_run(text)
            if hit:
                run.bold = True
                run.font.highlight_color = WD_COLOR_INDEX.YELLOW
        cells[4].text = "\n".join([*_file_lines(e), e.raw_sha256])
    _column_widths(table, [Cm(w) for w in EVIDENCE_COLUMNS_CM])

    doc.add_heading("七、证据截图", level=1)
    _docx_shots(doc, case, work, slices or {})

    doc.add_heading("八、附件说明", level=1)
    doc.add_paragraph(ATTACHMENTS)
    for note in case.notes:
        doc.add_paragraph(f"附注：{note}")
    doc.add_paragraph(FOOTER)
    doc.save(str(path))
    return True


def _docx_shots(doc: Any, case: Case, work: Path | None, slices: Slices) -> None:
    """Each evidence page's offline screenshot, cut into page-sized slices, with a caption."""
    from io import BytesIO

    from docx.shared import Cm

    for e in case.evidence:
        caption = f"证据{e.n}：{e.url}"
        shot = work / e.rendering_file if work is not None and e.rendering_file else None
        if shot is None or not shot.is_file():
            doc.add_paragraph(f"{caption}（截图未生成，见附注）")
            continue
        png = shot.read_bytes()
        parts = slices.get(e.n) or [png]
        cut = len(_slices(png)) * int(png_size(png)[0] * SLICE_RATIO) < png_size(png)[1]
        more = f"，仅嵌入前{len(parts)}页，完整截图见文件" if cut else ""
        doc.add_paragraph(f"{caption}（{e.rendering_file}{more}）")
        for part in parts:
            doc.add_picture(BytesIO(part), width=Cm(PICTURE_WIDTH_CM))


def _column_widths(table: Any, widths: list[Any]) -> None:
    """Fixed column widths Word and LibreOffice both honour (grid, columns and every cell)."""
    from docx.oxml.ns import qn

    table.autofit = False
    tbl_pr = table._tbl.tblPr
    layout = tbl_pr.find(qn("w:tblLayout"))
    if layout is None:
        layout = tbl_pr.makeelement(qn("w:tblLayout"), {})
        tbl_pr.append(layout)
    layout.set(qn("w:type"), "fixed")
    for col, width in zip(table.columns, widths, strict=True):
        col.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def _set_fonts(style: object) -> None:
    """Latin and East Asian fonts on a style (w:rFonts w:eastAsia), so Word shows Chinese right."""
    style.font.name = LATIN_FONT  # type: ignore[attr-defined]
    _east_asian(style.element.get_or_add_rPr())  # type: ignore[attr-defined]


def _east_asian(rpr: Any) -> None:
    """Name the East Asian font in an rPr, drop theme fonts (they win over names in Word)."""
    from docx.oxml.ns import qn

    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.insert(0, rfonts)
    for attr in THEME_FONT_ATTRS:
        rfonts.attrib.pop(qn(attr), None)
    rfonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)


def _document_defaults(doc: Any) -> None:
    """East Asian font on every style and the defaults; Chinese as East Asian language (“”)."""
    from docx.oxml.ns import qn

    for rfonts in list(doc.styles.element.iter(qn("w:rFonts"))):
        _east_asian(rfonts.getparent())  # every style: headings, linked char styles …
    rpr = doc.styles.element.find(f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}")
    if rpr is None:
        return
    _east_asian(rpr)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = rpr.makeelement(qn("w:lang"), {})
        rpr.append(lang)
    lang.set(qn("w:eastAsia"), "zh-CN")


def _table(doc: object, rows: list[list[str]]) -> Any:
    """A bordered table holding `rows` (the first row bold when it is a header row)."""
    table = doc.add_table(rows=0, cols=len(rows[0]))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value
    return table
