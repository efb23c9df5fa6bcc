"""First-call latency of business-name extraction in a fresh process: jieba start-up.

    .venv/bin/python bench/jieba_startup.py            # 7 rounds
    .venv/bin/python bench/jieba_startup.py --rounds 15

Each round starts three fresh interpreters and times, from before `import pipelines.businesses`
to the end of the first `extract_businesses` call (what every CLI run and crawl subprocess pays):

- baseline: the pre-cache start-up, run in the same process: `import jieba.posseg` for its whole
  POS table, jieba's own prefix-dictionary cache, add_word for each of our words;
- cold: greywatch with an empty cache home (computes the state, writes the cache);
- warm: greywatch with the cache written by an earlier round.

Rounds interleave the three so that other load on the machine hits them alike; jieba's own
cache (/tmp/jieba.cache) is assumed present, as it is after any first run. Medians are printed
with their ratio to the baseline, and whether the three found the same names.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("baseline", "cold", "warm")
# Ads and news in the styles extraction meets, so the first call exercises every rule.
SAMPLE = [
    "专业征信修复，联系鑫诚法务，微信同号13800138000",
    "经查，深圳市 鑫诚 信息咨询 有限公司无征信资质，广州·安信商务服务有限公司同样被约谈。",
    "【阳光法务】专业停息挂账，东莞市恒通 财税咨询服务部诚招代理。",
    "我在鑫诚商行买的，老王五金店旁边就是中国工商银行股份有限公司北京朝阳支行。",
]


def _legacy_jieba() -> tuple[object, dict[str, str]]:
    """The start-up before the cache: jieba's default tokenizer, our words added, and
    jieba.posseg's whole table (its results equal greywatch's: tests check the tables)."""
    import jieba
    import jieba.posseg

    from pipelines import businesses

    jieba.setLogLevel(60)
    for word in businesses._added_words(businesses._rules()):
        jieba.add_word(word)
    return jieba.dt, jieba.posseg.dt.word_tag_tab


def _child(mode: str) -> None:
    """Time the first extraction in this (fresh) process; print timings and names as JSON."""
    t0 = time.perf_counter()
    from pipelines import businesses

    if mode == "baseline":
        businesses._jieba = lru_cache(maxsize=1)(_legacy_jieba)
    t1 = time.perf_counter()
    businesses._jieba()
    t2 = time.perf_counter()
    found = [[b.name for b in businesses.extract_businesses(text)] for text in SAMPLE]
    t3 = time.perf_counter()
    print(json.dumps({"first_call": t3 - t0, "jieba": t2 - t1, "names": found}))


def _run(mode: str, cache_home: Path) -> dict[str, object]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_home)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return

    runs: dict[str, list[dict[str, object]]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        warm_home = Path(tmp) / "warm"
        _run("cold", warm_home)  # writes the cache the warm rounds read
        for i in range(args.rounds):
            runs["baseline"].append(_run("baseline", Path(tmp) / f"base{i}"))
            runs["cold"].append(_run("cold", Path(tmp) / f"cold{i}"))
            runs["warm"].append(_run("warm", warm_home))

    base = statistics.median(r["first_call"] for r in runs["baseline"])
    print(f"first extract_businesses call in a fresh process, median of {args.rounds} rounds")
    print(f"{'':<9} {'first call':>11} {'of which jieba':>15} {'vs baseline':>12}")
    for mode in MODES:
        first = statistics.median(r["first_call"] for r in runs[mode])
        jieba_s = statistics.median(r["jieba"] for r in runs[mode])
        print(f"{mode:<9} {first * 1000:8.0f} ms {jieba_s * 1000:12.0f} ms {base / first:11.2f}x")
    same = len({json.dumps(r["names"]) for rs in runs.values() for r in rs}) == 1
    print(f"same names in all runs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
