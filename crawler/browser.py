"""Headless Chromium for browser-rendered sources, via scrapy-playwright and Debian's chromium.

Playwright's own browser downloads are not available (offline installs), so we point it at a
system Chromium: setting/env GREYWATCH_CHROMIUM, else the first of `_CANDIDATES` on PATH.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from pipelines.errors import ConfigError
from pipelines.settings import settings

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Quiet, sandbox-free headless Chromium that never phones home (no updates, sync, field trials).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"


def find_chromium(configured: str | None = None) -> str | None:
    """Path of the Chromium to use: configured > env GREYWATCH_CHROMIUM > PATH lookup."""
    wanted = configured or settings().chromium
    if wanted:
        return wanted if os.path.isfile(wanted) else shutil.which(wanted)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def playwright_settings(configured: str | None = None) -> dict[str, Any]:
    """Scrapy settings that route requests through Playwright driving the system Chromium."""
    path = find_chromium(configured)
    if not path:
        raise ConfigError(
            "no Chromium found for a browser-rendered source (looked at GREYWATCH_CHROMIUM and "
            + ", ".join(_CANDIDATES)
            + " on PATH)",
            hint="apt-get install chromium, or set GREYWATCH_CHROMIUM=/path/to/chrome",
        )
    return {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "PLAYWRIGHT_LAUNCH_OPTIONS": {
            "executable_path": path,
            "headless": True,
            "args": CHROMIUM_ARGS,
        },
    }
