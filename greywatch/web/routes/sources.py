"""Sources and runs: `/sources` (each source's schedule, last and next run, stats, errors),
`/sources/{id}`, `/runs/{id}`, "run now" for admins, and the sources file shown and edited.

A run started here is the scheduler's job (`crawler.schedule.run_source`: a run row, then
`greywatch crawl` in its own process) on a background thread; a source whose crawl lease is
held by a live crawl, or whose run has just been started, is refused with the CLI's message.
A sources file is saved only when `crawler.sources.load_sources` accepts it, and a refusal
carries that function's message for the file, word for word (`greywatch sources check`).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crawler.paths import run_logs_dir
from crawler.sources import BUNDLED_SOURCES, SourceConfig, default_sources_path, load_sources
from greywatch.web.deps import (
    WebError,
    WebUser,
    audit,
    client_address,
    current_user,
    engine_of,
    get_session,
    not_found,
    render,
    require_role,
)
from pipelines.errors import ConfigError
from storage.lease import LEASE_TTL_S, current_holder, is_stale
from storage.models import CrawlRun, Source, utcnow
from storage.repo import get_run, list_runs, utc

router = APIRouter()

# Runs listed on a source's page.
SOURCE_RUNS = 50
# Lines of a run's log shown on its page (the end, where the error is).
LOG_TAIL_LINES = 60
LOG_TAIL_BYTES = 64_000
RETRY_HINT = "等这次抓取结束后再试"


def sources_path(request: Request) -> Path:
    """The sources file the app works with: set on the app (tests, `greywatch web`), else the
    CLI's default ($GREYWATCH_SOURCES, ./sources.yaml, the bundled demo)."""
    return Path(getattr(request.app.state, "sources_path", None) or default_sources_path())


def db_url_of(request: Request) -> str:
    """The app's database URL, password included (the crawl subprocess needs it)."""
    return engine_of(request).url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class SourceStatus:
    """One source as the sources page shows it."""

    id: str
    name: str
    config: SourceConfig | None  # None: crawled once, no longer in the sources file
    last: CrawlRun | None
    next_run: datetime | None
    busy: str  # who is crawling it now ("" when nobody)


def next_run(source: SourceConfig | None, now: datetime) -> datetime | None:
    """When the scheduler would next start `source` (None when it has no schedule)."""
    if source is None or not source.schedule:
        return None
    from crawler.schedule import cron_trigger

    return cron_trigger(source, now.astimezone().tzinfo).get_next_fire_time(None, now)


# Runs this server started, by source: a run is busy from the click on, before its crawl
# process has taken the lease (the lease and the run row cover runs started elsewhere).
_started: dict[str, threading.Thread] = {}
_started_lock = threading.Lock()


def busy_reason(request: Request, session: Session, source_id: str) -> str:
    """Why a new run of `source_id` must wait ("" when it may start): a run this server
    started that is still going, a live lease holder (the CLI's words), or a run started
    moments ago whose crawl has not taken the lease yet."""
    with _started_lock:
        mine = _started.get(source_id)
    if mine is not None and mine.is_alive():
        return f"source {source_id} is already being crawled (started from the web, {mine.name})"
    holder = current_holder(engine_of(request), source_id)
    now = utcnow()
    if holder is not None and not is_stale(holder, now):
        return f"source {source_id} is already being crawled ({holder.describe()})"
    recent = session.scalar(
        select(func.max(CrawlRun.id)).where(
            CrawlRun.source_id == source_id,
            CrawlRun.status == "running",
            CrawlRun.started_at >= now - timedelta(seconds=LEASE_TTL_S),
        )
    )
    if recent is not None:
        return f"source {source_id} is already being crawled (run {recent} is starting)"
    return ""


def _latest_runs(session: Session) -> dict[str, CrawlRun]:
    newest = (
        select(CrawlRun.source_id, func.max(CrawlRun.id).label("id"))
        .group_by(CrawlRun.source_id)
        .subquery()
    )
    runs = session.scalars(select(CrawlRun).join(newest, newest.c.id == CrawlRun.id))
    return {r.source_id: r for r in runs}


def _config_or_error(path: Path) -> tuple[list[SourceConfig], str]:
    """The configured sources, or none and the CLI's message for a broken file."""
    try:
        return list(load_sources(path).sources), ""
    except ConfigError as exc:
        return [], str(exc)


@router.get("/sources", response_class=HTMLResponse)
def sources_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """Every source: schedule, last run with its stats and errors, next run, busy or not."""
    path = sources_path(request)
    configured, problem = _config_or_error(path)
    names = dict(session.execute(select(Source.id, Source.name)).all())
    latest = _latest_runs(session)
    now = utcnow()
    by_id: dict[str, SourceConfig | None] = {s.id: s for s in configured}
    for sid in sorted(set(names) - set(by_id)):
        by_id[sid] = None
    rows = [
        SourceStatus(
            sid,
            cfg.name if cfg else names.get(sid, sid),
            cfg,
            latest.get(sid),
            next_run(cfg, now),
            busy_reason(request, session, sid),
        )
        for sid, cfg in by_id.items()
    ]
    context = {"rows": rows, "path": path, "problem": problem}
    return render(request, "sources.html", context)


def _source_yaml(cfg: SourceConfig | None) -> str:
    if cfg is None:
        return ""
    data = cfg.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@router.get("/sources/file", response_class=HTMLResponse)
