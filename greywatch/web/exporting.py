"""A filtered view of leads as a download, through the CLI's export code (storage.exports):
same columns, same formula defusing, same refusal without a filter, same export log.

The file is written to a private temporary folder, read back and removed: the server keeps
no copy of the personal data it hands out; the export log names the download instead.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipelines.errors import InputError
from pipelines.timeutil import CHINA_TZ
from storage.exports import FORMATS, export_leads, filter_json
from storage.models import ExportLog
from storage.repo import LeadFilter

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}

# What the export log's path column says for a file that was downloaded, not kept.
WEB_PATH_PREFIX = "web download: "


@dataclass(frozen=True)
class ExportDone:
    """A finished export: the file's bytes, how to send it, and what was logged."""

    content: bytes
    media_type: str
    name: str
    rows: int
    sha256: str
    filters: dict[str, Any]


def export_view(session: Session, f: LeadFilter, fmt: str, user: str) -> ExportDone:
    """Export the leads `f` selects as `fmt` for `user`; the log row is added to `session`."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    name = f"leads-{datetime.now(CHINA_TZ):%Y%m%d-%H%M%S}.{fmt}"
    with tempfile.TemporaryDirectory(prefix="greywatch-web-export-") as folder:
        out = Path(folder) / name
        result = export_leads(session, f, fmt, out, user=user)
        content = out.read_bytes()
        log = session.scalars(select(ExportLog).where(ExportLog.path == str(out.resolve()))).first()
        if log is not None:
            log.path = WEB_PATH_PREFIX + name
    return ExportDone(content, MEDIA_TYPES[fmt], name, result.rows, result.sha256, filter_json(f))
