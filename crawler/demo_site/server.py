"""A small threaded HTTP server for the bundled demo website (loopback only).

Pages are stored as UTF-8 and sent in the charset their `<meta>` declares (GBK forum, Big5
news), so the crawler sees real legacy encodings. A few routes misbehave on purpose: a page
that fails twice with 503, a calendar trap, a truncated body, a wrong charset header, slow and
broken pages — the crawler must survive all of them. `server.hits` records every path asked for.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

SITE = Path(__file__).parent / "site"
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([a-zA-Z0-9_-]+)", re.I)
_TYPES = {".html": "text/html", ".js": "application/javascript", ".txt": "text/plain"}

# Misbehaving routes (see module docstring); the counts are what a test can rely on.
FLAKY_PATH = "/bbs/thread-108-1-1.html"  # 503 twice, then 200
FLAKY_FAILURES = 2
TRUNCATED_PATH = "/bbs/thread-110-1-1.html"  # Content-Length promises more than is sent
WRONG_CHARSET_PATH = "/bbs/thread-107-1-1.html"  # GBK body, header claims UTF-8
SLOW_SECONDS = 5.0  # /broken/slow: longer than the timeout tests configure (2 s)


class DemoServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers requested paths and per-path failure counters."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.hits: list[str] = []
        self.failures: Counter[str] = Counter()
        self.not_modified: list[str] = []  # paths answered 304 (conditional re-requests)
        self.lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients hanging up (timeouts, truncation tests) are expected: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def hit_count(self, path: str) -> int:
        """How many times a path (without query) was requested."""
        with self.lock:
            return sum(1 for p in self.hits if urlsplit(p).path == path)


class _Handler(BaseHTTPRequestHandler):
    server: DemoServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read hits
        pass

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits.append(self.path)
        path = urlsplit(self.path).path
        if path == FLAKY_PATH:
            with self.server.lock:
                self.server.failures[path] += 1
                failing = self.server.failures[path] <= FLAKY_FAILURES
            if failing:
                return self._send(503, b"busy, try again", "text/plain")
        if path == "/bbs/calendar":
            return self._calendar()
        if path == "/sitemap.xml":
            return self._sitemap()
        if path.startswith("/broken/"):
            return self._broken(path)
        self._static(path)

    def _static(self, path: str) -> None:
        if path.endswith("/"):
            path += "index.html"
        file = (SITE / path.lstrip("/")).resolve()
        if SITE.resolve() not in file.parents or not file.is_file():
            return self._send(404, "<h1>404 页面不存在</h1>".encode(), "text/html; charset=utf-8")
        text = file.read_bytes()
        match = _META_CHARSET.search(text[:1024])
        charset = match.group(1).decode().lower() if match else "utf-8"
        body = text.decode("utf-8").encode(charset, "xmlcharrefreplace")
        ctype = _TYPES.get(file.suffix, "application/octet-stream")
        header_charset = "utf-8" if path == WRONG_CHARSET_PATH else charset
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.headers.get("If-None-Match") == etag:
            with self.server.lock:
                self.server.not_modified.append(path)
            return self._send(304, b"", None, {"ETag": etag})
        extra = {"ETag": etag, "Last-Modified": formatdate(file.stat().st_mtime, usegmt=True)}
        if path == TRUNCATED_PATH:
            return self._truncated(body, f"{ctype}; charset={header_charset}")
        self._send(200, body, f"{ctype}; charset={header_charset}", extra)

    def _calendar(self) -> None:
        """A calendar whose 'next month' link never ends: the classic crawler trap."""
        month = parse_qs(urlsplit(self.path).query).get("month", ["2026-11"])[0]
        try:
            year, mon = (int(x) for x in month.split("-"))
        except ValueError:
            year, mon = 2026, 11
        nxt = f"{year + mon // 12}-{mon % 12 + 1:02d}"
        body = (
            f'<html><head><meta charset="gbk"><title>活动日历 {year}年{mon}月</title></head><body>'
            f"<h1>{year}年{mon}月 活动日历</h1><p>本月暂无活动。</p>"
            f'<div class="pg"><a class="nxt" href="calendar?month={nxt}">下个月</a></div>'
            "</body></html>"
        ).encode("gbk")
        self._send(200, body, "text/html; charset=gbk")

    def _sitemap(self) -> None:
        """The news articles as a sitemap (absolute URLs, so built from the Host header)."""
        base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        urls = "".join(
            f"<url><loc>{base}/news/2023/{name}</loc><lastmod>2023-09-28</lastmod></url>"
            for name in ("0927-pinganpuhui.html", "0928-metro.html")
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )
        self._send(200, body.encode(), "application/xml")

    def _broken(self, path: str) -> None:
        if path == "/broken/500":
            return self._send(500, b"internal error", "text/plain")
        if path == "/broken/slow":
            time.sleep(SLOW_SECONDS)
            return self._send(200, b"<html><body>late</body></html>", "text/html")
        if path == "/broken/garbage":
            junk = bytes((i * 7919 + 13) % 256 for i in range(4096))
            return self._send(200, junk, "text/html")
        if path == "/broken/truncated":
            page = ("<html><body><div>征信修复 " * 200).encode("utf-8")
            return self._truncated(page, "text/html; charset=utf-8")
        if path == "/broken/wrong-charset":
            page = '<html><head><meta charset="gbk"></head><body>代理退保 全额退保</body></html>'
            return self._send(200, page.encode("gbk"), "text/html; charset=utf-8")
        if path == "/broken/index.html":
            links = "".join(
                f'<a href="/broken/{n}">{n}</a> '
                for n in ("500", "slow", "garbage", "truncated", "wrong-charset", "missing")
            )
            return self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html")
        self._send(404, b"not found", "text/plain")

    def _truncated(self, body: bytes, ctype: str) -> None:
        """Promise the whole body, send 60% of it, then drop the connection."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) * 6 // 10])
        self.wfile.flush()
        self.close_connection = True

    def _send(
        self, status: int, body: bytes, ctype: str | None, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


def serve(host: str = "127.0.0.1", port: int = 0) -> tuple[DemoServer, str]:
    """Start the demo server in a daemon thread; returns it and its base URL (no trailing /)."""
    server = DemoServer((host, port))
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    bound_host, bound_port = server.server_address[:2]
    return server, f"http://{bound_host}:{bound_port}"


def main() -> None:
    """`python -m crawler.demo_site.server --port 8765`: serve the demo site until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server, base = serve(args.host, args.port)
    print(f"demo site at {base}/ (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
