"""`greywatch terms suggest`: words promoters use that the lexicon does not know yet.

A thin command over `storage.terms` (which pages) and `pipelines.terms` (which words, how
scored). Scraped text is hostile: the table goes through the safe console, JSON through
`echo_json`, so no control character reaches the terminal.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from greywatch.cmd_store import parse_since
from greywatch.console import echo_json, make_console
from greywatch.options import DbOption, db_session

if TYPE_CHECKING:
    from pipelines.terms import Suggestion, TermReport

_out = make_console()
_err = make_console(stderr=True)

terms_app = typer.Typer(
    help="Vocabulary work: find words promoters use that the lexicon does not know yet.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _empty_reason(report: TermReport, since: str) -> str | None:
    """Why nothing can be suggested, in words an analyst can act on; None if something can."""
    if not report.promotion_docs:
        return f"no promotions stored for --since {since} (crawl first, or widen it)"
    if not report.other_docs:
        return (
            f"only promotions stored for --since {since}: nothing to compare them with "
            "(crawl news or forums too, or widen it)"
        )
    if not report.suggestions:
        return "no term is over-represented in promotions (try a lower --min-docs)"
    return None


def _examples_text(s: Suggestion) -> Text:
    """Each example on its own line: the quote with the term in bold, then the page URL."""
    text = Text()
    for i, e in enumerate(s.examples):
        text.append_text(Text.assemble("\n" if i else "", "“", e.before, (e.raw, "bold")))
        text.append_text(Text.assemble(e.after, "” ", e.url))
    return text or Text("-")


def suggestions_table(report: TermReport) -> Table:
    """Suggestions as a table with Chinese headers: term, document counts, score, examples."""
    title = (
        f"{len(report.suggestions)} 个候选词（推广页 {report.promotion_docs} 篇，"
        f"其他页 {report.other_docs} 篇）"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("候选词", no_wrap=True)
    table.add_column("推广页", justify="right", no_wrap=True)
    table.add_column("其他页", justify="right", no_wrap=True)
    table.add_column("得分", justify="right", no_wrap=True)
    table.add_column("示例", overflow="fold", ratio=1)
    for s in report.suggestions:
        row = (s.term, str(s.promotion_docs), str(s.other_docs), f"{s.score:.2f}")
        table.add_row(*row, _examples_text(s))
    return table


def suggest(
    since: Annotated[
        str, typer.Option(help="Pages fetched on/after: 30d, 2w, 24h or 2026-11-01.")
    ] = "30d",
    limit: Annotated[int, typer.Option(min=1, help="How many terms, best first.")] = 30,
    min_docs: Annotated[
        int, typer.Option(min=1, help="Fewest promotion pages a term must appear in.")
    ] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per term instead of a table.")
    ] = False,
    db: DbOption = None,
) -> None:
    """List words over-represented in promotions and absent from the lexicon, with examples."""
    from pipelines.terms import suggest_terms
    from storage.terms import term_documents

    cutoff = parse_since(since)
    with db_session(db, write=False) as session:
        report = suggest_terms(term_documents(session, cutoff), min_docs=min_docs, limit=limit)
    reason = _empty_reason(report, since)
    if reason:
        (_err if as_json else _out).print(reason, markup=False)
    elif as_json:
        for s in report.suggestions:
            echo_json(json.dumps(asdict(s), ensure_ascii=False))
    else:
        _out.print(suggestions_table(report))


def register(app: typer.Typer) -> None:
    """Add the `terms` group to the root app."""
    terms_app.command("suggest")(suggest)
    app.add_typer(terms_app, name="terms")