def sources_file_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
) -> HTMLResponse:
    """The sources file as text (editable by admins)."""
    path = sources_path(request)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        text = f"# cannot read {path}: {exc}"
    context = {"path": path, "text": text, "error": "", "saved": "saved" in request.query_params}
    context["read_only"] = _read_only(path)
    return render(request, "sources_file.html", context)


def _read_only(path: Path) -> str:
    """Why the file cannot be edited here ("" when it can)."""
    if path.resolve() == BUNDLED_SOURCES.resolve():
        return (
            "这是 greywatch 自带的演示来源文件，不能在此修改：设置 GREYWATCH_SOURCES 或在"
            "工作目录创建 sources.yaml 后再编辑。"
        )
    return ""


def check_sources_text(text: str, path: Path) -> str:
    """The CLI's message for `text` saved as `path` ("" when valid): validated as a file in
    the same folder, the message naming `path` as `greywatch sources check` would."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        load_sources(Path(name))
    except ConfigError as exc:
        return str(exc).replace(name, str(path))
    finally:
        Path(name).unlink(missing_ok=True)
    return ""


def _write_atomic(path: Path, text: str) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(name, path)


@router.post("/sources/file", response_class=HTMLResponse, response_model=None)
def sources_file_save(
    request: Request,
    user: Annotated[WebUser, Depends(require_role("admin"))],
    session: Annotated[Session, Depends(get_session)],
    text: Annotated[str, Form()],
) -> HTMLResponse | RedirectResponse:
    """Save the sources file if it validates; otherwise show the CLI's message, unsaved."""
    path = sources_path(request)
    text = text.replace("\r\n", "\n")
    refused = _read_only(path)
    error = refused or check_sources_text(text, path)
    if error:
        context = {"path": path, "text": text, "error": error, "saved": False}
        context["read_only"] = refused
        return render(request, "sources_file.html", context, status_code=400)
    before = path.read_bytes() if path.exists() else b""
    _write_atomic(path, text)
    audit(
        session,
        user,
        "sources",
        str(path),
        {
            "before_sha256": hashlib.sha256(before).hexdigest(),
            "after_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "sources": [s.id for s in load_sources(path).sources],
        },
        client_address(request),
    )
    session.commit()
    return RedirectResponse("/sources/file?saved=1", status_code=303)


@router.get("/sources/{source_id}", response_class=HTMLResponse)
def source_page(
    request: Request,
    source_id: str,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """One source: its configuration, who is crawling it, and its runs."""
    configured, problem = _config_or_error(sources_path(request))
    cfg = next((s for s in configured if s.id == source_id), None)
    row = session.get(Source, source_id)
    if cfg is None and row is None:
        not_found(f"没有编号为 {source_id} 的来源。")
    context = {
        "source_id": source_id,
        "name": cfg.name if cfg else row.name if row else source_id,
        "cfg": cfg,
        "yaml": _source_yaml(cfg),
        "runs": list_runs(session, source_id, limit=SOURCE_RUNS),
        "next_run": next_run(cfg, utcnow()),
        "busy": busy_reason(request, session, source_id),
        "problem": problem,
        "started": request.query_params.get("started", ""),
    }
    return render(request, "sources_detail.html", context)


def _start(source_id: str, path: Path, db_url: str, command: Any) -> bool:
    """Run the source as the scheduler does, on a daemon thread (the crawl is a subprocess
    of its own; its run row says how it ended). False if this server is running it already."""
    from crawler.schedule import run_source

    with _started_lock:
        running = _started.get(source_id)
        if running is not None and running.is_alive():
            return False
        thread = threading.Thread(
            target=run_source,
            args=(source_id, str(path), db_url, command),
            name=f"greywatch-run-{source_id}",
            daemon=True,
        )
        _started[source_id] = thread
        thread.start()
    return True


@router.post("/sources/{source_id}/run")
def source_run_now(
    request: Request,
    source_id: str,
    user: Annotated[WebUser, Depends(require_role("admin"))],
    session: Annotated[Session, Depends(get_session)],
) -> RedirectResponse:
    """Start a crawl of the source now, unless one is running (refused, 409)."""
    path = sources_path(request)
    configured, problem = _config_or_error(path)
    if problem:
        raise WebError(400, problem)
    if not any(s.id == source_id for s in configured):
        known = ", ".join(s.id for s in configured) or "none"
        not_found(f"{path}: no source '{source_id}' (known: {known})")
    busy = busy_reason(request, session, source_id)
    command = getattr(request.app.state, "crawl_command", None)
    if busy or not _start(source_id, path, db_url_of(request), command):
        raise WebError(409, busy or busy_reason(request, session, source_id), RETRY_HINT)
    audit(
        session, user, "run", f"source:{source_id}", {"sources": str(path)}, client_address(request)
    )
    session.commit()
    return RedirectResponse(f"/sources/{source_id}?started=1", status_code=303)


def log_tail(path: Path) -> str:
    """The end of a run's log file ("" when there is none)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    run_id: int,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """One crawl run: status, times, counts, its message, the Scrapy stats and its log."""
    run = get_run(session, run_id)
    if run is None:
        not_found(f"没有编号为 {run_id} 的抓取运行。")
    log_path = run_logs_dir(db_url_of(request)) / f"run-{run.id}-{run.source_id}.log"
    finished = utc(run.finished_at) if run.finished_at else None
    took = (finished - utc(run.started_at)).total_seconds() if finished else None
    context = {
        "run": run,
        "took": took,
        "stats": sorted((run.stats or {}).items()),
        "log": log_tail(log_path),
        "log_path": log_path,
    }
    return render(request, "runs_detail.html", context)
