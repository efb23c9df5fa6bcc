"""Render a 12315 case as a self-contained printable HTML page and as a Word document.

Both show the same five sections (target, violations, facts, evidence, attachments) in
Chinese; matched words in the excerpts are highlighted so a reviewer sees why a page counts.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from typing import Any

from storage.exports import format_time
from storage.report import TEMPLATES, Case, EvidenceItem, Segments

SUBTITLE = "拟向全国12315平台提交 · 生成时间："
ATTACHMENTS = (
    "pages/ 目录保存抓取时的原始网页（逐字节保存，其SHA-256与抓取时记录的校验值一致）；"
    "screenshots/ 目录保存页面截图（如有）；"
    "manifest.json 列出本材料包中每个文件的SHA-256与大小，可用于核验材料未被改动。"
)
TITLE = "关于涉嫌违法金融类广告及经营行为的举报材料"
FOOTER = (
    "本材料由 greywatch 根据公开网页自动整理：事实描述仅依据所附页面，"
    "提交前请人工逐条核实证据并补充举报人信息。"
)
# Word needs an East Asian font named on every run, or it renders Chinese in a fallback font.
EAST_ASIAN_FONT = "宋体"
LATIN_FONT = "Times New Roman"
THEME_FONT_ATTRS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


def target_fields(case: Case) -> list[tuple[str, str]]:
    """(label, value) rows describing the target, empty values shown as 未查到."""
    rows = [
        ("企业名称", case.name),
        ("统一社会信用代码", case.uscc or "未查到"),
        ("法定代表人", case.legal_rep or "未查到"),
        ("住所", case.address or "未查到"),
        ("登记状态", case.status or "未查到登记信息"),
        ("登记经营范围", case.scope or "未查到"),
    ]
    if case.registry_basis:
        rows.append(("登记信息依据", case.registry_basis))
    if case.aliases:
        rows.append(("页面使用的名称", "、".join(case.aliases)))
    rows.append(("联系方式", "；".join(case.contacts) or "页面未留联系方式"))
    return rows


def segments_html(segments: Segments) -> str:
    """Excerpt pieces as HTML with <mark> around matched words."""
    return "".join(f"<mark>{escape(t)}</mark>" if hit else escape(t) for t, hit in segments)


def _page_lines(e: EvidenceItem) -> list[str]:
    return [e.title or "（无标题）", e.url, f"来源：{e.source_id or '—'}；{e.relation}"]


def _time_lines(e: EvidenceItem) -> list[str]:
    return [f"发布：{format_time(e.published_at) or '不详'}", f"抓取：{format_time(e.fetched_at)}"]


def _evidence_row(e: EvidenceItem) -> str:
    times = "<br>".join(escape(t) for t in _time_lines(e))
    files = "<br>".join(escape(f) for f in (e.page_file, e.screenshot_file) if f)
    title, url, source = (escape(t) for t in _page_lines(e))
    page = f"{title}<br><span class='url'>{url}</span><br>{source}"
    return (
        f"<tr><td>{e.n}</td><td>{page}</td><td class='time'>{times}</td>"
        f"<td class='excerpt'>{segments_html(e.segments)}</td>"
        f"<td>{files}<br><span class='mono'>{e.raw_sha256}</span></td></tr>"
    )


def render_html(case: Case) -> str:
    """The report as one HTML page with inline CSS (no external files), ready to print."""
    template = Template((TEMPLATES / "report.html").read_text(encoding="utf-8"))
    violations = (
        "\n".join(
            f"<li><b>{escape(v.title)}</b><br>{escape(v.facts)}"
            f"<br><span class='basis'>依据：{escape(v.basis)}</span></li>"
            for v in case.violations
        )
        or "<li>（证据未显示上述类型的违法行为，请人工判断）</li>"
    )
    return template.substitute(
        title=escape(TITLE),
        generated_at=escape(format_time(case.generated_at)),
        target_rows="\n".join(
            f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in target_fields(case)
        ),
        violations=violations,
        description="\n".join(f"<p>{escape(p)}</p>" for p in case.description),
        evidence_rows="\n".join(_evidence_row(e) for e in case.evidence),
        attachments=escape(ATTACHMENTS),
        footer=escape(FOOTER),
    )


def render_docx(case: Case, path: Path) -> bool:
    """Write the report as .docx; False (nothing written) when python-docx is not installed."""
    try:
        import docx
        from docx.enum.text import WD_COLOR_INDEX
        from docx.shared import Pt
    except ImportError:
        return False
    doc = docx.Document()
    _document_defaults(doc)
    for style_name in ("Normal", "Title", "Heading 1", "Table Grid"):
        _set_fonts(doc.styles[style_name])
    doc.styles["Normal"].font.size = Pt(10.5)
    doc.add_heading(TITLE, level=0)
    doc.add_paragraph(f"{SUBTITLE}{format_time(case.generated_at)}（北京时间）")

    doc.add_heading("一、被举报对象", level=1)
    _table(doc, [list(r) for r in target_fields(case)])

    doc.add_heading("二、涉嫌违法行为", level=1)
    for i, v in enumerate(case.violations, start=1):
        p = doc.add_paragraph()
        p.add_run(f"{i}. {v.title}").bold = True
        doc.add_paragraph(v.facts)
        doc.add_paragraph(f"依据：{v.basis}")
    if not case.violations:
        doc.add_paragraph("（证据未显示上述类型的违法行为，请人工判断）")

    doc.add_heading("三、事实描述", level=1)
    for para in case.description:
        doc.add_paragraph(para)

    doc.add_heading("四、证据清单", level=1)
    table = _table(doc, [["序号", "页面", "时间", "原文摘录（命中词高亮）", "附件与SHA-256"]])
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
        cells[4].text = "\n".join(filter(None, [e.page_file, e.screenshot_file, e.raw_sha256]))

    doc.add_heading("五、附件说明", level=1)
    doc.add_paragraph(ATTACHMENTS)
    doc.add_paragraph(FOOTER)
    doc.save(str(path))
    return True


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


def _table(doc: object, rows: list[list[str]]) -> object:
    """A bordered table holding `rows` (the first row bold when it is a header row)."""
    table = doc.add_table(rows=0, cols=len(rows[0]))  # type: ignore[attr-defined]
    table.style = "Table Grid"
    for row in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            cell.text = value
    return table
