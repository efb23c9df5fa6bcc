"""The learned part of the detector: a linear model over character n-grams and page signals.

Characters and character pairs (1–2-grams) of the compact normalized text are hashed into a
fixed number of buckets (numpy, no vocabulary to store), so unseen spellings still land on
the features of their parts; page signals (`pipelines.signals`) are appended. One multinomial
logistic model gives promotion / warning / other, one binary model per service category gives
the categories, and a Platt scale fitted on cross-validated scores makes `score` a calibrated
probability of "promotion". The model is a single `.npz` file of arrays and JSON metadata
(no pickle), loaded without network and small enough to ship (< 20 MB).
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipelines.errors import ConfigError
from pipelines.settings import Settings, settings

KINDS = ("promotion", "warning", "other")
BUNDLED_PATH = Path(__file__).parent / "data" / "model" / "detector.npz"
# 2**18 buckets: few collisions for the few hundred thousand n-grams a corpus of pages holds,
# while the weight tables stay at ~7 MB (float32) before compression.
NGRAM_BITS = 18
# Characters and character pairs: on the development split 1–2-grams beat 1–3-grams (5-fold
# kind accuracy 0.930 vs 0.917, leave-one-genre-out promotion recall 0.769 vs 0.756) and cost
# a third less.
MAX_NGRAM = 2
# Long pages are judged on their head and tail: that is where ads put offers and contacts, and
# it bounds the cost per page.
HEAD_CHARS = 4000
TAIL_CHARS = 1000
# A page judged "other" with a promotion probability below this is named by its signals only:
# the n-gram search costs more than all the rest of the prediction.
EXPLAIN_OTHER_FROM = 0.2
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio, odd
_BASE = np.uint64(0x110000)  # one more than the largest code point


def model_text(compact_text: str) -> str:
    """The part of a page the model reads (head and tail of long pages)."""
    if len(compact_text) <= HEAD_CHARS + TAIL_CHARS:
        return compact_text
    return compact_text[:HEAD_CHARS] + compact_text[-TAIL_CHARS:]


def ngram_keys(text: str, max_n: int = MAX_NGRAM) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Keys of every 1..max_n-gram of `text`, and each n's (offset, n) block in them.

    An n-gram's key is its code points in base 0x110000 (the first one plus 1), so keys of
    different lengths fall in different ranges and need no tag.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    parts: list[np.ndarray] = []
    blocks: list[tuple[int, int]] = []
    offset = 0
    key = codes + np.uint64(1)
    for n in range(1, min(max_n, len(codes)) + 1):
        if n > 1:
            key = key[:-1] * _BASE + codes[n - 1 :]
        parts.append(key)
        blocks.append((offset, n))
        offset += len(key)
    if not parts:
        return np.zeros(0, dtype=np.uint64), []
    return np.concatenate(parts), blocks


def ngram_buckets(text: str, bits: int = NGRAM_BITS) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The hash bucket of every n-gram of `text` (in `ngram_keys` order) and its blocks.

    Multiplicative (Fibonacci) hashing: the top bits of key × an odd 64-bit constant. Two
    array operations per page, and it spreads the structured keys evenly enough for a model.
    """
    keys, blocks = ngram_keys(text)
    return ((keys * _GOLDEN) >> np.uint64(64 - bits)).astype(np.int64), blocks


