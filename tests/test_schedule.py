"""crawler.schedule: jobs in the database, run rows, failing crawls, clean SIGTERM shutdown.

The crawl command is a tiny real Python script (FAKE_CRAWL) that behaves by source id:
"ok" records its own results like `greywatch crawl` does, "bad" fails with exit code 3,
"quiet" exits 0 without recording anything, "slow" hangs until it is terminated.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from crawler import schedule
from crawler.paths import run_logs_dir
from greywatch.errors import ConfigError
from storage.db import alembic_config
from storage.models import CrawlRun

FAKE_CRAWL = """
import os, sys, time
from pathlib import Path
args = sys.argv[1:]
source, run_id = args[0], int(args[args.index("--run-id") + 1])
db = os.environ["GREYWATCH_DATABASE_URL"]
assert "--db" not in args, args  # the URL (and any password in it) stays off the command line
assert args[1:3] == ["--trigger", "schedule"], args
marks = Path(os.environ["FAKE_CRAWL_MARKS"])
with marks.open("a") as f:
    f.write(f"start {source} {run_id} {os.getpid()}\\n")
if source == "ok":  # records its results as `greywatch crawl` does (sqlite3: fast start)
    import sqlite3
    with sqlite3.connect(db.removeprefix("sqlite:///"), timeout=30) as conn:
        conn.execute(
            "UPDATE crawl_runs SET status='finished', finished_at=datetime('now'), pages=2,"
            " items=1, errors=0, message='抓取 2 页' WHERE id=?", (run_id,)
        )
elif source == "bad":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("ValueError: 站点返回 403", file=sys.stderr)
    sys.exit(3)
elif source == "slow":
    time.sleep(300)
