"""`greywatch demo` end to end in a subprocess: leads printed, and the database holds them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from crawler.browser import find_chromium
from storage.db import dispose_engines, get_engine, session_scope
from storage.models import CrawlRun
from storage.repo import LeadFilter, query_leads

XINCHENG_PHONE = "+8613800138000"


def test_demo_crawls_the_bundled_site_and_prints_leads(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = os.environ | {"GREYWATCH_HOME": str(tmp_path / "home"), "COLUMNS": "220"}
    result = subprocess.run(
        [sys.executable, "-m", "greywatch", "demo", "--db", db_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "征信修复 专业处理逾期 不成功不收费" in out
    assert "微信 xinc888" in out and "QQ 123456789" in out
    assert f"database: {db_url}" in out
    assert "greywatch leads" in out and "greywatch runs" in out
    assert "demo site serving at http://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr

    browser = find_chromium() is not None
    try:
        engine = get_engine(db_url)
        with session_scope(engine) as s:
            leads = query_leads(s, LeadFilter())
            runs = {(r.source_id, r.trigger, r.status) for r in s.scalars(select(CrawlRun))}
    finally:
        dispose_engines()
    assert f"{len(leads)} leads;" in out
    by_source = {lead.source_id for lead in leads}
    assert by_source == ({"bbs-demo", "classifieds-demo"} if browser else {"bbs-demo"})
    assert runs == {
        (sid, "demo", "finished")
        for sid in ("bbs-demo", "news-demo", *(("classifieds-demo",) if browser else ()))
    }
    # One actor: the same phone advertised on two sources.
    phone_sources = {
        lead.source_id for lead in leads if any(c["value"] == XINCHENG_PHONE for c in lead.contacts)
    }
    assert phone_sources == ({"bbs-demo", "classifieds-demo"} if browser else {"bbs-demo"})
    # One template: three near-identical 代理退保 posts from three accounts.
    refund = [lead for lead in leads if "refund_agency" in lead.categories]
    assert len(refund) == 3
    assert all(any(c["value"] == "123456789" for c in lead.contacts) for lead in refund)
    # The Big5 news article warns about the trade: it is not a lead.
    assert not any(lead.source_id == "news-demo" for lead in leads)
