"""Every extraction the analysis makes on a fixed, varied set of texts, as JSON lines.

Speed work on the analysis must not change what it finds. Run this before a change to record
a baseline, and after it with `--compare` to check that nothing moved:

    python bench/analysis_snapshot.py --out /tmp/base.jsonl
    python bench/analysis_snapshot.py --out /tmp/new.jsonl --compare /tmp/base.jsonl

Texts: the detector corpus (pipelines/data/corpus, frozen split included), the saved pages of
tests/pages (main text as extracted), tests/data inputs (contact snippets, registry CSVs), the
Chinese string literals of the test modules, the bench corpus (bench/corpus.py) and generated
"soup" built from firm suffixes, numerals and separators, which exercises odd corners. Each
line holds the normalized and compact views (offset maps as digests), lexicon hits, contacts,
businesses, USCC codes and the poster fields. The detector's verdict (kind, score, reason,
categories, evidence) is left out on purpose: it is tuned separately. Exit code 1 when
`--compare` finds a difference.
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.corpus import generate  # noqa: E402

# How many bench documents and soup texts: a few thousand texts in all, about a minute to run.
BENCH_DOCS = 1500
SOUP_TEXTS = 600
SOUP_SEED = 20261201
# Pieces the soup is made of: firm suffixes and industry words, stops, places, numerals, digits,
# contact labels, brackets, separators and full-width/Traditional forms. Fixed here (not read
# from the data files) so that the texts themselves never change between two runs.
SOUP_PIECES = (
    "有限公司", "股份有限公司", "分公司", "支行", "服务部", "工作室", "中心", "店", "行", "部",
    "社", "厂", "信息咨询", "企业管理", "法务", "财税", "咨询", "金融服务", "商务", "科技",
    "深圳市", "广州", "上海市", "南山区", "(深圳)", "（北京）", "鑫诚", "金盾", "安信达", "阳光",
    "平安", "我们是", "和", "在", "的", "与", "是", "【", "】", "“", "”", "「", "」", " ", "·",
    "-", "/", "\n", "，", "。", "：", ":", "微信", "威芯", "薇", "V", "vx", "QQ", "扣扣", "秋秋",
    "电话", "手机", "☎", "✨", "一三八", "壹叁捌", "幺", "零", "0", "1", "138", "0013", "8000",
    "0755", "400", "+86", "8", "*", "x", "xinc888", "@", "163", "dot", "com", "点", "艾特", ".cn",
    "www.", "https://", "征信修复", "停息挂账", "代理退保", "不成功不收费", "統一社會信用代碼",
    "91440300MA5F", "0AEH7Y1P", "9144 0300", "税号：", "ＡＢＣ", "１２３", "\u200b", "①", "1️⃣",
)  # fmt: skip


def _jsonl_texts(path: Path, key: str = "text") -> Iterator[tuple[str, str]]:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            yield f"{path.relative_to(ROOT)}:{row.get('id', i)}", str(row[key])


def _page_texts() -> Iterator[tuple[str, str]]:
    """The saved pages' main text as the crawler analyses it (title, then body)."""
    from pipelines.analyze import page_text
    from pipelines.text import extract_page

    for path in sorted((ROOT / "tests" / "pages").iterdir()):
        body = path.read_bytes()
        name = str(path.relative_to(ROOT))
        if path.suffix == ".txt":
            yield name, body.decode("utf-8", "replace")
        else:
            yield name, page_text(extract_page(body, url=path.stem.replace("__", "/")))


