"""`greywatch demo`: serve the bundled demo site, crawl every demo source once, show the leads."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from crawler.browser import find_chromium
from crawler.demo_site.server import serve
from crawler.runner import SourceResult, run_crawls
from crawler.sources import BUNDLED_SOURCES, load_sources


def run_demo(db_url: str, console: Console, err: Console) -> list[SourceResult]:
    """Migrate the DB, crawl the demo sources against a loopback demo server, print leads."""
    from storage.db import get_engine, migrate, safe_url, session_scope
    from storage.repo import LeadFilter, query_leads

    migrate(get_engine(db_url))
    server, base = serve("127.0.0.1", 0)
    err.print(f"demo site serving at {base}/")
    try:
        sources = load_sources(BUNDLED_SOURCES, variables={"demo": base}).sources
        if find_chromium() is None:
            skipped = [s.id for s in sources if s.render == "browser"]
            err.print(f"no Chromium found: skipping browser sources {', '.join(skipped)}")
            sources = [s for s in sources if s.render != "browser"]
        results = run_crawls(sources, db_url, trigger="demo", console=err)
    finally:
        server.shutdown()
        server.server_close()
    with session_scope(get_engine(db_url)) as session:
        leads = query_leads(session, LeadFilter(sources=tuple(s.id for s in sources)))
        console.print(leads_table(leads))
    console.print(f"{len(leads)} leads; database: {safe_url(db_url)}")
    console.print("next: `greywatch leads` to review them, `greywatch runs` to see the crawl runs")
    return results


def leads_table(leads: list) -> Table:
    """Leads as a rich table: source, title, categories, score, contacts."""
    table = Table(title="leads", title_justify="left", show_lines=False)
    for column in ("source", "title", "categories", "score", "contacts"):
        table.add_column(column, overflow="fold")
    for lead in leads:
        contacts = ", ".join(f"{c['kind']}:{c['value']}" for c in lead.contacts)
        table.add_row(
            lead.source_id or "",
            lead.title,
            ", ".join(lead.categories),
            f"{lead.score:.2f}",
            contacts,
        )
    return table