def ngram_vector(
    text: str, bits: int = NGRAM_BITS, buckets: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse l2-normalized sublinear term frequencies: (bucket indexes, values, and the
    position of each bucket's first n-gram in `buckets`, for explanations)."""
    if buckets is None:
        buckets, _ = ngram_buckets(text, bits)
    if not len(buckets):
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=np.float32), empty
    # np.unique by hand: an unstable sort is enough, since any occurrence of a bucket names the
    # same n-gram for an explanation, and it is cheaper than unique(return_index=True).
    order = np.argsort(buckets)
    ordered = buckets[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    idx, first = ordered[starts], order[starts]
    counts = np.diff(np.append(starts, len(ordered)))
    values = 1.0 + np.log(counts.astype(np.float32))
    values /= np.sqrt(np.dot(values, values))
    return idx, values.astype(np.float32), first


@dataclass(frozen=True)
class Prediction:
    """Class probabilities, calibrated promotion score, category probabilities, and why."""

    probs: dict[str, float]
    score: float
    categories: dict[str, float]
    signals: tuple[tuple[str, float], ...]  # (signal name, contribution toward the verdict)
    ngrams: tuple[tuple[str, float], ...]  # (n-gram text, contribution toward the verdict)


class DetectorModel:
    """Weights of the learned detector; `predict` scores one page's n-grams and signals."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> None:
        self.meta = meta
        self.version = str(meta["version"])
        self.bits = int(meta.get("bits", NGRAM_BITS))  # type: ignore[call-overload]
        self.signal_names = tuple(meta["signal_names"])  # type: ignore[arg-type]
        self.categories = tuple(meta["categories"])  # type: ignore[arg-type]
        self.w_ngram = arrays["w_ngram"]  # (2**bits, 3)
        self.w_signal = arrays["w_signal"]  # (n_signals, 3)
        self.bias = arrays["bias"]  # (3,)
        self.c_ngram = arrays["c_ngram"]  # (2**bits, n_categories)
        self.c_signal = arrays["c_signal"]  # (n_signals, n_categories)
        self.c_bias = arrays["c_bias"]  # (n_categories,)
        self.platt = arrays["platt"]  # (a, b): calibrated = sigmoid(a * logit(p) + b)
        self._w_all = np.hstack([self.w_ngram, self.c_ngram])
        self._s_all = np.hstack([self.w_signal, self.c_signal])
        self._b_all = np.concatenate([self.bias, self.c_bias])
        self._platt = (float(self.platt[0]), float(self.platt[1]))

    @classmethod
    def load(cls, path: Path | str) -> DetectorModel:
        """Read a model file; a missing or malformed file is a ConfigError naming it."""
        p = Path(path)
        try:
            with np.load(p, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays.pop("meta")))
            model = cls(arrays, meta)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{p}: not a greywatch detector model ({exc})") from None
        if model.w_ngram.shape[0] != 1 << model.bits:
            raise ConfigError(f"{p}: n-gram table does not match its {model.bits} bits")
        return model

    def save(self, path: Path | str) -> None:
        """Write the model as one compressed .npz (arrays + JSON metadata, no pickle)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "w_ngram": self.w_ngram,
            "w_signal": self.w_signal,
            "bias": self.bias,
            "c_ngram": self.c_ngram,
            "c_signal": self.c_signal,
            "c_bias": self.c_bias,
            "platt": self.platt,
        }
        meta = np.array(json.dumps(self.meta, ensure_ascii=False, sort_keys=True))
        tmp = p.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, meta=meta, **arrays)
        tmp.replace(p)

    def predict(self, text: str, signal_values: np.ndarray, explain: bool = True) -> Prediction:
        """Score one page: `text` is the compact normalized text, `signal_values` its signals."""
        text = model_text(text)
        buckets, blocks = ngram_buckets(text, self.bits)
        idx, vals, first = ngram_vector(text, self.bits, buckets)
        rows = self._w_all[idx]  # one gather for the kind and the category weights
        probs, cats = self._scores(rows, vals, signal_values)
        score = self.calibrate(probs[0])
        kind = _kind_of(score, probs)
        signals: tuple[tuple[str, float], ...] = ()
        ngrams: tuple[tuple[str, float], ...] = ()
        if explain:
            k = KINDS.index(kind)
            signals = _top_signals(self.signal_names, signal_values, self.w_signal, k)
            if kind != "other" or score >= EXPLAIN_OTHER_FROM:
                ngrams = _top_ngrams(text, blocks, first, vals, rows[:, :3], k)
        return Prediction(
            dict(zip(KINDS, probs, strict=True)),
            score,
            dict(zip(self.categories, cats, strict=True)),
            signals,
            ngrams,
        )

    def scores(
        self, idx: np.ndarray, vals: np.ndarray, signal_values: np.ndarray
    ) -> tuple[list[float], list[float]]:
        """Kind probabilities (in KINDS order) and category probabilities of a page given as
        its n-gram buckets `idx` with their `vals` and its signals."""
        return self._scores(self._w_all[idx], vals, signal_values)

    def _scores(
        self, rows: np.ndarray, vals: np.ndarray, signal_values: np.ndarray
    ) -> tuple[list[float], list[float]]:
        z = (vals @ rows + signal_values @ self._s_all + self._b_all).tolist()
        probs = _softmax(z[:3])  # a handful of numbers: plain floats beat numpy calls here
        return probs, [1.0 / (1.0 + math.exp(-v)) for v in z[3:]]

    def calibrate(self, p_promotion: float) -> float:
        """Platt-scaled probability that the page is a promotion."""
        p = min(max(p_promotion, 1e-6), 1 - 1e-6)
        a, b = self._platt
        return 1.0 / (1.0 + math.exp(-(a * math.log(p / (1 - p)) + b)))


