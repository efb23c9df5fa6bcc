"""`greywatch demo`: serve the bundled demo site, crawl every demo source once, show the leads."""

from __future__ import annotations

from rich.console import Console

from crawler.browser import find_chromium
from crawler.demo_site.server import serve
from crawler.runner import SourceResult, run_crawls
from crawler.sources import BUNDLED_SOURCES, load_sources
from storage.repo import LeadRow


def run_demo(db_url: str, err: Console) -> tuple[list[SourceResult], list[LeadRow]]:
    """Migrate the DB, crawl the demo sources against a loopback demo server; return the
    crawl results and the leads found."""
    from storage.db import get_engine, migrate, session_scope
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
    with session_scope(get_engine(db_url), write=False) as session:
        leads = query_leads(session, LeadFilter(sources=tuple(s.id for s in sources)))
    return results, leads
