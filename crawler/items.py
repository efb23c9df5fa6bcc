"""The item a spider yields for each fetched detail page: raw evidence plus extracted fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class PageItem:
    """One fetched page, decoded, with whatever fields the source's selectors found."""

    url: str
    source_id: str
    body: bytes  # raw response body (evidence; its SHA-256 identifies the version)
    html: str  # body decoded with BOM/meta/header precedence
    encoding: str
    fetched_at: datetime
    http_status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    title: str = ""  # from fields.title, else filled by analysis
    body_text: str = ""  # from fields.body; empty means: extract main text from html
    author: str = ""
    published: str = ""
    screenshot_path: str = ""
    rendered: bool = False
    etag: str = ""
    last_modified: str = ""
    flags: list[str] = field(default_factory=list)
