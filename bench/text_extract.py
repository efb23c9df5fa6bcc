"""Throughput of `extract_page` beside bare `trafilatura.extract` in the same run.

Run by hand: `python bench/text_extract.py [--mb 20]`. Repeats the saved test pages
(tests/pages) to about --mb megabytes of raw bytes, times both over the same bytes, and prints
pages/s, MB/s and the ratio. Then prints, per page, which extractor extract_page chose, the
prose score of each candidate, and whether bare trafilatura leaks phrases our tests forbid.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import trafilatura  # noqa: E402

from pipelines.text import (  # noqa: E402
    _content_nodes,
    _density_blocks,
    _parse,
    _trafilatura,
    clean_tree,
    decode_html,
    extract_page,
    filter_lines,
    load_rules,
    prose_score,
    render,
)

PAGES = ROOT / "tests" / "pages"


def _corpus(mb: float) -> list[bytes]:
    pages = [p.read_bytes() for p in sorted(PAGES.glob("*.html"))]
    size = sum(len(p) for p in pages)
    reps = max(1, round(mb * 1e6 / size))
    return pages * reps


def _time(label: str, fn: Callable[[bytes], object], docs: list[bytes]) -> float:
    """Run fn over docs; rates use CPU time (the bench box is shared), wall time shown too."""
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    for doc in docs:
        fn(doc)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    mb = sum(len(d) for d in docs) / 1e6
    print(
        f"{label:<22} cpu {cpu:7.2f} s (wall {wall:7.2f} s)  {len(docs) / cpu:7.1f} pages/s"
        f"  {mb / cpu:6.3f} MB/s"
    )
    return cpu


def _compare() -> None:
    """Per page: chosen method, rules vs trafilatura prose scores, bare-trafilatura leaks.

    extract_page only runs trafilatura (and compares) when no known content container
    matched; the scores are shown for every page for reference.
    """
    sys.path.insert(0, str(ROOT / "tests"))
    from test_text import CASES  # the must-not phrases live with the tests

    forbidden = {c[0]: c[6] for c in CASES}
    rules = load_rules()
    print(f"\n{'page':<62} {'chosen':<12} {'rules':>6} {'traf':>6}  bare-trafilatura leaks")
    for path in sorted(PAGES.glob("*.html")):
        body = path.read_bytes()
        page = extract_page(body)
        text, _ = decode_html(body, None)
        root = _parse(text)
        rules_score = traf_score = 0
        if root is not None:
            nodes = _content_nodes(root, rules)
            clean_tree(root, {a for n in nodes for a in (n, *n.iterancestors())}, rules)
            live = [n for n in nodes if n.getparent() is not None]
            block = live or (_density_blocks(root, rules) or [[]])[0]
            rules_score = prose_score(filter_lines("\n".join(map(render, block)), rules)[0])
            traf_score = prose_score(filter_lines(_trafilatura(root, ""), rules)[0])
        bare = trafilatura.extract(body) or ""
        leaks = [p for p in forbidden.get(path.name, []) if p in bare]
        print(f"{path.name:<62} {page.method:<12} {rules_score:>6} {traf_score:>6}  {leaks}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=20.0, help="raw bytes to process")
    args = parser.parse_args()

    docs = _corpus(args.mb)
    mb = sum(len(d) for d in docs) / 1e6
    print(
        f"corpus: {len(docs)} pages, {mb:.1f} MB ({len(docs) // len(list(PAGES.glob('*.html')))}"
        " × the saved test pages)"
    )
    extract_page(docs[0])  # load rules and trafilatura outside the timed loops
    trafilatura.extract(docs[0])
    ours = _time("extract_page", extract_page, docs)
    theirs = _time("trafilatura.extract", trafilatura.extract, docs)
    print(f"ratio (CPU): extract_page takes {ours / theirs:.2f}× the time of trafilatura.extract")
    _compare()


if __name__ == "__main__":
    main()
