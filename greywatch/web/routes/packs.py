"""12315 evidence packs from the browser: `/packs` lists the confirmed firms and the packs
built so far, POST `/packs` builds one (`storage.report.build_pack`, the code of
`greywatch report 12315`: versioned, never overwritten), and each pack downloads as its zip
or file by file. Analysts and admins only; every build is in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from crawler.paths import data_dir, run_logs_dir
from greywatch.web.deps import (
    WebUser,
    audit,
    bad_request,
    client_address,
    engine_of,
    get_session,
    not_found,
    render,
    require_role,
)
from pipelines.errors import GreywatchError, InputError
from storage.models import ExportLog
from storage.repo import utc
from storage.report import build_pack, confirmed_businesses
from storage.review import resolve_business

router = APIRouter()

# Packs listed (newest first).
PACK_ROWS = 200


def packs_dir(request: Request) -> Path:
    """Where the app writes packs: set on the app, else beside the database like the run logs
    (`greywatch.db` → `greywatch-packs/`, PostgreSQL → `<data dir>/packs/<host>-<db>/`)."""
    chosen = getattr(request.app.state, "packs_dir", None)
    if chosen:
        return Path(chosen)
    logs = run_logs_dir(engine_of(request).url.render_as_string(hide_password=False))
    if logs.parent == data_dir() / "logs":
        return data_dir() / "packs" / logs.name
    return logs.with_name(logs.name.removesuffix("-logs") + "-packs")


@dataclass(frozen=True)
class PackRow:
    """A pack built earlier, from the export log."""

    id: int
    at: datetime
    user: str
    name: str
    uscc: str
    business: str
    zip_name: str
    sha256: str
    evidence: int
    present: bool  # the zip is still on disk


@dataclass(frozen=True)
class Candidate:
    """A confirmed firm a pack can be built for."""

    id: int  # entity id (`report 12315 --business ID`)
    name: str
    uscc: str


def _candidates(session: Session) -> list[Candidate]:
    """Confirmed firms, once each however many names and codes they go by."""
    seen: set[tuple[str, int]] = set()
    out = []
    for entity in confirmed_businesses(session):
        target = resolve_business(session, str(entity.id))
        key = ("reg", target.registration.id) if target.registration else ("ent", entity.id)
        ids = {("ent", e.id) for e in target.entities}
        if key in seen or seen & ids:
            continue
        seen |= ids | {key}
        out.append(Candidate(entity.id, target.name, target.uscc))
    return out


def _pack_rows(session: Session, limit: int = PACK_ROWS) -> list[PackRow]:
    logs = session.scalars(
        select(ExportLog)
        .where(ExportLog.what == "report")
        .order_by(ExportLog.at.desc(), ExportLog.id.desc())
        .limit(limit)
    )
    return [
        PackRow(
            log.id,
            utc(log.at),
            log.user,
            str((log.filters or {}).get("name", "")),
            str((log.filters or {}).get("uscc", "")),
            str((log.filters or {}).get("business", "")),
            Path(log.path).name,
            log.sha256,
            log.rows,
            Path(log.path).is_file(),
        )
        for log in logs
    ]


@router.get("/packs", response_class=HTMLResponse)
def packs_page(
    request: Request,
    user: Annotated[WebUser, Depends(require_role("analyst"))],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """Confirmed firms with a build button, and every pack built so far."""
    context = {
        "candidates": _candidates(session),
        "packs": _pack_rows(session),
        "chosen": request.query_params.get("business", ""),
        "built": request.query_params.get("built", ""),
        "out_dir": packs_dir(request),
    }
    return render(request, "packs.html", context)


@router.post("/packs")
def pack_build(
    request: Request,
    user: Annotated[WebUser, Depends(require_role("analyst"))],
    session: Annotated[Session, Depends(get_session)],
    business: Annotated[str, Form()],
) -> RedirectResponse:
    """Build a pack for a confirmed firm (entity id); an earlier pack is never replaced."""
    ref = business.strip()
    if not ref.isdigit():
        bad_request(f"business: {business!r} is not a business id", "pick a firm from the list")
    try:
        target = resolve_business(session, ref)
    except InputError as exc:
        not_found(str(exc))
    if not any(e.review_status == "confirmed" for e in target.entities):
        bad_request(
            f"business {ref} ({target.name}) is not reviewed as confirmed: no evidence pack",
            "confirm it on its page first (审核 → 已确认)",
        )
    try:
        result = build_pack(session, ref, packs_dir(request), user=user.name)
    except GreywatchError as exc:
        bad_request(str(exc), exc.hint)
    log_id = session.scalar(
        select(ExportLog.id).where(ExportLog.path == str(result.zip_path.resolve()))
    )
    audit(
        session,
        user,
        "pack",
        f"business:{ref}",
        {
            "name": result.case.name,
            "uscc": result.case.uscc,
            "zip": result.zip_path.name,
            "evidence": len(result.case.evidence),
            "export_log": log_id,
        },
        client_address(request),
    )
    session.commit()
    return RedirectResponse(f"/packs/{log_id}?built=1", status_code=303)


def _pack(session: Session, request: Request, pack_id: int) -> tuple[ExportLog, Path]:
    """The logged pack and its zip, or 404 (unknown, not a pack, or gone from disk, or not
    under this app's packs folder)."""
    log = session.get(ExportLog, pack_id)
    if log is None or log.what != "report":
        not_found(f"没有编号为 {pack_id} 的举报材料。")
    zip_path = Path(log.path)
    root = packs_dir(request).resolve()
    if not zip_path.is_file() or not zip_path.resolve().is_relative_to(root):
        not_found(f"举报材料 {pack_id} 的文件不在 {root}。")
    return log, zip_path


def _files(zip_path: Path) -> list[tuple[str, int]]:
    folder = zip_path.with_suffix("")
    if not folder.is_dir():
        return []
    return [
        (p.relative_to(folder).as_posix(), p.stat().st_size)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


@router.get("/packs/{pack_id}", response_class=HTMLResponse)
def pack_page(
    request: Request,
    pack_id: int,
    user: Annotated[WebUser, Depends(require_role("analyst"))],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """One pack: what it is about, its zip and files, and the other versions of its firm."""
    log, zip_path = _pack(session, request, pack_id)
    filters = log.filters or {}
    versions = [
        p
        for p in _pack_rows(session)
        if (p.uscc and p.uscc == filters.get("uscc"))
        or (not p.uscc and p.name == filters.get("name"))
    ]
    context = {
        "log": log,
        "name": filters.get("name", ""),
        "uscc": filters.get("uscc", ""),
        "zip_name": zip_path.name,
        "files": _files(zip_path),
        "versions": versions,
        "built": request.query_params.get("built", ""),
    }
    return render(request, "packs_detail.html", context)


@router.get("/packs/{pack_id}/download")
def pack_download(
    request: Request,
    pack_id: int,
    user: Annotated[WebUser, Depends(require_role("analyst"))],
    session: Annotated[Session, Depends(get_session)],
) -> FileResponse:
    """The pack's zip, as an attachment."""
    _, zip_path = _pack(session, request, pack_id)
    return FileResponse(zip_path, media_type="application/zip", filename=zip_path.name)


@router.get("/packs/{pack_id}/files/{name:path}")
def pack_file(
    request: Request,
    pack_id: int,
    name: str,
    user: Annotated[WebUser, Depends(require_role("analyst"))],
    session: Annotated[Session, Depends(get_session)],
) -> FileResponse:
    """One file of the pack, always as an attachment: captured pages are hostile HTML and
    must never render on this site."""
    _, zip_path = _pack(session, request, pack_id)
    folder = zip_path.with_suffix("").resolve()
    path = (folder / name).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        not_found(f"举报材料 {pack_id} 中没有文件 {name}。")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=path.name,
        content_disposition_type="attachment",
    )
