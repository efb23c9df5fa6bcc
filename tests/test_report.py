"""12315 evidence packs: built from a real database, then checked against their own manifest."""

from __future__ import annotations

import csv
import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from greywatch.errors import GreywatchError, StorageError
from storage.models import Document, ExportLog
from storage.report import build_all_confirmed, build_pack, excerpt_segments
from storage.review import review_business
from tests.case_world import (
    ANXIN,
    ANXIN_USCC,
    HENGTONG,
    XINCHENG,
    XINCHENG_SCOPE,
    XINCHENG_USCC,
    ZHENGXIN,
    build_world,
)


@pytest.fixture
def lite(sqlite_engine: Engine) -> Iterator[Session]:
    """A SQLite session, for table-driven tests whose subject is not the database."""
    with Session(sqlite_engine) as s:
        yield s


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_pack(session: Session, folder: Path, zip_path: Path) -> dict:
    """Recompute every hash the manifest claims; the zip must hold exactly the folder."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    on_disk = sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    )
    assert [f["path"] for f in manifest["files"]] == on_disk
    for f in manifest["files"]:
        path = folder / f["path"]
        assert sha256(path) == f["sha256"], f["path"]
        assert path.stat().st_size == f["size"]
    for d in manifest["documents"]:
        stored = session.get(Document, d["document_id"])
        assert stored is not None
        assert sha256(folder / d["file"]) == stored.raw_sha256 == d["raw_sha256"]
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(zf.namelist())
        expected = sorted(f"{folder.name}/{p}" for p in [*on_disk, "manifest.json"])
        assert names == expected
        for name in names:
            rel = name.split("/", 1)[1]
            assert zf.read(name) == (folder / rel).read_bytes()
    return manifest


@pytest.mark.parametrize(
    ("text", "spans", "context", "expected"),
    [
        (
            "专业征信修复，不成功不收费",
            [(2, 6)],
            40,
            [("专业", False), ("征信修复", True), ("，不成功不收费", False)],
        ),
        (
            "一二三四五征信修复六七八九十",
            [(5, 9)],
            2,
            [("…", False), ("四五", False), ("征信修复", True), ("六七", False), ("…", False)],
        ),
        # overlapping spans (a term inside a longer one) are highlighted once
        ("消除逾期记录", [(0, 4), (0, 6)], 5, [("消除逾期记录", True)]),
        # a span past the end of the text is dropped, the text start is shown instead
        ("征信洗白", [(10, 12)], 5, [("征信洗白", False)]),
        (
            "停息挂账，协商还款",
            [(0, 4), (5, 9)],
            1,
            [("停息挂账", True), ("，", False), ("协商还款", True)],
        ),
    ],
)
def test_excerpt_segments(text: str, spans: list, context: int, expected: list) -> None:
    assert excerpt_segments(text, spans, context) == expected


def test_pack_for_out_of_scope_firm_verifies_against_manifest(
    session: Session, tmp_path: Path
) -> None:
    world = build_world(session)
    result = build_pack(session, XINCHENG_USCC, tmp_path, user="analyst")
    session.commit()

    assert result.zip_path == tmp_path / f"12315-{XINCHENG_USCC}.zip"
    manifest = verify_pack(session, result.folder, result.zip_path)
    assert manifest["target"]["uscc"] == XINCHENG_USCC
    assert manifest["violations"] == ["credit_repair", "out_of_scope"]
    # the ad naming the firm, and the other site's ad with the same phone; not the news warning
    urls = [d["url"] for d in manifest["documents"]]
    assert urls == ["http://forum.demo.test/t/101", "http://blog.demo.test/p/7"]
    assert world.doc_ids["http://news.demo.test/a/1"] not in {
        d["document_id"] for d in manifest["documents"]
    }

    html = (result.folder / "report.html").read_text(encoding="utf-8")
    for needle in (
        XINCHENG,
        XINCHENG_USCC,
        "张三",
        XINCHENG_SCOPE,
        "发布征信修复类虚假广告",
        "超出登记的经营范围从事经营活动",
        # the page's own words, each with its evidence number; the scope rules, not credit law
        "“征信修复”（证据1）、“消除逾期”（证据1）、“征信洗白”（证据2）",
        "《中华人民共和国市场主体登记管理条例》第十四条",
        # a fileable structure: complainant to fill in, place and authority, requests
        "一、举报人信息（由举报人填写）",
        "深圳市市场监督管理局",
        "五、请求事项",
        "<mark>征信修复</mark>",
        "<mark>征信洗白</mark>",
        "电话 13800138000",
        "微信 xinc888",
        "与上述页面联系方式相同：电话 13800138000",
        # which registry row the firm's facts come from, and why that row is this firm
        f"与登记名称完全一致：{XINCHENG}（登记数据文件registry-2026-11.csv第2行）",
    ):
        assert needle in html, needle
    # scraped text is escaped, never markup
    assert "=HYPERLINK(&quot;http://evil.test&quot;" in html
    assert "<script" not in html and "http-equiv" not in html

    # the description states facts from the evidence: dates (China time), sources, counts, quotes
    first, contacts, quotes, registration, closing = result.case.description
    assert first == (
        "2026年11月3日至2026年11月5日期间，在forum.demo.test、blog.demo.test共2个网站发现2个页面"
        f"以{XINCHENG}名义或其联系方式发布征信修复类服务的推广信息。"
    )
    assert contacts == "页面留有的联系方式：电话 13800138000；微信 xinc888。"
    assert "专业征信修复，消除逾期记录" in quotes and "http://blog.demo.test/p/7" in quotes
    assert f"统一社会信用代码为{XINCHENG_USCC}，登记状态为存续" in registration
    assert "SHA-256" in closing

    log = session.scalars(select(ExportLog).where(ExportLog.what == "report")).one()
    assert (log.user, log.rows, log.sha256) == ("analyst", 2, sha256(result.zip_path))


def test_pack_pages_are_the_captured_bytes_even_when_not_utf8(
    lite: Session, tmp_path: Path
) -> None:
    build_world(lite)
    result = build_pack(lite, XINCHENG, tmp_path)
    gbk_page = result.folder / result.case.evidence[1].page_file
    assert "征信洗白".encode("gbk") in gbk_page.read_bytes()


@pytest.mark.parametrize(
    ("ref", "violation", "fact"),
    [
        (ANXIN_USCC, "企业登记状态为注销后仍以其名义对外宣传经营", "<mark>停息挂账</mark>"),
        # absent from the imported registry only: not 无照经营, but "not found in DATA (FILE)"
        (HENGTONG, "在已导入的企业登记数据中未检索到该名称", "（registry-2026-11.csv）中未检索到"),
    ],
)
def test_pack_names_inactive_and_unregistered_firms(
    session: Session, tmp_path: Path, ref: str, violation: str, fact: str
) -> None:
    build_world(session)
    result = build_pack(session, ref, tmp_path)
    html = (result.folder / "report.html").read_text(encoding="utf-8")
    assert violation in html
    assert fact in html
    verify_pack(session, result.folder, result.zip_path)


def test_docx_sets_east_asian_font(lite: Session, tmp_path: Path) -> None:
    docx = pytest.importorskip("docx")
    build_world(lite)
    result = build_pack(lite, XINCHENG_USCC, tmp_path)
    doc = docx.Document(str(result.folder / "report.docx"))
    text = "\n".join(p.text for p in doc.paragraphs)
    cells = "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "超出登记的经营范围从事经营活动" in text
    assert XINCHENG_USCC in cells
    with zipfile.ZipFile(result.folder / "report.docx") as zf:
        styles = zf.read("word/styles.xml").decode("utf-8")
    assert 'w:eastAsia="宋体"' in styles
    assert "eastAsiaTheme" not in styles  # a theme font would win over the named one
    assert 'w:eastAsia="zh-CN"' in styles


def test_tampered_page_is_refused(session: Session, tmp_path: Path) -> None:
    world = build_world(session)
    doc = session.get(Document, world.doc_ids["http://forum.demo.test/t/101"])
    assert doc is not None
    doc.raw_sha256 = "0" * 64
    session.flush()
    with pytest.raises(StorageError, match=f"document {doc.id}"):
        build_pack(session, XINCHENG_USCC, tmp_path / "packs")
    assert list((tmp_path / "packs").iterdir()) == []  # no half-built pack left behind


@pytest.mark.parametrize("ref", ["深圳市不存在公司", "999999"])
def test_unknown_business_is_named(lite: Session, tmp_path: Path, ref: str) -> None:
    build_world(lite)
    with pytest.raises(GreywatchError, match=ref):
        build_pack(lite, ref, tmp_path)


def test_build_all_confirmed_writes_one_pack_per_firm_and_an_index(
    session: Session, tmp_path: Path
) -> None:
    world = build_world(session)
    review_business(session, XINCHENG, "confirmed", "广告与登记范围不符")
    review_business(session, str(world.entity_ids[ANXIN]), "confirmed")
    review_business(session, ZHENGXIN, "dismissed")
    results = build_all_confirmed(session, tmp_path, user="analyst")
    session.commit()

    assert sorted(r.case.name for r in results) == sorted([XINCHENG, ANXIN])
    for r in results:
        verify_pack(session, r.folder, r.zip_path)
    raw = (tmp_path / "index.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert {r["统一社会信用代码"] for r in rows} == {XINCHENG_USCC, ANXIN_USCC}
    for r in rows:
        assert r["压缩包SHA-256"] == sha256(tmp_path / r["压缩包"])
    logs = session.scalars(select(ExportLog).where(ExportLog.what == "report")).all()
    assert len(logs) == 2


# --- CLI -----------------------------------------------------------------------------------

CASE_COMMANDS = [
    ("leads", "export"),
    ("review",),
    ("review", "lead"),
    ("review", "business"),
    ("review", "list"),
    ("report",),
    ("report", "12315"),
]


@pytest.mark.parametrize("path", CASE_COMMANDS, ids=" ".join)
def test_every_case_command_has_help(path: tuple[str, ...]) -> None:
    import typer

    from greywatch.cli import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help"
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert (param.help or "").strip(), f"{' '.join(path)} {param.opts[0]} has no help"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_cli_builds_a_pack_and_refuses_bad_arguments(sqlite_engine: Engine, tmp_path: Path) -> None:
    from greywatch.cli import app

    url = sqlite_engine.url.render_as_string(hide_password=False)
    with Session(sqlite_engine) as session:
        build_world(session)
    env = {"GREYWATCH_DATABASE_URL": url}
    runner = CliRunner()
    out = tmp_path / "packs"
    ok = runner.invoke(app, ["report", "12315", "--business", XINCHENG, "--out", str(out)], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"12315-{XINCHENG_USCC}.zip" in ok.output
    assert (out / f"12315-{XINCHENG_USCC}.zip").is_file()

    both = runner.invoke(
        app, ["report", "12315", "--business", XINCHENG, "--all-confirmed", "--out", str(out)]
    )
    assert isinstance(both.exception, GreywatchError)
    assert "--all-confirmed" in str(both.exception)

    review = runner.invoke(
        app, ["review", "business", XINCHENG, "--status", "confirmed", "--note", "核实"], env=env
    )
    assert review.exit_code == 0, review.output
    batch = runner.invoke(app, ["report", "12315", "--all-confirmed", "-o", str(out)], env=env)
    assert batch.exit_code == 0, batch.output
    assert "index.csv (1 packs)" in batch.output


@pytest.mark.parametrize("relative", [False, True])
def test_screenshots_are_packed_and_listed(
    lite: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relative: bool
) -> None:
    world = build_world(lite)
    home = tmp_path / "home"
    shot = home / "screenshots" / "demo-forum" / "101.png"
    shot.parent.mkdir(parents=True)
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    monkeypatch.setenv("GREYWATCH_HOME", str(home))
    doc = lite.get(Document, world.doc_ids["http://forum.demo.test/t/101"])
    assert doc is not None
    doc.screenshot_path = str(shot.relative_to(home) if relative else shot)
    other = lite.get(Document, world.doc_ids["http://blog.demo.test/p/7"])
    assert other is not None
    other.screenshot_path = str(home / "gone.png")
    lite.flush()

    result = build_pack(lite, XINCHENG_USCC, tmp_path / "packs")
    manifest = verify_pack(lite, result.folder, result.zip_path)
    first, second = manifest["documents"]
    assert first["screenshot"] == f"screenshots/01-doc{doc.id}.png"
    assert first["rendering"] == f"screenshots/01-doc{doc.id}-offline.png"
    assert (result.folder / first["screenshot"]).read_bytes() == shot.read_bytes()
    assert second["screenshot"] is None
    assert result.notes == [f"screenshot of document {other.id} not found: {home / 'gone.png'}"]