def _csv_texts() -> Iterator[tuple[str, str]]:
    """Each cell of the registry test CSVs (company names, addresses, scopes) and each row."""
    for path in sorted((ROOT / "tests" / "data" / "registry").glob("*.csv")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk", "replace")
        for r, row in enumerate(csv.reader(io.StringIO(text))):
            yield f"{path.relative_to(ROOT)}:{r}", " ".join(row)
            for c, cell in enumerate(row):
                if cell:
                    yield f"{path.relative_to(ROOT)}:{r}:{c}", cell


def _test_literals() -> Iterator[tuple[str, str]]:
    """String literals with a Chinese character in the test modules: the edge cases the
    tests were written for (found by parsing, so this runs none of the tests' code)."""
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        seen: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                s = node.value
                if s not in seen and any("\u4e00" <= ch <= "\u9fff" for ch in s):
                    seen.add(s)
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", s


def _soup(n: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(SOUP_SEED)
    for i in range(n):
        k = rng.randint(3, 60)
        yield f"soup:{i}", "".join(rng.choice(SOUP_PIECES) for _ in range(k))


def texts(bench_docs: int = BENCH_DOCS, soup: int = SOUP_TEXTS) -> list[tuple[str, str]]:
    """(source, text) pairs, always the same ones in the same order."""
    out: list[tuple[str, str]] = []
    corpus = ROOT / "pipelines" / "data" / "corpus"
    for path in sorted([*corpus.glob("*.jsonl"), *corpus.glob("frozen/*.jsonl")]):
        out += _jsonl_texts(path)
    out += _page_texts()
    out += _jsonl_texts(ROOT / "tests" / "data" / "contacts" / "obfuscated.jsonl")
    out += _csv_texts()
    out += _test_literals()
    out += ((f"bench:{i}", d) for i, d in enumerate(generate(bench_docs)))
    out += _soup(soup)
    return out


def _digest(offsets: Sequence[int] | None) -> str | None:
    """A short digest of an offset map (None stays None: the view is aligned)."""
    if offsets is None:
        return None
    return hashlib.sha1(",".join(map(str, offsets)).encode()).hexdigest()[:16]


def snapshot(text: str) -> dict[str, object]:
    """Everything extracted from `text`, the detector's verdict left out."""
    from pipelines.analyze import analyze_text
    from pipelines.lexicon import Lexicon
    from pipelines.normalize import compact, normalize

    lex = Lexicon.load()
    a = analyze_text(text, lexicon=lex, model=False)
    norm = normalize(text)
    view = compact(norm)
    hits = []
    for h in lex.find(view):
        s, e = view.to_original(h.start, h.end)
        e_ = h.entry
        hits.append([e_.kind, e_.label, e_.term, e_.weight, h.start, h.end, s, e, text[s:e]])
    return {
        "norm": norm.text,
        "norm_offsets": _digest(norm.offsets),
        "compact": view.text,
        "compact_offsets": _digest(view.offsets),
        "hits": hits,
        "contacts": [[c.kind, c.value, c.raw, c.start, c.end, c.note] for c in a.contacts],
        "businesses": [[b.name, b.form, b.raw, b.start, b.end, b.region] for b in a.businesses],
        "uscc": [[u.code, u.valid, u.raw, u.start, u.end, u.reason] for u in a.uscc],
        "extra": a.extra,
    }


def write(path: Path, pairs: list[tuple[str, str]]) -> None:
    """One JSON line per text: its source, a digest of the text, then its snapshot."""
    with path.open("w", encoding="utf-8") as f:
        for src, text in pairs:
            digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            row = {"src": src, "text_sha1": digest, **snapshot(text)}
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def _rows(path: Path) -> dict[tuple[str, str], str]:
    """Lines of a snapshot keyed by (source, text digest); a repeated key keeps its first line."""
    out: dict[tuple[str, str], str] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line:
            continue
        row = json.loads(line)
        out.setdefault((row["src"], row.get("text_sha1", "")), line)
    return out


def compare(new: Path, old: Path, show: int = 5) -> int:
    """Count texts whose findings differ (printing the first few fields that differ); 0 means
    identical. Texts in only one of the files (someone edited the corpus or a test meanwhile)
    are counted and named apart: they are not comparable."""
    a, b = _rows(new), _rows(old)
    only = sorted(a.keys() ^ b.keys())
    if only:
        print(f"{len(only)} texts in only one snapshot (inputs changed), e.g. {only[0][0]}")
    diffs = 0
    for key in sorted(a.keys() & b.keys()):
        x, y = a[key], b[key]
        if x == y:
            continue
        diffs += 1
        if diffs <= show:
            rx, ry = json.loads(x), json.loads(y)
            keys = sorted(k for k in rx.keys() | ry.keys() if rx.get(k) != ry.get(k))
            print(f"differs: {key[0]}")
            for k in keys:
                print(f"  {k}: now {json.dumps(rx.get(k), ensure_ascii=False)[:300]}")
                print(f"  {k}: was {json.dumps(ry.get(k), ensure_ascii=False)[:300]}")
    print(f"{len(a.keys() & b.keys())} texts compared")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/analysis_snapshot.jsonl"), help="file to write"
    )
    parser.add_argument("--compare", type=Path, help="baseline snapshot to compare with")
    args = parser.parse_args()
    pairs = texts()
    t0 = time.perf_counter()
    write(args.out, pairs)
    print(f"{len(pairs)} texts written to {args.out} ({time.perf_counter() - t0:.1f} s)")
    if args.compare:
        diffs = compare(args.out, args.compare)
        print(f"{diffs} texts differ from {args.compare}")
        sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
