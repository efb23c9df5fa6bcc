"""`greywatch analyze` and `greywatch lexicon`, run as users run them: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SEED = (
    Path(__file__).resolve().parent
    / "pages"
    / (
        "www.example-rebao.tw__caijing__20231014-5127.txt"  # a seed warning article
    )
)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greywatch", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_analyze_sample_page_file() -> None:
    proc = run("analyze", str(SEED))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["id"] == SEED.name
    assert out["kind"] == "warning"
    assert set(out["categories"]) == {
        "credit_repair",
        "debt_relief",
        "refund_agency",
        "complaint_agency",
    }
    assert {"id", "score", "contacts", "businesses", "uscc", "evidence"} <= set(out)


def test_analyze_jsonl_from_stdin_text_and_html() -> None:
    lines = [
        {"id": "ad1", "text": "專業徵信修復，不成功不收費，微信同号 13800138000"},
        {"id": "h1", "html": "<html><body><p>代理退保，全额退保，加V tuibao01</p></body></html>"},
        {"id": "n1", "text": "今天天气不错"},
    ]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    proc = run("analyze", "-", stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    outs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["id"] for o in outs] == ["ad1", "h1", "n1"]
    assert [o["kind"] for o in outs] == ["promotion", "promotion", "other"]
    phones = [c for c in outs[0]["contacts"] if c["kind"] == "phone"]
    assert phones and phones[0]["value"] == "+8613800138000"
    assert any(c["kind"] == "wechat" for c in outs[0]["contacts"])


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        ('{"id": 1, "text": 5}', "line 2: field 'text' or 'html' must be a string"),
    ],
)
def test_bad_jsonl_lines_are_named_and_good_lines_kept(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"id": "a", "text": "征信修复，私信"}\n' + bad_line + '\n{"id": "c", "text": "你好"}\n',
        encoding="utf-8",
    )
    proc = run("analyze", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{path}: {message}" in proc.stderr
    assert [json.loads(x)["id"] for x in proc.stdout.splitlines()] == ["a", "c"]


def test_missing_file_is_one_line_error() -> None:
    proc = run("analyze", "/nonexistent/file.jsonl")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: /nonexistent/file.jsonl: no such file")
    assert "Traceback" not in proc.stderr


def test_non_utf8_file_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes("征信修复，加微信".encode("gbk"))
    proc = run("analyze", str(path))
    assert proc.returncode == 2
    assert "not UTF-8" in proc.stderr and "iconv" in proc.stderr


def test_lexicon_check_and_terms() -> None:
    proc = run("lexicon", "check")
    assert proc.returncode == 0 and proc.stdout.startswith("ok: ")
    proc = run("lexicon", "terms")
    assert "征信修复" in proc.stdout.split()


def test_lexicon_check_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("categories: {}", encoding="utf-8")
    proc = run("lexicon", "check", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {path}: 'categories' must be a non-empty mapping")
