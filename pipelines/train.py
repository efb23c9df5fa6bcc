"""Train and evaluate the learned detector from labelled JSONL texts.

A labelled line is `{"id", "kind", "categories", "text" | "html"}` (plus optional `genre`).
Pages are featurized once — exactly as `pipelines.analyze` sees them — so cross-validation and
leave-one-genre-out folds only refit the linear models. Training is deterministic (lbfgs on
data in file order). `python -m pipelines.train` rebuilds the bundled model from the bundled
development corpus (the frozen test split is never read for training).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from pipelines.analyze import page_text
from pipelines.classifier import KINDS, NGRAM_BITS, DetectorModel, model_text, ngram_vector
from pipelines.contacts import extract_contacts
from pipelines.detect import RuleVerdict, decide, on_topic, rule_verdict
from pipelines.errors import InputError
from pipelines.lexicon import Lexicon
from pipelines.normalize import compact, normalize
from pipelines.signals import CATEGORIES, SignalSet, load_signals, page_signals
from pipelines.text import extract_page

CORPUS_DIR = Path(__file__).parent / "data" / "corpus"
FROZEN_FILE = CORPUS_DIR / "frozen" / "frozen_test.jsonl"
# Inverse regularization strength, chosen on the development split only (5-fold and
# leave-one-genre-out): C = 10, 30, 100 gave kind accuracy 0.908, 0.912, 0.917 and
# leave-one-genre-out promotion recall 0.840, 0.853, 0.861 on the 947 development texts.
DEFAULT_C = 100.0
CATEGORY_C = 10.0
FOLDS = 5


@dataclass(frozen=True)
class Example:
    """One labelled page."""

    id: str
    kind: str
    categories: tuple[str, ...]
    text: str
    genre: str = ""
    origin: str = ""  # file:line, for error messages and miss lists


@dataclass
class Features:
    """Featurized pages: the sparse n-gram+signal matrix and the signal names it ends with."""

    matrix: sparse.csr_matrix
    signal_names: tuple[str, ...]
    rules: list[RuleVerdict]  # the hand-written rules' verdict per page
    topical: list[bool] = field(default_factory=list)  # `detect.on_topic` per page
    bits: int = NGRAM_BITS


def read_examples(path: Path | str) -> list[Example]:
    """Labelled pages from a JSONL file; a bad line is an InputError naming file and line."""
    p = Path(path)
    out: list[Example] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8") from None
    for n, line in enumerate(lines, 1):
        if line.strip():
            out.append(_example(line, f"{p}:{n}"))
    return out


def _example(line: str, where: str) -> Example:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise InputError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object")
    kind = data.get("kind")
    if kind not in KINDS:
        raise InputError(f"{where}: 'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    cats = data.get("categories", [])
    if not isinstance(cats, list) or any(c not in CATEGORIES for c in cats):
        raise InputError(f"{where}: 'categories' must list some of {', '.join(CATEGORIES)}")
    text = data.get("text")
    if not isinstance(text, str):
        html = data.get("html")
        if not isinstance(html, str):
            raise InputError(f"{where}: needs 'text' or 'html' (a string)")
        text = page_text(extract_page(html, url=str(data.get("url", ""))))
    return Example(
        str(data.get("id") or where), kind, tuple(cats), text, str(data.get("genre", "")), where
    )


def corpus_files(root: Path = CORPUS_DIR) -> list[Path]:
    """The development corpus: every JSONL file directly in the corpus folder (not frozen/)."""
    return sorted(root.glob("*.jsonl"))


def read_corpus(root: Path = CORPUS_DIR) -> list[Example]:
    """All development examples, files in name order."""
    return [ex for f in corpus_files(root) for ex in read_examples(f)]


def featurize(
    examples: Sequence[Example], lexicon: Lexicon | None = None, signals: SignalSet | None = None
) -> Features:
    """The model's inputs for each page, computed as the analysis computes them."""
    lex = lexicon or Lexicon.load()
    sig = signals or load_signals()
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    verdicts: list[RuleVerdict] = []
    topical: list[bool] = []
    width = 1 << NGRAM_BITS
    for i, ex in enumerate(examples):
        idx, v, s, rules, on = _page_features(ex.text, lex, sig)
        verdicts.append(rules)
        topical.append(on)
        rows.append(np.full(len(idx) + len(s), i))
        cols.append(np.concatenate([idx, width + np.arange(len(s))]))
        vals.append(np.concatenate([v, s]))
    shape = (len(examples), width + len(sig.names))
    matrix = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )
    return Features(matrix, sig.names, verdicts, topical)


