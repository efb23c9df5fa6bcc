"""`greywatch eval` and `greywatch learn`: measure the detector, and teach it the team's reviews."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from greywatch.console import echo_json, make_console
from greywatch.options import DbOption, db_session
from pipelines.errors import ConfigError, InputError

if TYPE_CHECKING:
    from pipelines.train import Report

_out = make_console()
_err = make_console(stderr=True)
KIND_LABELS = {"promotion": "推广", "warning": "警示", "other": "其他"}
# Fewer reviews than this teach a model nothing it can be judged on by cross-validation.
MIN_REVIEWS = 10


def eval_cmd(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSONL with gold labels: {id, kind, categories, text|html} per line.",
            show_default=False,
        ),
    ],
    model: Annotated[
        Path | None,
        typer.Option("--model", help="A detector model file (default: the one in use)."),
    ] = None,
    rules_only: Annotated[
        bool, typer.Option("--rules", help="Judge with the lexicon rules alone (no model).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object instead of tables.")
    ] = False,
    misses: Annotated[int, typer.Option("--misses", help="How many misses to list.")] = 50,
) -> None:
    """Score the detector on labelled pages: confusion matrix, precision/recall/F1, misses.

    Each line runs through the same analysis as a crawl (text extraction for `html`, then
    normalization, lexicon, contacts and the detector), so the figures are the product's.
    """
    from pipelines.classifier import DetectorModel, load_model
    from pipelines.train import evaluate, read_examples, verdicts_by_analysis

    examples = read_examples(file)
    if not examples:
        raise InputError(f"{file}: no labelled lines")
    detector = None if rules_only else (DetectorModel.load(model) if model else load_model())
    report = evaluate(examples, verdicts_by_analysis(detector, examples))
    if as_json:
        echo_json(json.dumps(report.to_json(), ensure_ascii=False))
        return
    name = "rules only" if detector is None else f"model {detector.version}"
    _out.print(f"{file}: {report.n} pages, {name}; kind accuracy {report.accuracy:.3f}")
    print_report(report, misses)


def print_report(report: Report, misses: int = 50) -> None:
    """Confusion matrix, per-kind and per-category figures, and the first misses."""
    conf = Table(title="confusion (rows: gold, columns: predicted)", title_justify="left")
    conf.add_column("gold")
    for k in KIND_LABELS:
        conf.add_column(f"{KIND_LABELS[k]} {k}", justify="right")
    for g in KIND_LABELS:
        conf.add_row(f"{KIND_LABELS[g]} {g}", *(str(report.confusion[g][p]) for p in KIND_LABELS))
    _out.print(conf)
    _out.print(_prf_table("per kind", report.kinds))
    _out.print(_prf_table("per category", report.categories))
    _out.print(f"Brier score of the promotion probability: {report.brier:.4f}")
    if report.misses and misses:
        table = Table(title=f"misses ({len(report.misses)})", title_justify="left")
        for col in ("id", "gold", "predicted", "score", "text"):
            table.add_column(col, overflow="fold")
        for m in report.misses[:misses]:
            table.add_row(
                str(m["id"]),
                str(m["gold"]),
                str(m["predicted"]),
                f"{m['score']:.2f}",
                str(m["text"]),
            )
        _out.print(table)


def _prf_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="right" if col else "left")
    for name, f in rows.items():
        table.add_row(
            name,
            f"{f['precision']:.3f}",
            f"{f['recall']:.3f}",
            f"{f['f1']:.3f}",
            str(int(f["support"])),
        )
    return table


def learn(
    rollback: Annotated[
        bool,
        typer.Option("--rollback", help="Go back to the model in use before the current one."),
    ] = False,
    list_models: Annotated[
        bool, typer.Option("--list", help="List the learned model versions and stop.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Measure, but never switch models.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Fit the detector on the team's reviewed leads plus the bundled corpus; switch if better.

    Confirmed or reported leads count as promotions, dismissed ones as not. The candidate is
    cross-validated on the reviewed pages and compared with the model in use; it becomes the
    active model only if its promotion F1 there is higher and the development corpus keeps its
    accuracy. Then run `greywatch reanalyze` to re-judge stored pages. Every version is kept
    under $GREYWATCH_HOME/models; `--rollback` returns to the previous one.
    """
    from pipelines import model_store

    if rollback:
        previous = model_store.rollback()
        _out.print(f"now using {previous or 'the bundled model'}; run `greywatch reanalyze`")
        return
    if list_models:
        _print_versions()
        return
    _learn(db, dry_run)


def _learn(db: str | None, dry_run: bool) -> None:
    from pipelines import model_store
    from pipelines.classifier import load_model
    from pipelines.train import Example, learn, read_corpus
    from storage.training import reviewed_pages

    with db_session(db, write=False) as session:
        pages = reviewed_pages(session)
    if len(pages) < MIN_REVIEWS:
        raise InputError(
            f"only {len(pages)} reviewed leads in the database; learning needs {MIN_REVIEWS}",
            hint="review leads first: greywatch review lead ID --status confirmed|dismissed",
        )
    reviewed = [
        Example(f"doc-{p.document_id}", p.kind, p.categories, p.text, "reviewed", p.url)
        for p in pages
    ]
    current = load_model()
    _err.print(f"learning from {len(reviewed)} reviewed pages and the bundled corpus…")
    result = learn(read_corpus(), reviewed, current)
    name = current.version if current else "rules only"
    _out.print(f"before ({name}), on the {len(reviewed)} reviewed pages:")
    print_report(result.before, misses=0)
    _out.print("after (candidate, 5-fold cross-validated on the same pages):")
    print_report(result.after, misses=0)
    _out.print(
        f"development corpus kind accuracy: before {result.corpus_before:.3f}, "
        f"after {result.corpus_after:.3f}"
    )
    if dry_run or not result.better:
        verdict = "dry run" if dry_run else "kept the model in use"
        _out.print(f"{verdict}: {result.why}")
        return
    folder = model_store.new_version_dir(result.model.version + _suffix(result.model.version))
    result.model.save(folder / model_store.MODEL_FILE)
    model_store.write_info(folder, dict(result.model.meta.get("figures", {})))  # type: ignore[arg-type]
    model_store.activate(folder.name)
    _out.print(f"switched to {folder.name}: {result.why}; now run `greywatch reanalyze`")


def _suffix(version: str) -> str:
    """A suffix that keeps a re-learned identical model from clashing with its folder."""
    from pipelines import model_store

    n = sum(1 for v in model_store.list_versions() if v.version.startswith(version))
    return f"-{n + 1}" if n else ""


def _print_versions() -> None:
    from pipelines import model_store

    active = model_store.active_version()
    table = Table(title="learned detector models", title_justify="left")
    for col in ("version", "created (UTC)", "reviewed pages", "active"):
        table.add_column(col)
    for v in model_store.list_versions():
        table.add_row(
            v.version,
            v.created,
            str(v.figures.get("reviewed_pages", "")),
            "yes" if v.version == active else "",
        )
    _out.print(table)
    if active is None:
        _out.print("in use: the bundled model")


def register(app: typer.Typer) -> None:
    """Add `eval` and `learn` to the CLI."""
    app.command("eval")(eval_cmd)
    app.command("learn")(learn)


__all__ = ["ConfigError", "register"]
