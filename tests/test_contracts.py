"""`scrapy check`: the source spider's callback contracts, run against the demo site."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy import Spider

from crawler.contracts import DemoUrlContract
from crawler.demo_site.server import serve

ROOT = Path(__file__).resolve().parents[1]


class _Probe(Spider):
    """A spider to bind a contract to (contracts belong to bound callbacks)."""

    name = "probe"


def scrapy_check(base: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GREYWATCH_DEMO_URL": base, "GREYWATCH_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "check", "-v", "source", "-a", "source_id=bbs-demo"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("path_prefix", "returncode", "summary"),
    [
        # the demo forum: a listing yields no items, a thread yields one PageItem with fields
        ("", 0, "OK"),
        # every sample page 404s: both callbacks' checks fail, and say so
        ("/gone", 1, "FAILED (errors=2)"),
    ],
)
def test_scrapy_check_runs_the_spider_contracts(
    path_prefix: str, returncode: int, summary: str
) -> None:
    server, base = serve()
    try:
        result = scrapy_check(base + path_prefix)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == returncode, result.stderr
    assert result.stderr.strip().splitlines()[-1] == summary
    if returncode == 0:
        assert "Ran 3 contracts" in result.stderr
        for check in ("parse_listing (@returns", "parse_detail (@returns", "(@scrapes"):
            assert check in result.stderr  # -v lists each contract that ran


@pytest.mark.parametrize(
    ("base", "path", "url"),
    [
        ("http://127.0.0.1:9/", "/bbs/a.html", "http://127.0.0.1:9/bbs/a.html"),
        ("http://127.0.0.1:9", "bbs/a.html", "http://127.0.0.1:9/bbs/a.html"),
    ],
)
def test_demo_url_contract_resolves_against_the_demo_site(
    monkeypatch: pytest.MonkeyPatch, base: str, path: str, url: str
) -> None:
    monkeypatch.setenv("GREYWATCH_DEMO_URL", base)
    contract = DemoUrlContract(_Probe().parse, path)
    assert contract.adjust_request_args({})["url"] == url
