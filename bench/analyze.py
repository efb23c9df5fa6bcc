"""Throughput and peak memory of the full analysis, beside bare `jieba.lcut` in the same run.

Run by hand: `python bench/analyze.py [--docs 20000]`. Prints MB/s and docs/s for both, the
ratio (target, issue #13: analysis ≥ 3× jieba.lcut) and the process's peak RSS (target: < 400 MB).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import generate

CHUNK = 500  # documents per alternation between baseline and analysis


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=20000)
    args = parser.parse_args()

    docs = generate(args.docs)
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    print(f"corpus: {len(docs)} documents, {mb:.1f} MB UTF-8 (0.2–5 KB each)")

    import jieba

    from pipelines.analyze import analyze_text
    from pipelines.lexicon import Lexicon

    jieba.setLogLevel(60)
    jieba.initialize()  # load the dictionary outside the timed loop, as analysis does
    lex = Lexicon.load()
    analyze_text("预热", lexicon=lex)  # compile lexicon and regexes outside the timed loop
    kinds: Counter[str] = Counter()
    contacts = 0
    t_jieba = t_full = 0.0
    gc.collect()
    # Interleave the two in chunks so that other load on the machine hits both alike.
    for lo in range(0, len(docs), CHUNK):
        chunk = docs[lo : lo + CHUNK]
        t0 = time.perf_counter()
        for d in chunk:
            jieba.lcut(d)
        t1 = time.perf_counter()
        for i, d in enumerate(chunk, start=lo):
            a = analyze_text(d, doc_id=str(i), lexicon=lex)
            kinds[a.kind] += 1
            contacts += len(a.contacts)
        t_jieba += t1 - t0
        t_full += time.perf_counter() - t1

    def line(name: str, secs: float) -> str:
        return f"{name:<22} {mb / secs:7.2f} MB/s {len(docs) / secs:9.0f} docs/s ({secs:.1f} s)"

    print(line("baseline jieba.lcut", t_jieba))
    print(line("greywatch analysis", t_full))
    print(f"ratio analysis / jieba: {t_jieba / t_full:.2f}x (target >= 3x)")
    print(f"peak RSS: {_peak_rss_mb():.0f} MB (target < 400 MB)")
    print(f"kinds: {dict(kinds)}; contacts found: {contacts}")


if __name__ == "__main__":
    main()
