"""The crawl's store pipeline saves pages in batches: one bad page costs only itself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from scrapy.utils.test import get_crawler
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crawler.pipelines import StorePipeline
from pipelines.analyze import analyze_text, lexicon_version
from storage.db import dispose_engines, get_engine
from storage.models import Document
from storage.repo import PageRecord


def _record(n: int, body: bytes | None = None) -> PageRecord:
    return PageRecord(
        url=f"http://bbs.example.cn/thread-{n}-1-1.html",
        body=f"<p>专业征信修复 {n}，私信</p>".encode() if body is None else body,
        fetched_at=datetime(2026, 11, 25, tzinfo=UTC),
        source_id="bbs",
        text=f"专业征信修复 {n}，私信",
    )


@pytest.fixture()
def pipeline(engine: Engine) -> Iterator[StorePipeline]:
    """The pipeline on a migrated database: a SQLite file, then a real PostgreSQL."""
    url = engine.url.render_as_string(hide_password=False)
    crawler = get_crawler(settings_dict={"GREYWATCH_DATABASE_URL": url})
    crawler.stats.open_spider()
    pipe = StorePipeline(crawler)
    pipe.engine, pipe.lexicon_version = get_engine(url), lexicon_version()
    yield pipe
    dispose_engines()


def _count(pipe: StorePipeline) -> int:
    with Session(pipe.engine) as s:
        return s.scalar(select(func.count()).select_from(Document)) or 0


@pytest.mark.parametrize("bad_at", [None, 0, 3, 9])
def test_a_bad_page_costs_only_itself(pipeline: StorePipeline, bad_at: int | None) -> None:
    analysis = analyze_text("专业征信修复，私信")
    for n in range(10):
        # a body that is not bytes makes save_page fail for that page alone
        record = _record(n, body="not bytes" if n == bad_at else None)  # type: ignore[arg-type]
        pipeline.pending.append((record, analysis))
    pipeline.flush()
    stats = pipeline.stats.get_stats()
    good = 10 if bad_at is None else 9
    assert _count(pipeline) == good
    assert stats.get("greywatch/pages_saved") == good
    assert stats.get("greywatch/errors/storage", 0) == (0 if bad_at is None else 1)
    assert pipeline.pending == []


def test_saving_the_same_batch_again_changes_nothing(pipeline: StorePipeline) -> None:
    analysis = analyze_text("专业征信修复，私信")
    batch = [(_record(n), analysis) for n in range(5)]
    pipeline.pending = list(batch)
    pipeline.flush()
    pipeline.pending = list(batch)
    pipeline.flush()
    assert _count(pipeline) == 5
    assert pipeline.stats.get_value("greywatch/skipped_unchanged") == 5
