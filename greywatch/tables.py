"""Tables shown by several commands (leads after `greywatch demo` and in `greywatch leads`)."""

from __future__ import annotations

from rich.table import Table

from storage.exports import category_label, contact_text
from storage.repo import LeadRow


def leads_table(rows: list[LeadRow], limit: int | None = None) -> Table:
    """Leads as a table: id, source, title, categories and contacts as an analyst reads them
    (电话 13800138000), score, review status."""
    title = f"{len(rows)} leads"
    if limit and len(rows) == limit:
        title += f" (the first {limit}; --limit 0 lists all)"
    table = Table(title=title, title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("title", overflow="fold", ratio=3)
    table.add_column("categories", overflow="fold")
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("contacts", overflow="fold", ratio=2)
    table.add_column("review", no_wrap=True)
    for r in rows:
        contacts = "、".join(contact_text(c) for c in r.contacts)
        table.add_row(
            str(r.finding_id),
            r.source_id or "-",
            r.title or r.url,
            "、".join(category_label(c) for c in r.categories),
            f"{r.score:.2f}",
            contacts or "-",
            r.review_status,
        )
    return table
