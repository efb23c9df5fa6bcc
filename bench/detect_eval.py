"""Detector accuracy: cross-validation, leave-one-genre-out and the frozen split, beside the rules.

Run by hand: `python bench/detect_eval.py [--c 100]`. The rules-only detector (the lexicon and
hand-written cues, no model) is judged on the same texts as the baseline. Leave-one-genre-out
trains without a whole genre and judges that genre: the nearest this project gets to wording
nobody here wrote. The frozen split is judged by the bundled model, which never saw it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.classifier import BUNDLED_PATH, DetectorModel
from pipelines.train import (
    DEFAULT_C,
    FROZEN_FILE,
    KINDS,
    Report,
    cross_validate,
    evaluate,
    featurize,
    leave_one_genre_out,
    read_corpus,
    read_examples,
    verdicts_by_analysis,
)


def line(name: str, r: Report) -> str:
    p = r.kinds["promotion"]
    return (
        f"{name:<28} n={r.n:<4} kind acc {r.accuracy:.3f}  promotion P {p['precision']:.3f} "
        f"R {p['recall']:.3f} F1 {p['f1']:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--c", type=float, default=DEFAULT_C)
    args = ap.parse_args()
    examples = read_corpus()
    frozen = read_examples(FROZEN_FILE)
    t0 = time.perf_counter()
    features = featurize(examples)
    print(line("rules only, development", evaluate(examples, verdicts_by_analysis(None, examples))))
    print(line("rules only, frozen", evaluate(frozen, verdicts_by_analysis(None, frozen))))
    print(line("model 5-fold CV", cross_validate(features, examples, c=args.c)))
    logo = leave_one_genre_out(features, examples, c=args.c)
    print("leave-one-genre-out (train without the genre, judge it):")
    totals = dict.fromkeys(("correct", "n", "tp", "promos", "predicted"), 0)
    for genre, r in logo.items():
        print("  " + line(genre, r))
        totals["correct"] += sum(r.confusion[k][k] for k in KINDS)
        totals["n"] += r.n
        totals["tp"] += r.confusion["promotion"]["promotion"]
        totals["promos"] += sum(r.confusion["promotion"].values())
        totals["predicted"] += sum(r.confusion[g]["promotion"] for g in KINDS)
    print(
        f"leave-one-genre-out overall: kind acc {totals['correct'] / totals['n']:.3f}, "
        f"promotion recall {totals['tp'] / totals['promos']:.3f}, "
        f"precision {totals['tp'] / max(totals['predicted'], 1):.3f} "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    # Last, so that a model being retrained alongside is read once it is written.
    model = DetectorModel.load(BUNDLED_PATH)
    print(
        line(
            f"model {model.version}, frozen", evaluate(frozen, verdicts_by_analysis(model, frozen))
        )
    )


if __name__ == "__main__":
    main()
