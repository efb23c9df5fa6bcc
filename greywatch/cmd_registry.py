"""`greywatch registry`: import registration exports, match business names to registrations."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from greywatch.console import echo_json, make_console
from greywatch.errors import InputError
from greywatch.options import DbOption, db_session, open_engine

registry_app = typer.Typer(
    help="Enterprise registrations: import CSV/XLSX exports, match business names against them.",
    no_args_is_help=True,
)


# A plain line longer than this is ad text, not a company name: only extracted businesses count.
MAX_NAME_LINE = 60

# Word boundaries in ad text: whitespace and Chinese/ASCII punctuation.
_TOKEN_SPLIT = re.compile(r"[\s，,。.！!？?；;：:、|/（）()【】\[\]“”\"'~～]+")

_out = make_console()
_err = make_console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add the `registry` group to the root app."""
    app.add_typer(registry_app, name="registry")


class _RateColumn(ProgressColumn):
    """Rows per second of a phase, once rich has seen it move."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:,.0f} rows/s" if task.speed else "", style="progress.data.speed")


# What each import phase is called on the progress bar.
_PHASES = {
    "validate": "checking rows",
    "write": "writing rows",
    "merge": "merging into registrations",
}


@registry_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8/GBK) or XLSX registration export.")],
    db: DbOption = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Processes preparing rows (0: none, all in this one). Default: one per CPU "
            "for files over 8 MB.",
        ),
    ] = None,
) -> None:
    """Import a registration export; re-importing updates rows by USCC, never duplicates.

    The whole file is checked first: one bad row stops the import and nothing is written.
    On a terminal a progress bar shows each phase (checking, writing) with its rows/s.
    """
    from storage.registry import import_registry

    engine = open_engine(db, create=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_err,
        transient=True,
        disable=not _err.is_terminal,  # no bar (nor its blank line) in logs and pipes
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(_PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        result = import_registry(engine, file, progress=progress, workers=workers)
    _out.print(
        f"imported {file.name}: {result.rows} rows "
        f"({result.inserted} inserted, {result.updated} updated)"
    )


@registry_app.command("match")
def match_cmd(
    file: Annotated[
        str | None,
        typer.Argument(help="Names or texts, one per line, or JSONL with id and text; - is stdin."),
    ] = None,
    db_entities: Annotated[
        bool,
        typer.Option("--db-entities", help="Resolve the business entities stored in the database."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Match business names to registrations and judge the advertised service against scope.

    Prints one JSON object per input line; with --db-entities stores BusinessMatch rows.
    """
    from storage.matching import RegistryIndex, match_entities

    if db_entities == (file is not None):
        raise InputError("give either FILE (or - for stdin) or --db-entities")
    with db_session(db) as session:
        index = RegistryIndex.from_session(session)
        if db_entities:
            stats = match_entities(session, index)
            methods = ", ".join(f"{m} {n}" for m, n in sorted(stats.by_method.items()))
            _out.print(f"matched {stats.entities} business entities ({methods or 'none'})")
            return
        name = "stdin" if file == "-" else str(file)
        stream = sys.stdin if file == "-" else _open(Path(str(file)))
        analyze = _analyzer()
        for record in _records(stream, name):
            out = _match_record(session, index, analyze, record)
            echo_json(json.dumps(out, ensure_ascii=False))


def _open(path: Path) -> TextIO:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return path.open(encoding="utf-8-sig")


def _records(stream: TextIO, name: str) -> Iterator[dict[str, str]]:
    """(id, text) per non-blank line: JSONL when the first line is an object, else plain."""
    jsonl: bool | None = None
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        if jsonl is None:
            jsonl = line.lstrip("\ufeff ").startswith("{")
        if not jsonl:
            yield {"id": str(n), "text": line.strip()}
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}: line {n}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(f"{name}: line {n}: expected a JSON object with a 'text' string")
        yield {"id": str(obj.get("id", n)), "text": obj["text"]}


def _analyzer() -> Callable[[str], tuple[list[Any], tuple[str, ...], list[Any]]]:
    """analyze_text when the analysis pipeline is present, else business extraction only."""
    try:
        from pipelines.analyze import analyze_text
    except ImportError:
        from pipelines.businesses import extract_businesses, extract_uscc

        return lambda text: (extract_businesses(text), (), extract_uscc(text))

    def run(text: str) -> tuple[list[Any], tuple[str, ...], list[Any]]:
        a = analyze_text(text)
        return list(a.businesses), a.detection.categories, list(a.uscc)

    return run


def _brand_tokens(index: Any, text: str) -> list[tuple[str, str]]:
    """Words of the text whose brand core is registered ("金盾信用" in "金盾信用 上海 021-…"):
    ads often name a brand the business extractor does not take for a company."""
    from pipelines.names import split_name

    out: list[tuple[str, str]] = []
    for token in _TOKEN_SPLIT.split(text):
        if 2 <= len(token) <= MAX_NAME_LINE and not token.isdigit():
            parts = split_name(token)
            if parts.industry and index.with_brand(parts.brand_core):
                out.append((token, token))
    return list(dict.fromkeys(out))


def _match_record(session: Any, index: Any, analyze: Callable, record: dict[str, str]) -> dict:
    """One output object: the businesses found in a line, each matched and judged."""
    from pipelines.matching import match_business, region_hints_from_text
    from storage.matching import verdict_for

    text = record["text"]
    businesses, categories, usccs = analyze(text)
    names: list[tuple[str, str]] = [(b.name, b.raw) for b in businesses]
    if not names:
        names = _brand_tokens(index, text)
    if not names and not categories and len(text) <= MAX_NAME_LINE:
        names = [(text, text)]  # an analyst's list: the line is the name
    valid = [u.code for u in usccs if u.valid]
    uscc = valid[0] if len(valid) == 1 and len(names) == 1 else None
    hints = region_hints_from_text(text)
    found = []
    for name, raw in names:
        result = match_business(index, name, uscc=uscc, region_hints=hints)
        verdict, reason = verdict_for(session, result, categories)
        reg = result.registration
        found.append(
            {
                "name": name,
                "raw": raw,
                "method": result.method,
                "confidence": result.confidence,
                "registration": (
                    {"uscc": reg.uscc, "name": reg.name, "status": reg.status} if reg else None
                ),
                "candidates": result.candidates,
                "reason": result.reason,
                "verdict": verdict,
                "verdict_reason": reason,
            }
        )
    return {"id": record["id"], "categories": list(categories), "businesses": found}
