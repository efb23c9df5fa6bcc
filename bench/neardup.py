"""Benchmark what the near-duplicate lookup costs when pages are saved: pages/s saving the
same N pages with and without `join_near_duplicates`, in the same run.

    .venv/bin/python bench/neardup.py                       # 4,000 pages into SQLite
    .venv/bin/python bench/neardup.py --pages 10000 --pg postgresql+psycopg2://u:p@host/db

Pages come from a fixed seed: promoters with two ads each (their own phone and WeChat),
each ad posted one to four times on other sources with other furniture (post dates, view
and reply counters, edit notes, a bump line) and now and then a word changed; a third of the
promoters also post one shared template with their own contacts; one page in five is an
ordinary post without contacts; one ad in fifty quotes a platform hotline found on many
pages. A promoter posts under one account name per site. Analyses are written by hand (this
measures storage, not analysis). Pages are saved in batches of 50, as the crawler does, each
batch committed, into a fresh database per run; runs alternate (without, with, without, with
…); the best of each is reported, the ratio of the best and of each back-to-back pair, and
how the leads came out against the ads the generator wrote.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from pipelines.model import Analysis, Contact, Detection
from storage import db
from storage.models import Base, Document
from storage.repo import PageRecord, save_pages

_CHARS = (
    "征信修复逾期记录消除代理退保全额退费维权投诉模板债务减免停息挂账协商还款个性化分期"
    "银行网贷信用卡保险公司客户专业团队快速办理不成功不收费咨询免费评估成功案例法律依据"
    "我们你的了是在有和就都而及与着或一个没有这那之以于为上下中大小多少高低前后内外"
)
_FURNITURE = (
    "发表于 {d} {t} | 查看: {n} | 回复: {m}\n{ad}",
    "楼主 发布时间：{d} {t} 阅读 {n}\n{ad}\n本帖最后由 {who} 于 {d} {t} 编辑",
    "浏览 {n} 次 更新时间：{d}\n{ad}\nIP属地：广东",
    "{ad}\n{m}楼 {d} 来自手机\n顶一下，有需要的私聊",
)
_HOTLINE = ("phone", "+864008895511")
BATCH = 50


def _words(rng: random.Random, n: int) -> str:
    return "，".join("".join(rng.choices(_CHARS, k=rng.randint(2, 5))) for _ in range(n))


def generate(n_pages: int, seed: int = 11) -> list[tuple[PageRecord, Analysis, str]]:
    """(page, analysis, the ad it is: "p<promoter>a<ad>", "p<n>t" or "other<i>") per page."""
    rng = random.Random(seed)
    template = _words(rng, 30)
    start = datetime(2026, 10, 1, tzinfo=UTC)
    pages: list[tuple[PageRecord, Analysis, str]] = []
    promoter = 0
    while len(pages) < n_pages:
        promoter += 1
        phone = f"+86138{promoter:08d}"
        wechat = f"wx{promoter:06d}"
        ads = [(_words(rng, 28), f"p{promoter}a{i}") for i in range(2)]
        if promoter % 3 == 0:
            ads.append((template, f"p{promoter}t"))
        for body, ad in ads:
            hotline = rng.random() < 0.02
            for _ in range(rng.randint(1, 4)):
                if rng.random() < 0.2:  # an ordinary post between the ads
                    other = f"other{len(pages)}"
                    pages.append(_page(rng, len(pages), _words(rng, 25), (), other, ""))
                edited = body
                if rng.random() < 0.3:
                    words = body.split("，")
                    words[rng.randrange(len(words))] = "".join(rng.choices(_CHARS, k=3))
                    edited = "，".join(words)
                line = f"{edited}。电话 {phone[3:]}，微信 {wechat}"
                found = [("phone", phone), ("wechat", wechat)] + ([_HOTLINE] if hotline else [])
                pages.append(_page(rng, len(pages), line, tuple(found), ad, f"p{promoter}", start))
    return pages[:n_pages]


def _page(
    rng: random.Random,
    i: int,
    body: str,
    contacts: tuple[tuple[str, str], ...],
    ad: str,
    promoter: str,
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
) -> tuple[PageRecord, Analysis, str]:
    when = start + timedelta(minutes=7 * i)
    furniture = rng.choice(_FURNITURE)
    shown = furniture.format(
        d=f"2026-{rng.randint(1, 12)}-{rng.randint(1, 28)}",
        t=f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}",
        n=rng.randint(1, 99999),
        m=rng.randint(1, 300),
        who=f"user{rng.randint(1, 999)}",
        ad=body,
    )
    title = "".join(rng.choices(_CHARS, k=8))
    stored = f"{title}\n{shown}"
    source = f"site{rng.randint(1, 6)}"
    spans = [max(stored.find(value[-6:]), 0) for _, value in contacts]
    found = tuple(
        Contact(kind, value, value, at, at + 6)
        for (kind, value), at in zip(contacts, spans, strict=True)
    )
    kind = "promotion" if contacts else "other"
    det = Detection(kind, ("credit_repair",) if contacts else (), 0.9 if contacts else 0.1, ())
    analysis = Analysis(str(i), det, contacts=found, title=title, text=stored)
    record = PageRecord(
        url=f"http://{source}.bench.test/thread-{i}-1-1.html",
        body=stored.encode(),
        fetched_at=when,
        source_id=source,
        title=title,
        text=stored,
        # a promoter keeps one account per site; anybody else is somebody new
        author=f"{promoter}@{source}" if promoter else f"user{i}",
    )
    return record, analysis, ad


def _fresh(url: str | None, folder: Path, run: int) -> str:
    """An empty, migrated database: a new SQLite file, or the PostgreSQL one emptied."""
    if url is None:
        url = f"sqlite:///{folder / f'run{run}.db'}"
        db.migrate(db.get_engine(url))
        return url
    engine = db.get_engine(url)
    db.migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    return url


def save_all(url: str, pages: list[tuple[PageRecord, Analysis, str]], near: bool) -> float:
    """Seconds to save every page in crawler-sized batches, one commit per batch."""
    engine = db.get_engine(url)
    began = time.perf_counter()
    for lo in range(0, len(pages), BATCH):
        with Session(engine) as session:
            batch = [(p, a) for p, a, _ in pages[lo : lo + BATCH]]
            save_pages(session, batch, "bench", near_duplicates=near)
            session.commit()
    return time.perf_counter() - began


def outcome(url: str, pages: list[tuple[PageRecord, Analysis, str]]) -> str:
    """How the leads came out: leads, ads split over several leads, leads mixing ads."""
    ad_of = {p.url: ad for p, _, ad in pages}
    with Session(db.get_engine(url)) as session:
        rows = session.execute(select(Document.url, Document.lead_key)).all()
    leads: dict[str, set[str]] = defaultdict(set)
    keys: dict[str, set[str]] = defaultdict(set)
    for page_url, key in rows:
        leads[key].add(ad_of[page_url])
        keys[ad_of[page_url]].add(key)
    split = sum(1 for k in keys.values() if len(k) > 1)
    mixed = sum(1 for a in leads.values() if len(a) > 1)
    return f"{len(leads):,} leads for {len(keys):,} ads; {split} ads split, {mixed} leads mixed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3, help="pairs of runs (without, with)")
    parser.add_argument("--pg", help="a PostgreSQL URL to use instead of SQLite (emptied!)")
    args = parser.parse_args()
    pages = generate(args.pages)
    print(f"{len(pages):,} pages, batches of {BATCH}, {'PostgreSQL' if args.pg else 'SQLite'}")
    times: dict[bool, list[float]] = {False: [], True: []}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.rounds * 2):
            near = bool(run % 2)
            url = _fresh(args.pg, Path(tmp), run)
            times[near].append(save_all(url, pages, near))
            results[near] = outcome(url, pages)
            label = "with near-dup lookup" if near else "without (baseline)  "
            print(f"  run {run + 1}: {label} {len(pages) / times[near][-1]:8.1f} pages/s")
            db.dispose_engines()
    for near in (False, True):
        label = "with near-dup lookup" if near else "without (baseline)  "
        print(f"{label} best {len(pages) / min(times[near]):8.1f} pages/s; {results[near]}")
    # Each pair ran back to back, so its ratio shares the machine's load of the moment.
    pairs = sorted(a / b for a, b in zip(times[False], times[True], strict=True))
    print(
        f"throughput with/without: best runs {min(times[False]) / min(times[True]):.2f}x, "
        f"pairs {', '.join(f'{r:.2f}' for r in pairs)} (median {statistics.median(pairs):.2f}x)"
    )


if __name__ == "__main__":
    main()
