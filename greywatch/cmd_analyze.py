"""`greywatch analyze` and `greywatch lexicon`: run the analysis on files, check the lexicon."""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from greywatch.console import echo_json, echo_line, make_console
from greywatch.errors import InputError
from pipelines.settings import settings

_err = make_console(stderr=True)


class InputFormat(StrEnum):
    auto = "auto"
    text = "text"
    html = "html"
    jsonl = "jsonl"


def _sniff(path: Path | None, first_line: str) -> InputFormat:
    """Guess the input format from the file name, then from the first non-blank line."""
    suffix = path.suffix.lower() if path else ""
    if suffix in (".jsonl", ".ndjson"):
        return InputFormat.jsonl
    if suffix in (".html", ".htm"):
        return InputFormat.html
    stripped = first_line.lstrip("\ufeff \t")
    if stripped.startswith("{"):
        return InputFormat.jsonl
    if stripped[:15].lower().startswith(("<!doctype", "<html")):
        return InputFormat.html
    return InputFormat.text


# Characters read at a time while skipping the rest of an over-long line.
_SKIP_CHUNK = 1 << 20


def _bounded_lines(stream: TextIO, limit: int) -> Iterator[tuple[str, bool]]:
    """(line, too_long) per line, never holding more than `limit` characters of one line: an
    over-long line is skipped to its end and given as its first `limit` characters."""
    while line := stream.readline(limit + 1):
        if len(line) <= limit or line.endswith("\n"):
            yield line, False
            continue
        rest = line
        while rest and not rest.endswith("\n"):
            rest = stream.readline(_SKIP_CHUNK)
        yield line[:limit], True


def _too_big(name: str, where: str) -> InputError:
    mb = settings().max_doc_mb
    return InputError(
        f"{name}: {where} is larger than {mb:g} MB (the cap set by GREYWATCH_MAX_DOC_MB)",
        hint="split it, or raise the cap: GREYWATCH_MAX_DOC_MB=20",
    )


def _records(
    stream: TextIO, name: str, fmt: InputFormat, path: Path | None
) -> Iterator[tuple[int, dict[str, str] | InputError]]:
    """Yield (line number, record or the error for that line) from the input, streaming JSONL;
    no line or document larger than GREYWATCH_MAX_DOC_MB is read whole."""
    limit = settings().max_doc_chars
    lines = _bounded_lines(stream, limit)
    head: list[tuple[str, bool]] = []
    for line, too_long in lines:  # peek up to the first non-blank line to sniff the format
        head.append((line, too_long))
        if line.strip():
            break
    if fmt is InputFormat.auto:
        fmt = _sniff(path, head[-1][0] if head else "")
    all_lines = itertools.chain(head, lines)
    if fmt in (InputFormat.text, InputFormat.html):
        yield 1, _whole_document(all_lines, name, fmt, path, limit)
        return
    for n, (line, too_long) in enumerate(all_lines, start=1):
        if too_long:
            yield n, _too_big(name, f"line {n}")
        elif line.strip():
            yield n, _parse_line(line, name, n)


def _whole_document(
    lines: Iterator[tuple[str, bool]], name: str, fmt: InputFormat, path: Path | None, limit: int
) -> dict[str, str] | InputError:
    """The input as one text or HTML document, or the error saying it is too large."""
    parts: list[str] = []
    size = 0
    for line, too_long in lines:
        size += len(line)
        if too_long or size > limit:
            return _too_big(name, "the document")
        parts.append(line)
    return {"id": path.name if path else "stdin", fmt.value: "".join(parts)}


def _parse_line(line: str, name: str, n: int) -> dict[str, str] | InputError:
    try:
        obj = json.loads(line.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        return InputError(f"{name}: line {n}: not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return InputError(f"{name}: line {n}: expected a JSON object with 'text' or 'html'")
    body = obj.get("text", obj.get("html"))
    if not isinstance(body, str):
        return InputError(f"{name}: line {n}: field 'text' or 'html' must be a string")
    rec = {"id": str(obj.get("id", n))}
    rec["html" if "text" not in obj else "text"] = body
    if isinstance(obj.get("url"), str):
        rec["url"] = obj["url"]
    return rec


def analyze(
    file: Annotated[
        str, typer.Argument(help="A text, HTML or JSONL file; '-' (default) reads standard input.")
    ] = "-",
    fmt: Annotated[
        InputFormat,
        typer.Option("--format", "-f", help="Input format; 'auto' guesses from name and content."),
    ] = InputFormat.auto,
    pretty: Annotated[
        bool, typer.Option(help="Indent the JSON (one object per document).")
    ] = False,
) -> None:
    """Analyse documents and print one JSON object per document.

    JSONL input: one object per line with "id" and "text" (plain text) or "html".
    Output fields: id, kind (promotion|warning|other), categories, score, reason, contacts,
    businesses, uscc, evidence — each finding with its span in the analysed text.
    Bad lines are reported on stderr with their line number; the exit code is then 2.
    A line or page larger than $GREYWATCH_MAX_DOC_MB (default 5) is refused, not read whole.

    Example: greywatch analyze posts.jsonl > findings.jsonl
    """
    from pipelines.analyze import analyze_html, analyze_text

    path = None if file == "-" else Path(file)
    name = file if path else "<stdin>"
    if path is not None and not path.is_file():
        raise InputError(
            f"{file}: no such file", hint="give a path to a .txt, .html or .jsonl file"
        )
    bad = 0
    hints: set[str] = set()  # each hint once, however many lines need it
    try:
        stream = path.open(encoding="utf-8-sig") if path else sys.stdin
        with stream:
            for _n, rec in _records(stream, name, fmt, path):
                if isinstance(rec, InputError):
                    bad += 1
                    _err.print(f"error: {rec}", markup=False)
                    if rec.hint and rec.hint not in hints:
                        hints.add(rec.hint)
                        _err.print(f"hint: {rec.hint}", markup=False)
                    continue
                if "html" in rec:
                    result = analyze_html(rec["html"], url=rec.get("url", ""), doc_id=rec["id"])
                else:
                    result = analyze_text(rec["text"], doc_id=rec["id"])
                out = result.to_json()
                echo_json(json.dumps(out, ensure_ascii=False, indent=2 if pretty else None))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: not UTF-8 text (byte {exc.start})", hint="convert it: iconv -f GBK -t UTF-8"
        ) from None
    if bad:
        raise typer.Exit(2)


lexicon_app = typer.Typer(help="Inspect and validate the lexicon (service terms and cues).")


@lexicon_app.command("check")
def lexicon_check(
    file: Annotated[
        Path | None, typer.Argument(help="Lexicon YAML (default: $GREYWATCH_LEXICON or bundled).")
    ] = None,
) -> None:
    """Validate a lexicon file and print its size and version."""
    from pipelines.lexicon import Lexicon

    lex = Lexicon.load(file)
    echo_line(
        f"ok: {lex.size} spellings, {len(lex.labels)} categories, "
        f"{len(lex.watch)} watch terms, version {lex.version}"
    )


@lexicon_app.command("terms")
def lexicon_terms() -> None:
    """List the watch terms that search-type sources query."""
    from pipelines.lexicon import watch_terms

    for term in watch_terms():
        echo_line(term)


def register(app: typer.Typer) -> None:
    """Add `analyze` and the `lexicon` group to the root app."""
    app.command("analyze")(analyze)
    app.add_typer(lexicon_app, name="lexicon")