def _softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    total = sum(e)
    return [v / total for v in e]


def _kind_of(score: float, probs: Sequence[float]) -> str:
    """Promotion exactly when the calibrated score is ≥ 0.5; otherwise the likelier of the two."""
    if score >= 0.5:
        return "promotion"
    return "warning" if probs[1] >= probs[2] else "other"


def kind_of(score: float, probs: dict[str, float]) -> str:
    """Public form of the decision rule, for evaluation code that holds dict probabilities."""
    return _kind_of(score, [probs[k] for k in KINDS])


def _margin(w: np.ndarray, k: int) -> np.ndarray:
    """How much each feature pushes class k above the mean of the classes."""
    return w[..., k] - w.mean(axis=-1)


def _top_signals(
    names: Sequence[str], values: np.ndarray, w: np.ndarray, k: int, n: int = 4
) -> tuple[tuple[str, float], ...]:
    contrib = values * _margin(w, k)
    order = np.argsort(-contrib)[:n]
    return tuple((names[i], round(float(contrib[i]), 3)) for i in order if contrib[i] > 0.05)


def _top_ngrams(
    text: str,
    blocks: list[tuple[int, int]],
    first: np.ndarray,
    vals: np.ndarray,
    w: np.ndarray,
    k: int,
    n: int = 4,
) -> tuple[tuple[str, float], ...]:
    """The multi-character n-grams (letters and characters only, no punctuation) of the page
    that pushed hardest toward the verdict."""
    if not len(vals):
        return ()
    contrib = vals * _margin(w, k)
    top = np.argpartition(-contrib, min(n * 6, len(contrib) - 1))[: n * 6]
    out: list[tuple[str, float]] = []
    seen: set[str] = set()
    for i in top[np.argsort(-contrib[top])]:
        if contrib[i] <= 0.02 or len(out) >= n:
            break
        gram = _gram_at(text, blocks, int(first[i]))
        if len(gram) >= 2 and gram.isalnum() and not any(gram in s for s in seen):
            seen.add(gram)
            out.append((gram, round(float(contrib[i]), 3)))
    return tuple(out)


def _gram_at(text: str, blocks: list[tuple[int, int]], position: int) -> str:
    for offset, n in reversed(blocks):
        if position >= offset:
            start = position - offset
            return text[start : start + n]
    return ""


def default_model_path() -> Path:
    """The model in use: $GREYWATCH_MODEL, else the team's learned model, else the bundled one."""
    from pipelines.model_store import active_model_path

    return active_model_path() or BUNDLED_PATH


def load_model(path: Path | str | None = None) -> DetectorModel | None:
    """The active detector model (resolved once per configuration), or None when no model file
    exists. `forget_model()` makes the next call look again (after `learn` switches models)."""
    if path is not None:
        p = Path(path)
        return _load_cached(str(p), p.stat().st_mtime_ns) if p.exists() else None
    return _active(settings())


@lru_cache(maxsize=4)
def _active(config: Settings) -> DetectorModel | None:
    return load_model(default_model_path())


def forget_model() -> None:
    """Drop the cached choice of active model (the files themselves are re-read only if new)."""
    _active.cache_clear()


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> DetectorModel:
    return DetectorModel.load(path)
