"""Page → findings: the whole analysis of one document, as one pure call.

Stages (each its own module): main text (`text`), normalization (`normalize`), lexicon hits
(`lexicon`), verdict (`detect`), contacts (`contacts`), businesses and USCC codes
(`businesses`), the poster's account and IP location (`poster`, in `Analysis.extra`). The
lexicon is compiled once per process and reused for every document.
"""

from __future__ import annotations

from pipelines.businesses import extract_businesses, extract_uscc
from pipelines.classifier import DetectorModel, load_model
from pipelines.contacts import extract_contacts
from pipelines.detect import detect
from pipelines.lexicon import Lexicon
from pipelines.model import Analysis
from pipelines.normalize import compact, normalize_shared
from pipelines.poster import extract_poster
from pipelines.text import Page, extract_page


def lexicon_version() -> str:
    """Version of the active lexicon and detector model (content digests): stored with findings
    so `greywatch reanalyze` knows which documents are stale after an edit or `learn`."""
    model = load_model()
    lex = Lexicon.load().version
    return f"{lex}+{model.version}" if model else lex


def analyze_text(
    text: str,
    doc_id: str = "",
    title: str = "",
    lexicon: Lexicon | None = None,
    model: DetectorModel | bool = True,
) -> Analysis:
    """Analyse plain text; spans in the result index `text`.

    `model`: True for the active detector model, a DetectorModel, or False for rules only.
    """
    lex = lexicon or Lexicon.load()
    norm = normalize_shared(text)
    view = compact(norm)
    hits = lex.find(view)
    contacts = extract_contacts(text, norm=norm)
    detection = detect(view, hits, contacts, text=norm.text, model=model)
    poster = extract_poster(text)  # account and IP location, where the text shows them
    extra = {"account": poster.account, "ip_location": poster.ip_location}
    uscc = extract_uscc(text)
    return Analysis(
        id=doc_id,
        detection=detection,
        contacts=tuple(contacts),
        businesses=tuple(extract_businesses(text, uscc=uscc)),
        uscc=tuple(uscc),
        title=title,
        text=text,
        extra={k: v for k, v in extra.items() if v},
    )


def analyze_page(page: Page, doc_id: str = "", lexicon: Lexicon | None = None) -> Analysis:
    """Analyse an extracted page: the title followed by the body, so a title that sells counts
    too (the title is not repeated when the body already starts with it)."""
    return analyze_text(page_text(page), doc_id=doc_id, title=page.title, lexicon=lexicon)


def page_text(page: Page) -> str:
    """The text a page is judged on: its title, then its body (unless the body starts with it)."""
    body = page.text
    return body if not page.title or body.startswith(page.title) else f"{page.title}\n{body}"


def analyze_html(
    html: str | bytes, url: str = "", doc_id: str = "", lexicon: Lexicon | None = None
) -> Analysis:
    """Analyse an HTML page: main text first (spam, navigation and hidden blocks dropped)."""
    return analyze_page(extract_page(html, url=url), doc_id=doc_id or url, lexicon=lexicon)