def _page_features(
    text: str, lex: Lexicon, sig: SignalSet
) -> tuple[np.ndarray, np.ndarray, np.ndarray, RuleVerdict, bool]:
    norm = normalize(text)
    view = compact(norm)
    hits = lex.find(view)
    contacts = extract_contacts(text, norm=norm)
    rules = rule_verdict(view, hits, contacts)
    signal_values = page_signals(
        sig, norm.text, view.text, hits, contacts, rules.quoted, rules.kind
    )
    idx, v, _ = ngram_vector(model_text(view.text))
    return idx, v, signal_values, rules, on_topic(signal_values, sig.names, hits)


def fit(
    features: Features,
    examples: Sequence[Example],
    rows: Sequence[int] | None = None,
    c: float = DEFAULT_C,
    calibrate: bool = True,
    version: str = "",
) -> DetectorModel:
    """Fit the kind model, the category models and the Platt scale on the given rows."""
    from sklearn.linear_model import LogisticRegression

    sel = np.arange(len(examples)) if rows is None else np.asarray(rows)
    # Fit on the columns these pages use (a fraction of the hashed space): same solution,
    # since an unused column's weight stays 0 under L2, and several times faster.
    used = np.unique(features.matrix[sel].indices)
    x = features.matrix[sel][:, used]
    y = np.array([KINDS.index(examples[i].kind) for i in sel])
    kind_lr = LogisticRegression(
        C=c, solver="newton-cg", max_iter=300, class_weight="balanced"
    ).fit(x, y)
    n_cols = features.matrix.shape[1]
    coef = np.zeros((3, n_cols), np.float64)
    bias = np.zeros(3)
    for j, cls in enumerate(kind_lr.classes_):
        coef[cls, used] = kind_lr.coef_[j]
        bias[cls] = kind_lr.intercept_[j]
    width = 1 << features.bits
    c_coef = np.zeros((len(CATEGORIES), n_cols))
    c_bias = np.full(len(CATEGORIES), -5.0)
    topical = [i for i in sel if examples[i].kind != "other"]
    xt = features.matrix[topical][:, used]
    for j, cat in enumerate(CATEGORIES):
        yc = np.array([cat in examples[i].categories for i in topical])
        if 0 < yc.sum() < len(yc):
            lr = LogisticRegression(
                C=CATEGORY_C, solver="newton-cg", max_iter=300, class_weight="balanced"
            )
            lr.fit(xt, yc)
            c_coef[j, used], c_bias[j] = lr.coef_[0], lr.intercept_[0]
    platt = _platt(features, examples, sel, c) if calibrate else np.array([1.0, 0.0])
    meta = {
        "version": version or _version(features, sel, c),
        "bits": features.bits,
        "signal_names": list(features.signal_names),
        "categories": list(CATEGORIES),
        "c": c,
        "trained_on": len(sel),
    }
    arrays = {
        "w_ngram": coef[:, :width].T.astype(np.float32),
        "w_signal": coef[:, width:].T.astype(np.float32),
        "bias": bias.astype(np.float32),
        "c_ngram": c_coef[:, :width].T.astype(np.float32),
        "c_signal": c_coef[:, width:].T.astype(np.float32),
        "c_bias": c_bias.astype(np.float32),
        "platt": platt.astype(np.float64),
    }
    return DetectorModel(arrays, meta)


def _version(features: Features, sel: np.ndarray, c: float) -> str:
    """A content digest of the training data and settings: same data, same version."""
    h = hashlib.sha256()
    m = features.matrix[sel]
    for part in (m.data, m.indices, m.indptr):
        h.update(np.ascontiguousarray(part).tobytes())
    h.update(repr((c, features.signal_names)).encode())
    return "m-" + h.hexdigest()[:12]


def _platt(
    features: Features, examples: Sequence[Example], sel: np.ndarray, c: float
) -> np.ndarray:
    """Fit sigmoid(a·logit(p) + b) to cross-validated promotion probabilities."""
    from sklearn.linear_model import LogisticRegression

    p = np.zeros(len(sel))
    for train, test in _folds([examples[i] for i in sel], FOLDS):
        model = fit(features, examples, sel[train], c=c, calibrate=False, version="cv")
        p[test] = [_row_scores(model, features.matrix[sel[t]])[0][0] for t in test]
    p = np.clip(p, 1e-6, 1 - 1e-6)
    z = np.log(p / (1 - p)).reshape(-1, 1)
    y = np.array([examples[i].kind == "promotion" for i in sel])
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(z, y)
    return np.array([lr.coef_[0][0], lr.intercept_[0]])


