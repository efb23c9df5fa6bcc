"""Benchmark name matching: names/s at 500,000 and 1,000,000 registrations vs a plain lookup.

    .venv/bin/python bench/match.py                     # 500k and 1M registrations, 10,000 names
    .venv/bin/python bench/match.py --rows 100000 --names 2000 --sizes 50000,100000

Registrations are generated from a fixed seed: a few thousand brand cores × the cities of
pipelines/data/regions.yaml × industry words, in the name styles real exports use
(深圳市鑫诚信息咨询有限公司, 深圳鑫诚…, 鑫诚(深圳)…), with valid USCCs, written as a UTF-8-BOM
CSV and imported with `import_registry` into a temporary SQLite file. Lead names mix exact
names (some Traditional or spaced), brand + city variants, brand-only mentions with a city in
the text, one-character look-alikes, and absent firms. Import and matching each run in a forked
child so each peak RSS (VmHWM) is that phase's own. For each registry size the index holds the
first registrations (by id) and the lead names are drawn from those. The baseline, in the same
child as matching and on the same names, is a plain dict lookup of the normalized names.
(Import speed itself: bench/registry_import.py.)
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from bench.child import run_in_child
from pipelines import uscc
from pipelines.names import normalize_name, split_name, vocab

# Characters brand cores are made of (the usual auspicious ones, so look-alikes abound).
BRAND_CHARS = (
    "鑫诚城成信安恒通金盾正兴华融达汇嘉博泰宏远瑞丰盛德昌鼎富源佳和顺祥隆瀚睿智卓越"
    "宇航星辰海天明光伟业润泽永道合利众联鹏程腾飞东方信达锦绣辉煌凯旋立新"
)
INDUSTRIES = (
    "信息咨询", "商务服务", "企业管理咨询", "信用管理", "财税咨询", "法律咨询", "网络科技",
    "信息科技", "商务咨询", "投资管理", "文化传媒", "商贸", "贸易", "实业", "金融信息服务",
    "资产管理", "电子商务", "科技", "管理咨询", "企业服务",
)  # fmt: skip
FORMS = ("有限公司",) * 16 + ("股份有限公司", "服务部", "中心", "工作室")
SCOPES = (
    "信息咨询服务（不含许可类信息咨询服务）；企业管理咨询；商务信息咨询",
    "一般项目：信用管理服务（不含征信业务）；企业信用评估评级服务",
    "法律咨询（不含律师事务所业务）；信息咨询服务（不含许可类信息咨询服务）",
    "财税咨询；代理记账；税务服务；企业管理咨询",
    "网络技术开发；软件开发；计算机系统服务；信息技术咨询服务",
)
STATUSES = ("存续",) * 17 + ("注销", "吊销，未注销", "迁出")
HEADER = ["企业名称", "统一社会信用代码", "法定代表人", "登记状态", "成立日期", "住所", "经营范围"]


def _brands(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    """`n` registered brand cores and as many absent ones (never registered)."""
    pool: set[str] = set()
    while len(pool) < 2 * n:
        size = 2 if rng.random() < 0.7 else 3
        pool.add("".join(rng.sample(BRAND_CHARS, size)))
    ordered = sorted(pool)
    rng.shuffle(ordered)
    return ordered[:n], ordered[n:]


def _uscc(serial: int, admin: str) -> str:
    body, n = "", serial
    for _ in range(9):
        body = uscc.ALPHABET[n % 31] + body
        n //= 31
    code = f"91{admin}{body}"
    return code + uscc.check_char(code)  # GB 32100: the one check in pipelines.uscc


def generate(path: Path, rows: int, n_brands: int, seed: int = 11) -> dict:
    """Write the registry CSV; return the brands, cities and a sample of registered rows."""
    rng = random.Random(seed)
    brands, absent = _brands(rng, n_brands)
    cities = sorted(c for c in vocab().cities if len(c) >= 2)
    space = len(brands) * len(cities) * len(INDUSTRIES)
    combos = rng.sample(range(space), rows)
    sample: list[tuple[str, str, str, str]] = []
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for serial, combo in enumerate(combos):
            b, rest = divmod(combo, len(cities) * len(INDUSTRIES))
            c, ind = divmod(rest, len(INDUSTRIES))
            brand, city, industry = brands[b], cities[c], INDUSTRIES[ind]
            form = rng.choice(FORMS)
            style = rng.random()
            if style < 0.6:
                name = f"{city}市{brand}{industry}{form}"
            elif style < 0.85:
                name = f"{city}{brand}{industry}{form}"
            else:
                name = f"{brand}({city}){industry}{form}"
            admin = f"{rng.randrange(110000, 660000):06d}"
            out.writerow(
                [
                    name,
                    _uscc(serial, admin),
                    "王" + rng.choice("伟芳娜敏静丽强磊军洋"),
                    rng.choice(STATUSES),
                    f"{rng.randrange(2000, 2025)}-{rng.randrange(1, 13)}-{rng.randrange(1, 29)}",
                    f"{city}市某某区某某路{rng.randrange(1, 999)}号",
                    rng.choice(SCOPES),
                ]
            )
            if rng.random() < 20000 / rows:
                sample.append((name, brand, city, industry, serial + 1))
    return {"brands": brands, "absent": absent, "cities": cities, "sample": sample}


def lead_names(
    world: dict, n: int, seed: int = 5, rows: int | None = None
) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(kind, name, hint cities, the registered name it stands for or "") in the mix ads
    produce, drawn from the first `rows` registrations (all when None)."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    rng = random.Random(seed)
    sample = [s[:4] for s in world["sample"] if rows is None or s[4] <= rows]
    cities = world["cities"]
    leads: list[tuple[str, str, tuple[str, ...], str]] = []
    for _ in range(n):
        name, brand, city, industry = rng.choice(sample)
        r = rng.random()
        if r < 0.30:
            variant = rng.random()
            shown = s2t.convert(name) if variant < 0.3 else name
            shown = shown.replace("(", "（").replace(")", "）")
            if variant > 0.8:
                shown = " ".join(shown)
            leads.append(("exact", shown, (), name))
        elif r < 0.55:
            leads.append(("brand_city", f"{city}{brand}{industry[-2:]}", (), name))
        elif r < 0.70:
            leads.append(("brand_hint", f"{brand}{industry[-2:]}", (city,), name))
        elif r < 0.85:
            pos = rng.randrange(len(brand))
            typo = brand[:pos] + rng.choice(BRAND_CHARS) + brand[pos + 1 :]
            leads.append(("lookalike", f"{city}市{typo}{industry}有限公司", (), ""))
        else:
            absent = rng.choice(world["absent"])
            leads.append(("absent", f"{rng.choice(cities)}市{absent}{industry}有限公司", (), ""))
    return leads


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _import_child(url: str, path: str, q: mp.Queue) -> None:
    from storage.db import get_engine, migrate
    from storage.registry import import_registry

    engine = get_engine(url)
    migrate(engine)
    t0, c0 = time.perf_counter(), time.process_time()
    result = import_registry(engine, path)
    q.put({"rows": result.rows, "inserted": result.inserted, "s": time.perf_counter() - t0,
           "cpu": time.process_time() - c0, "peak_mb": _peak_mb()})  # fmt: skip


def _match_child(url: str, rows: int, leads: list, q: mp.Queue) -> None:
    from sqlalchemy.orm import Session

    from pipelines.matching import RegionHints, match_business
    from storage.db import get_engine
    from storage.matching import RegistryIndex
    from storage.models import Registration

    t0 = time.perf_counter()
    with Session(get_engine(url)) as s:
        if rows >= (s.scalar(select(func.count()).select_from(Registration)) or 0):
            index = RegistryIndex.from_session(s)
        else:  # the first `rows` registrations, as the loader reads them (column-only)
            cols = (Registration.id, Registration.uscc, Registration.name, Registration.name_norm,
                    Registration.brand_core, Registration.region, Registration.status)  # fmt: skip
            stmt = select(*cols).where(Registration.id <= rows).order_by(Registration.id)
            index = RegistryIndex.from_rows(s.execute(stmt))
    build_s = time.perf_counter() - t0
    after_build = _peak_mb()

    # Baseline: normalize + dict lookup (the index's own exact-name dict).
    normalize_name.cache_clear()
    t0, c0 = time.perf_counter(), time.process_time()
    hits = sum(1 for _, name, _, _ in leads if normalize_name(name) in index.by_name)
    base_s, base_cpu = time.perf_counter() - t0, time.process_time() - c0

    normalize_name.cache_clear()
    split_name.cache_clear()
    methods: Counter[tuple[str, str]] = Counter()
    t0, c0 = time.perf_counter(), time.process_time()
    for kind, name, cities, meant in leads:
        result = match_business(index, name, region_hints=RegionHints(cities=cities))
        got = result.registration.name if result.registration else ""
        # A match to another firm is "wrong"; for look-alikes a match can be right (the typo
        # spelled another registered brand), so only intended names are judged.
        verdict = "" if not got or not meant else (" ok" if got == meant else " WRONG")
        methods[(kind, result.method + verdict)] += 1
    match_s, match_cpu = time.perf_counter() - t0, time.process_time() - c0
    q.put({"registrations": len(index), "build_s": build_s, "build_peak_mb": after_build,
           "base_s": base_s, "base_cpu": base_cpu, "base_hits": hits, "match_s": match_s,
           "match_cpu": match_cpu, "peak_mb": _peak_mb(),
           "methods": dict(methods)})  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sizes", default="500000,1000000", help="registry sizes to match against")
    ap.add_argument("--names", type=int, default=10_000)
    ap.add_argument("--brands", type=int, default=3000)
    ap.add_argument("--dir", type=Path, default=None, help="keep files here (default: temp)")
    ap.add_argument(
        "--match-only",
        action="store_true",
        help="reuse --dir/bench.db from an earlier run with the same --rows (skip the import)",
    )
    args = ap.parse_args()
    sizes = [min(int(n), args.rows) for n in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="gw-bench-") as tmp:
        where = args.dir or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        csv_path, db_path = where / "registry.csv", where / "bench.db"
        if args.match_only:
            csv_path = Path("/dev/null")  # same seed, same world: only the lead names are needed
        else:
            for p in where.glob("bench.db*"):
                p.unlink()
        t0 = time.perf_counter()
        world = generate(csv_path, args.rows, args.brands)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows ({size_mb:,.0f} MB CSV) in "
              f"{time.perf_counter() - t0:.1f}s; {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f} (machine shared: compare the ratios)")  # fmt: skip
        url = f"sqlite:///{db_path}"
        if not args.match_only:
            imp = run_in_child(_import_child, url, str(csv_path))
            print(f"import:   {imp['rows']:,} rows in {imp['s']:.1f}s = "
                  f"{imp['rows'] / imp['s']:,.0f} rows/s wall, {imp['rows'] / imp['cpu']:,.0f} "
                  f"rows/s CPU, peak RSS {imp['peak_mb']:,.0f} MB")  # fmt: skip
        for size in sizes:
            leads = lead_names(world, args.names, rows=size)
            m = run_in_child(_match_child, url, size, leads)
            n = len(leads)
            base, match = n / m["base_s"], n / m["match_s"]
            base_cpu, match_cpu = n / m["base_cpu"], n / m["match_cpu"]
            print(f"{m['registrations']:,} registrations (index built in {m['build_s']:.1f}s, "
                  f"peak RSS {m['build_peak_mb']:,.0f} MB), {n:,} names:")  # fmt: skip
            print(f"  baseline: normalize + dict lookup {base:,.0f} names/s wall, "
                  f"{base_cpu:,.0f} per CPU-second ({m['base_hits']:,} exact hits)")  # fmt: skip
            print(f"  matching: {match:,.0f} names/s wall, {match_cpu:,.0f} per CPU-second = "
                  f"{match / base:.2f}× the baseline wall, {match_cpu / base_cpu:.2f}× CPU; "
                  f"peak RSS {m['peak_mb']:,.0f} MB")  # fmt: skip
            for (kind, method), count in sorted(m["methods"].items()):
                print(f"    {kind:<11} → {method:<16} {count:>6,}")


if __name__ == "__main__":
    main()
