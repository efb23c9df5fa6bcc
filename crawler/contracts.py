"""Scrapy contracts for the source spider: `scrapy check source -a source_id=bbs-demo`.

Scrapy's `@url` takes a fixed address; `@demo_url PATH` resolves PATH against the demo site the
bundled sources point at ($GREYWATCH_DEMO_URL, default http://127.0.0.1:8765), so the contracts
run against a demo server on any port.
"""

from __future__ import annotations

from typing import Any

from scrapy.contracts import Contract

from crawler.sources import demo_base


class DemoUrlContract(Contract):
    """`@demo_url /bbs/forum-2-1.html`: the sample page, a path on the demo site."""

    name = "demo_url"

    def adjust_request_args(self, args: dict[str, Any]) -> dict[str, Any]:
        path = self.args[0] if self.args else "/"
        args["url"] = demo_base() + "/" + path.lstrip("/")
        return args