def _row_scores(model: DetectorModel, row: sparse.csr_matrix) -> tuple[list[float], list[float]]:
    """`DetectorModel.scores` of one featurized row (n-gram columns, then the signals)."""
    width = 1 << model.bits
    idx, vals = row.indices, row.data.astype(np.float32)
    ng = idx < width
    signals = np.zeros(len(model.signal_names), np.float32)
    signals[idx[~ng] - width] = vals[~ng]
    return model.scores(idx[ng], vals[ng], signals)


def _folds(examples: Sequence[Example], k: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Deterministic stratified folds: each kind dealt round-robin in a digest order."""
    order = sorted(
        range(len(examples)), key=lambda i: hashlib.sha256(examples[i].id.encode()).hexdigest()
    )
    fold_of = np.zeros(len(examples), int)
    for kind in KINDS:
        members = [i for i in order if examples[i].kind == kind]
        for n, i in enumerate(members):
            fold_of[i] = n % k
    for f in range(k):
        yield np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)


@dataclass(frozen=True)
class Verdict:
    """A predicted kind, categories and score for one example."""

    kind: str
    categories: tuple[str, ...]
    score: float


def predict_rows(model: DetectorModel, features: Features, rows: Sequence[int]) -> list[Verdict]:
    """Verdicts from a featurized matrix, decided as `pipelines.detect` decides them."""
    out: list[Verdict] = []
    for r in rows:
        row = features.matrix[r]
        kind_probs, cat_probs = _row_scores(model, row)
        probs = dict(zip(KINDS, kind_probs, strict=True))
        cats_p = dict(zip(model.categories, cat_probs, strict=True))
        kind, score, cats, _ = decide(
            model.calibrate(probs["promotion"]),
            probs,
            cats_p,
            features.rules[r],
            features.topical[r] if features.topical else True,
        )
        out.append(Verdict(kind, cats, score))
    return out


@dataclass
class Report:
    """Figures of predictions against gold labels."""

    n: int
    accuracy: float
    confusion: dict[str, dict[str, int]]
    kinds: dict[str, dict[str, float]]
    categories: dict[str, dict[str, float]]
    brier: float
    misses: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """Plain data for JSON output and model info files."""
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "confusion": self.confusion,
            "kinds": self.kinds,
            "categories": self.categories,
            "brier": round(self.brier, 4),
            "misses": self.misses,
        }


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "support": tp + fn}


def evaluate(gold: Sequence[Example], pred: Sequence[Verdict]) -> Report:
    """Confusion matrix, per-kind and per-category precision/recall/F1, Brier score, misses."""
    confusion = {g: dict.fromkeys(KINDS, 0) for g in KINDS}
    for g, p in zip(gold, pred, strict=True):
        confusion[g.kind][p.kind] += 1
    kinds = {
        k: _prf(
            confusion[k][k],
            sum(confusion[g][k] for g in KINDS if g != k),
            sum(confusion[k][p] for p in KINDS if p != k),
        )
        for k in KINDS
    }
    cats: dict[str, dict[str, float]] = {}
    for c in CATEGORIES:
        tp = sum(
            1 for g, p in zip(gold, pred, strict=True) if c in g.categories and c in p.categories
        )
        fp = sum(
            1
            for g, p in zip(gold, pred, strict=True)
            if c not in g.categories and c in p.categories
        )
        fn = sum(
            1
            for g, p in zip(gold, pred, strict=True)
            if c in g.categories and c not in p.categories
        )
        cats[c] = _prf(tp, fp, fn)
    correct = sum(confusion[k][k] for k in KINDS)
    brier = (
        float(
            np.mean(
                [(p.score - (g.kind == "promotion")) ** 2 for g, p in zip(gold, pred, strict=True)]
            )
        )
        if gold
        else 0.0
    )
    misses = [
        {
            "id": g.id,
            "genre": g.genre,
            "gold": g.kind,
            "predicted": p.kind,
            "score": round(p.score, 3),
            "text": g.text[:80].replace("\n", " "),
        }
        for g, p in zip(gold, pred, strict=True)
        if g.kind != p.kind
    ]
    return Report(
        len(gold), correct / len(gold) if gold else 0.0, confusion, kinds, cats, brier, misses
    )


def cross_validate(
    features: Features, examples: Sequence[Example], c: float = DEFAULT_C, folds: int = FOLDS
) -> Report:
    """k-fold cross-validated figures (each page judged by a model that never saw it)."""
    verdicts: list[Verdict | None] = [None] * len(examples)
    for train, test in _folds(examples, folds):
        model = fit(features, examples, train, c=c, version="cv")
        for i, v in zip(test, predict_rows(model, features, test), strict=True):
            verdicts[i] = v
    return evaluate(examples, [v for v in verdicts if v is not None])


def leave_one_genre_out(
    features: Features, examples: Sequence[Example], c: float = DEFAULT_C
) -> dict[str, Report]:
    """For each genre: train on every other genre, judge this one (nearest to unseen text)."""
    out: dict[str, Report] = {}
    genres = sorted({ex.genre for ex in examples if ex.genre})
    for genre in genres:
        test = np.array([i for i, ex in enumerate(examples) if ex.genre == genre])
        train = np.array([i for i, ex in enumerate(examples) if ex.genre != genre])
        model = fit(features, examples, train, c=c, calibrate=False, version="logo")
        out[genre] = evaluate([examples[i] for i in test], predict_rows(model, features, test))
    return out


def verdicts_by_analysis(model: DetectorModel | None, examples: Sequence[Example]) -> list[Verdict]:
    """Verdicts the full analysis gives (model None: rules only) — what `greywatch eval` runs."""
    from pipelines.analyze import analyze_text

    out: list[Verdict] = []
    for ex in examples:
        d = analyze_text(ex.text, doc_id=ex.id, model=model if model is not None else False)
        out.append(Verdict(d.kind, d.detection.categories, d.detection.score))
    return out


@dataclass
class LearnResult:
    """A candidate model and the figures that decide whether it replaces the one in use."""

    model: DetectorModel
    before: Report  # the model in use, on the reviewed pages
    after: Report  # the candidate, cross-validated on the reviewed pages
    corpus_before: float  # kind accuracy on the development corpus (cross-validated)
    corpus_after: float
    better: bool
    why: str


# The candidate may cost the development corpus at most this much kind accuracy: the team's
# reviews are the point, but not at the price of forgetting the genres the corpus holds.
MAX_CORPUS_LOSS = 0.02


def learn(
    corpus: Sequence[Example],
    reviewed: Sequence[Example],
    current: DetectorModel | None,
    c: float = DEFAULT_C,
) -> LearnResult:
    """Fit on corpus + reviewed pages; judge it against the model in use on the reviews."""
    pool = [*corpus, *reviewed]
    features = featurize(pool)
    verdicts: list[Verdict | None] = [None] * len(pool)
    for train, test in _folds(pool, FOLDS):
        fold_model = fit(features, pool, train, c=c, version="cv")
        for i, v in zip(test, predict_rows(fold_model, features, test), strict=True):
            verdicts[i] = v
    done = [v for v in verdicts if v is not None]
    n = len(corpus)
    after = evaluate(reviewed, done[n:])
    corpus_after = evaluate(corpus, done[:n]).accuracy
    before = evaluate(reviewed, verdicts_by_analysis(current, reviewed))
    figures = (current.meta.get("figures") if current else None) or {}
    corpus_before = float(figures.get("cv_accuracy", corpus_after))  # type: ignore[union-attr]
    gain = after.kinds["promotion"]["f1"] - before.kinds["promotion"]["f1"]
    loss = corpus_before - corpus_after
    better = gain > 0 and loss <= MAX_CORPUS_LOSS
    if gain <= 0:
        why = f"promotion F1 on the reviewed pages does not improve ({gain:+.3f})"
    elif loss > MAX_CORPUS_LOSS:
        why = f"the development corpus would lose {loss:.3f} kind accuracy (max {MAX_CORPUS_LOSS})"
    else:
        why = f"promotion F1 on the reviewed pages {gain:+.3f}, corpus accuracy {-loss:+.3f}"
    model = fit(features, pool, c=c)
    model.meta["figures"] = {
        "cv_accuracy": round(corpus_after, 4),
        "reviewed_f1": after.kinds["promotion"]["f1"],
        "reviewed_pages": len(reviewed),
    }
    return LearnResult(model, before, after, corpus_before, corpus_after, better, why)


def main(argv: Sequence[str] | None = None) -> None:
    """Rebuild the bundled model from the development corpus and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "data" / "model" / "detector.npz"
    )
    ap.add_argument("--c", type=float, default=DEFAULT_C)
    ap.add_argument("--cv", action="store_true", help="also print cross-validated figures")
    args = ap.parse_args(argv)
    examples = read_corpus()
    features = featurize(examples)
    model = fit(features, examples, c=args.c)
    cv = cross_validate(features, examples, c=args.c)
    model.meta["figures"] = {"cv_accuracy": round(cv.accuracy, 4), "corpus_pages": len(examples)}
    model.save(args.out)
    print(
        f"trained {model.version} on {len(examples)} pages -> {args.out} "
        f"({args.out.stat().st_size / 1e6:.1f} MB)"
    )
    if args.cv:
        print(json.dumps(cv.to_json() | {"misses": "…"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