"""

DRIVER = """
import logging, sys
from apscheduler.triggers.interval import IntervalTrigger
from crawler import schedule
from crawler.paths import run_logs_dir
db_url, fake = sys.argv[1], sys.argv[2]
logging.basicConfig(level=logging.INFO)
sources = [schedule.SimpleSource(s) for s in ("ok", "bad", "slow")]
sched = schedule.build_scheduler(
    sources, "", db_url, trigger_for=lambda s: IntervalTrigger(seconds=1),
    command=[sys.executable, fake],
)
schedule.run_forever(sched, on_start=lambda: print("started", flush=True))
print("stopped cleanly", flush=True)
"""


@pytest.fixture
def fake_crawl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_crawl.py"
    script.write_text(FAKE_CRAWL, encoding="utf-8")
    monkeypatch.setenv("FAKE_CRAWL_MARKS", str(tmp_path / "marks.txt"))
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path / "home"))
    return script


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _runs(engine: Engine) -> list[CrawlRun]:
    with Session(engine) as s:
        return list(s.scalars(select(CrawlRun).order_by(CrawlRun.id)))


@pytest.mark.parametrize(
    ("source", "code", "status", "message"),
    [
        ("ok", 0, "finished", "抓取 2 页"),
        (
            "bad",
            3,
            "failed",
            "crawl exit code 3: Traceback (most recent call last):\nValueError: 站点返回 403",
        ),
        ("quiet", 0, "finished", "crawl exited 0 without recording its results"),
    ],
)
def test_run_source_records_the_outcome(sqlite_engine, fake_crawl, source, code, status, message):
    rc = schedule.run_source(source, "", _url(sqlite_engine), [sys.executable, str(fake_crawl)])
    [run] = _runs(sqlite_engine)
    assert (rc, run.source_id, run.trigger, run.status, run.message) == (
        code,
        source,
        "schedule",
        status,
        message,
    )
    assert run.finished_at is not None
    db_file = Path(sqlite_engine.url.database)  # logs live beside the database they belong to
    log = db_file.with_name(f"{db_file.stem}-logs") / f"run-{run.id}-{source}.log"
    assert log.exists()
    assert not (Path(os.environ["GREYWATCH_HOME"]) / "logs").exists()


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("sqlite:////srv/a/greywatch.db", "/srv/a/greywatch-logs"),
        ("sqlite:////srv/b/greywatch.db", "/srv/b/greywatch-logs"),
        ("postgresql+psycopg2://gw:pw@db1/watch", "{home}/logs/db1-watch"),
        ("postgresql+psycopg2://gw@db2:5433/watch", "{home}/logs/db2-watch"),
        ("sqlite://", "{home}/logs/local-default"),
    ],
)
def test_each_database_keeps_its_own_run_logs(monkeypatch, tmp_path, url, where):
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path))
    assert run_logs_dir(url) == Path(where.format(home=tmp_path))


def test_run_source_with_a_missing_command(sqlite_engine, fake_crawl, tmp_path):
    rc = schedule.run_source("ok", "", _url(sqlite_engine), [str(tmp_path / "no-such-crawler")])
    [run] = _runs(sqlite_engine)
    assert rc is None and run.status == "failed"
    assert (
        run.message.startswith("crawl not run: cannot start") and "no-such-crawler" in run.message
    )


@pytest.mark.parametrize(
    ("env", "prefix", "head"),
    [
        (None, None, [sys.executable, "-m", "greywatch", "crawl"]),
        ("/opt/gw/bin/greywatch crawl", None, ["/opt/gw/bin/greywatch", "crawl"]),
        ("/opt/gw/bin/greywatch crawl", ["x"], ["x"]),
    ],
)
def test_crawl_command(monkeypatch, env, prefix, head):
    if env:
        monkeypatch.setenv(schedule.ENV_CRAWL_CMD, env)
    else:
        monkeypatch.delenv(schedule.ENV_CRAWL_CMD, raising=False)
    cmd = schedule.crawl_command("tieba", 7, "sources.yaml", prefix)
    assert cmd == [
        *head,
        "tieba",
        "--trigger",
        "schedule",
        "--run-id",
        "7",
        "--sources",
        "sources.yaml",
    ]


@pytest.mark.parametrize(
    ("code", "text_"),
    [
        (0, "exit code 0"),
        (3, "exit code 3"),
        (-15, "killed by signal SIGTERM"),
        (-9, "killed by signal SIGKILL"),
    ],
)
def test_describe_exit(code, text_):
    assert schedule.describe_exit(code) == text_


def _start_paused(sources, url: str) -> BackgroundScheduler:
    sched = schedule.build_scheduler(
        sources, "sources.yaml", url, scheduler_cls=BackgroundScheduler
    )
    sched.start(paused=True)
    return sched


def test_jobs_live_in_the_database_and_stale_ones_go(engine):
    url, S = _url(engine), schedule.SimpleSource
    sched = _start_paused(
        [S("a", schedule="0 */6 * * *"), S("b", schedule="30 2 * * *"), S("c")], url
    )
    sched.add_job(print, "interval", hours=1, id="housekeeping")  # not ours: kept
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == {"crawl:a", "crawl:b", "housekeeping"}
    a = jobs["crawl:a"]
    assert (a.max_instances, a.coalesce, a.misfire_grace_time) == (1, True, 15 * 60)
    assert a.args == ("a", "sources.yaml", url, None) and a.func is schedule.run_source
    sched.shutdown()

    sched = _start_paused([S("a", schedule="15 * * * *"), S("d", schedule="0 3 * * 1")], url)
    jobs = {j.id: j for j in sched.get_jobs()}
    sched.shutdown()
    assert set(jobs) == {"crawl:a", "crawl:d", "housekeeping"}
    assert str(jobs["crawl:a"].trigger.fields[6]) == "15"  # minute field replaced
    with engine.connect() as conn:
        stored = set(conn.scalars(text("SELECT id FROM apscheduler_jobs")))
        assert stored == {"crawl:a", "crawl:d", "housekeeping"}
    # the job table is APScheduler's: autogenerate (through env.py) must not see it
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)


@pytest.mark.parametrize("cron", ["every hour", "61 * * * *", "* * *"])
def test_bad_cron_is_a_config_error(sqlite_engine, cron):
    with pytest.raises(ConfigError, match="source tieba: field schedule"):
        schedule.build_scheduler(
            [schedule.SimpleSource("tieba", schedule=cron)], "", _url(sqlite_engine)
        )


def _wait_until(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.2)


def test_scheduler_process_runs_sources_and_stops_cleanly_on_sigterm(
    sqlite_engine, fake_crawl, tmp_path
):
    url = _url(sqlite_engine)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(driver), url, str(fake_crawl)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def enough() -> bool:
            runs = _runs(sqlite_engine)
            done = [r for r in runs if r.source_id == "ok" and r.status == "finished"]
            return len(done) >= 3 and any(
                r.source_id == "bad" and r.status == "failed" for r in runs
            )

        _wait_until(enough)
        slow = [r for r in _runs(sqlite_engine) if r.source_id == "slow"]
        # three "ok" runs later the slow crawl still runs once: max_instances=1
        assert [r.status for r in slow] == ["running"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "started" in out and "stopped cleanly" in out
    runs = _runs(sqlite_engine)
    assert {r.status for r in runs} <= {"finished", "failed"}  # nothing left "running"
    [slow] = [r for r in runs if r.source_id == "slow"]
    assert (slow.status, slow.message) == ("failed", "crawl killed by signal SIGTERM")
    bad = next(r for r in runs if r.source_id == "bad")
    assert "exit code 3" in bad.message and "站点返回 403" in bad.message
    ok = next(r for r in runs if r.source_id == "ok")
    assert (ok.pages, ok.items, ok.message) == (2, 1, "抓取 2 页")
    marks = (tmp_path / "marks.txt").read_text().splitlines()
    [slow_pid] = [int(m.split()[3]) for m in marks if m.startswith("start slow")]
    with pytest.raises(ProcessLookupError):
        os.kill(slow_pid, 0)


def test_real_crawl_command_adopts_the_run_and_failures_are_recorded(
    sqlite_engine, tmp_path, monkeypatch
):
    """The real `greywatch crawl` against the bundled demo site, as the scheduler runs it."""
    import threading

    from crawler.demo_site.server import serve
    from crawler.sources import default_sources_path

    server, base = serve()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GREYWATCH_DEMO_URL", base)
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(schedule.ENV_CRAWL_CMD, raising=False)
    sources, url = str(default_sources_path()), _url(sqlite_engine)
    try:
        ok = schedule.run_source("news-demo", sources, url)
        missing = schedule.run_source("no-such-source", sources, url)
    finally:
        server.shutdown()
    good, bad = _runs(sqlite_engine)
    assert (ok, good.source_id, good.trigger, good.status) == (
        0,
        "news-demo",
        "schedule",
        "finished",
    )
    assert good.pages > 0 and good.items > 0 and good.stats
    assert (missing, bad.status) == (2, "failed")
    assert bad.message.startswith("crawl exit code 2: error: ")
    assert "no-such-source" in bad.message
