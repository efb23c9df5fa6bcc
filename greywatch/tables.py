"""Tables shown by several commands (leads after `greywatch demo` and in `greywatch leads`)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from pipelines import display
from storage.exports import category_label, contact_text
from storage.repo import LeadRow


def lead_date(row: LeadRow) -> str:
    """When the ad was posted, in Beijing time (a date-only publish date stays a date); when
    the page gives no date, when it was fetched, marked （抓取）."""
    posted = display.published(row.published_at)
    if posted is not None:
        return display.beijing_bare(posted)
    return f"{display.beijing_bare(row.fetched_at)}（抓取）"


def lead_title(row: LeadRow) -> Text:
    """The title with the lead's URL under it, and how many other URLs carry the same ad
    (plain text: a URL's brackets are not markup)."""
    more = len(row.urls) - 1
    also = f"（另有 {more} 个网址）" if more > 0 else ""
    return Text(f"{row.title}\n{row.url}{also}" if row.title else f"{row.url}{also}")


def leads_table(rows: list[LeadRow], limit: int | None = None) -> Table:
    """Leads as a table: id, source, title and URL, date (Beijing time), categories, score, contacts
    as written in the ad (电话 021-62881234), review status."""
    title = f"{len(rows)} leads"
    if limit and len(rows) == limit:
        title += f" (the first {limit}; --limit 0 lists all)"
    table = Table(title=title, title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=3)
    table.add_column(display.header("date"), no_wrap=True)
    table.add_column("categories", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("contacts", overflow="fold", ratio=2)
    table.add_column("review", no_wrap=True)
    for r in rows:
        contacts = "、".join(contact_text(c) for c in r.contacts)
        table.add_row(
            str(r.finding_id),
            r.source_id or "-",
            lead_title(r),
            lead_date(r),
            "、".join(category_label(c) for c in r.categories),
            f"{r.score:.2f}",
            contacts or "-",
            r.review_status,
        )
    return table
