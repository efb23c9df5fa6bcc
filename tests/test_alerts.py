"""Alerts end to end: rules file, events in a real database (SQLite and PostgreSQL), a real
HTTP receiver and a real SMTP sink on 127.0.0.1; dedup, retry after a failure, digests."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crawler.alert_delivery import email_message, run_check
from greywatch.errors import ConfigError
from pipelines.alert_rules import EmailChannel, load_alerts, parse_alerts
from pipelines.alert_text import AlertText
from storage.models import (
    Actor,
    AlertEvent,
    CrawlRun,
    Document,
    Entity,
    Finding,
    Mention,
    Source,
    Template,
)

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 11:00 in China: after a 09:00 digest
LABELS = {"credit_repair": "征信修复", "debt_relief": "债务减免"}


# --- receivers --------------------------------------------------------------------------------


class Hook(ThreadingHTTPServer):
    """A webhook receiver: keeps each JSON body; answers `status` (tests flip it)."""

    status = 200
    delay = 0.0  # seconds before answering: widens the window two checkers could race in

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _HookHandler)
        self.bodies: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _HookHandler(BaseHTTPRequestHandler):
    server: Hook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(self.server.delay)
        if self.server.status == 200:
            self.server.bodies.append(json.loads(body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Sink(socketserver.ThreadingTCPServer):
    """A tiny SMTP receiver (EHLO, MAIL, RCPT, DATA, QUIT) keeping each message."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[tuple[str, list[str], bytes]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: Sink

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self._say("220 sink ready")
        sender, rcpts = "", []
        while line := self.rfile.readline():
            verb = line[:4].decode("ascii", "replace").upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-sink")
                self._say("250 8BITMIME")
            elif verb == "MAIL":
                sender, rcpts = line.decode().split(":", 1)[1].strip(), []
                self._say("250 ok")
            elif verb == "RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip())
                self._say("250 ok")
            elif verb == "DATA":
                self._say("354 go on")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append((sender, rcpts, data))
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def rules_yaml(hook: Hook, sink: Sink, rules: str, retries: int = 0) -> str:
    return f"""
digest_at: "09:00"
channels:
  hook: {{type: webhook, url: "{hook.url}", timeout: 5, retries: {retries}}}
  mail: {{type: email, host: 127.0.0.1, port: {sink.port}, from: gw@example.cn,
          to: [team@example.cn]}}
rules:
{rules}
"""


def config(hook: Hook, sink: Sink, rules: str, retries: int = 0) -> Any:
    return parse_alerts(rules_yaml(hook, sink, rules, retries), "alerts.yaml", LABELS)


# --- data -----------------------------------------------------------------------------------


def add_lead(
    session: Session,
    n: int,
    *,
    category: str = "credit_repair",
    score: float = 0.9,
    title: str = "专业征信修复",
    author: str = "",
    at: datetime = NOW - timedelta(hours=1),
    template_id: int | None = None,
) -> int:
    if session.get(Source, "bbs") is None:
        session.add(Source(id="bbs", name="论坛", config={}))
        session.flush()
    body = f"<p>{title} {n}</p>".encode()
    doc = Document(
        url=f"https://bbs.example.cn/thread-{n}.html",
        source_id="bbs",
        fetched_at=at,
        title=title,
        author=author,
        text=f"{title}，加微信 xinc{n}",
        raw=body,
        raw_sha256=hashlib.sha256(body).hexdigest(),
        lead_key=f"k{n}",
    )
    session.add(doc)
    session.flush()
    session.add(
        Finding(
            document_id=doc.id,
            kind="promotion",
            categories=[category],
            score=score,
            reason="推广（推广概率 0.90）",
            evidence=[{"kind": "term", "label": category, "term": "征信修复", "raw": "征信修复"}],
            analyzed_at=at,
            template_id=template_id,
        )
    )
    doc_id = doc.id
    session.commit()
    return doc_id


def events(session: Session) -> list[AlertEvent]:
    session.rollback()  # end the test's read snapshot: see what the check committed
    return list(session.scalars(select(AlertEvent).order_by(AlertEvent.id)))


# --- the rules file -------------------------------------------------------------------------


GOOD_CHANNEL = "channels: {h: {type: webhook, url: 'http://127.0.0.1:9/x'}}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules:\n  - id: a\n    kind: new_lead\n   min_score: 2\n", "not valid YAML (line 4)"),
        (
            GOOD_CHANNEL + "rules: [{id: big, kind: new_lead, min_score: 2, channels: [h]}]",
            "rule 'big': field 'min_score': Input should be less than or equal to 1",
        ),
        (
            GOOD_CHANNEL + "rules: [{id: r1, kind: new_lead, channels: [nope]}]",
            "rule 'r1': field 'channels': no channel 'nope' (known: h)",
        ),
        (
            GOOD_CHANNEL + "rules: [{id: r2, kind: lead_storm, channels: [h]}]",
            "rule 'r2': field 'kind':",
        ),
        (
            GOOD_CHANNEL + "rules: [{id: r3, kind: new_lead, category: 征信, channels: [h]}]",
            "rule 'r3': field 'category': unknown category '征信'",
        ),
        (
            GOOD_CHANNEL + "rules: [{id: r4, kind: template_burst, accounts: 1, channels: [h]}]",
            "rule 'r4': field 'accounts': Input should be greater than or equal to 2",
        ),
        (
            GOOD_CHANNEL + "rules: [{id: r5, kind: new_actor, channels: [h], colour: red}]",
            "rule 'r5': field 'colour': Extra inputs are not permitted",
        ),
        (
            'channels: {m: {type: email, host: h, from: "a@b.cn\\r\\nBcc: x@y.cn", to: [c@d.cn]}}',
            "channel 'm': field 'from': 'a@b.cn\\r\\nBcc: x@y.cn' is not a plain e-mail address",
        ),
        (
            GOOD_CHANNEL + "rules:\n - {id: d, kind: new_actor, channels: [h]}\n"
            " - {id: d, kind: new_actor, channels: [h]}",
            "rule 'd': field 'id': duplicate id",
        ),
    ],
)
def test_bad_rules_file_is_one_line_naming_file_rule_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_alerts(path, LABELS)
    shown = str(info.value)
    assert "\n" not in shown
    assert shown.startswith(f"{path}: ")
    assert message in shown


def test_category_may_be_given_by_its_chinese_label() -> None:
    text = GOOD_CHANNEL + "rules: [{id: r, kind: new_lead, category: 征信修复, channels: [h]}]"
    assert parse_alerts(text, "a.yaml", LABELS).rules[0].category == "credit_repair"


def test_cli_bad_rules_exit_2_one_line_and_nothing_written(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(GOOD_CHANNEL + "rules: [{id: x, kind: new_lead, channels: [h], min_score: -1}]")
    url = sqlite_engine.url.render_as_string(hide_password=False)
    cmd = [sys.executable, "-m", "greywatch", "alerts", "check", "--rules", str(path), "--db", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.splitlines()[0]
    assert first.startswith(f"error: {path}: rule 'x': field 'min_score':")
    assert "Traceback" not in proc.stderr
    with Session(sqlite_engine) as session:
        assert events(session) == []


# --- delivery, dedup, retry -------------------------------------------------------------------


LEAD_RULE = """
  - {id: credit, kind: new_lead, category: credit_repair, min_score: 0.8, channels: [hook, mail]}
"""


def test_new_lead_goes_to_webhook_and_mail_once(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    add_lead(session, 1, score=0.95)
    add_lead(session, 2, score=0.6)  # under the rule's score
    add_lead(session, 3, category="debt_relief")  # another category
    add_lead(session, 4, at=NOW - timedelta(days=3))  # older than the window
    cfg = config(hook, sink, LEAD_RULE)

    first = run_check(engine, cfg, now=NOW, labels=LABELS)
    assert (first.found, first.new, first.sent, first.failed) == (1, 1, 2, 0)
    (body,) = hook.bodies
    assert body["rule"] == "credit" and body["key"] == "lead:k1"
    assert body["payload"]["url"] == "https://bbs.example.cn/thread-1.html"
    assert "征信修复" in body["subject"] and "0.95" in body["subject"]
    for part in (
        "类别：征信修复",
        "命中词：“征信修复”",
        "链接：https://bbs.example.cn/thread-1.html",
    ):
        assert part in body["text"]
    (mail,) = sink.messages
    assert mail[1] == ["<team@example.cn>"]
    msg = email.message_from_bytes(mail[2], policy=email.policy.default)
    assert msg["Subject"] == body["subject"]
    assert "判断理由：推广（推广概率 0.90）" in msg.get_content()
    (event,) = events(session)
    assert {ch: d["status"] for ch, d in event.deliveries.items()} == {
        "hook": "sent",
        "mail": "sent",
    }

    second = run_check(engine, cfg, now=NOW + timedelta(minutes=5), labels=LABELS)
    assert (second.found, second.new, second.sent) == (1, 0, 0)
    assert len(hook.bodies) == 1 and len(sink.messages) == 1


def test_failed_delivery_is_retried_by_the_next_check(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    add_lead(session, 1)
    cfg = config(hook, sink, LEAD_RULE, retries=1)
    hook.status = 503
    first = run_check(engine, cfg, now=NOW, labels=LABELS)
    assert (first.sent, first.failed) == (1, 1)  # mail went, the webhook did not
    assert "HTTP 503" in first.errors[0]
    (event,) = events(session)
    assert event.deliveries["hook"]["status"] == "failed"
    assert event.deliveries["hook"]["attempts"] == 1
    assert "HTTP 503" in event.deliveries["hook"]["error"]

    hook.status = 200
    second = run_check(engine, cfg, now=NOW + timedelta(minutes=10), labels=LABELS)
    assert (second.new, second.sent, second.failed) == (0, 1, 0)
    assert len(hook.bodies) == 1 and len(sink.messages) == 1  # mail not sent twice
    (event,) = events(session)
    assert event.deliveries["hook"]["status"] == "sent"
    assert event.deliveries["hook"]["attempts"] == 2

    third = run_check(engine, cfg, now=NOW + timedelta(minutes=20), labels=LABELS)
    assert (third.sent, third.failed) == (0, 0)


def test_unreachable_smtp_server_fails_then_delivers(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    add_lead(session, 1)
    rules = "  - {id: m, kind: new_lead, channels: [mail]}\n"
    good = config(hook, sink, rules)
    closed = socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler)
    dead_port = closed.server_address[1]
    closed.server_close()  # nothing listens there now
    dead = parse_alerts(
        rules_yaml(hook, sink, rules).replace(f"port: {sink.port}", f"port: {dead_port}"),
        "alerts.yaml",
        LABELS,
    )
    first = run_check(engine, dead, now=NOW, labels=LABELS)
    assert (first.sent, first.failed) == (0, 1)
    assert f"smtp 127.0.0.1:{dead_port}" in first.errors[0]
    second = run_check(engine, good, now=NOW, labels=LABELS)
    assert (second.sent, second.failed) == (1, 0)
    assert len(sink.messages) == 1


def test_dry_run_records_and_sends_nothing(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    add_lead(session, 1)
    result = run_check(engine, config(hook, sink, LEAD_RULE), now=NOW, dry_run=True, labels=LABELS)
    assert (result.found, result.new, result.sent) == (1, 1, 0)
    assert len(result.would_send) == 1 and "credit → hook,mail" in result.would_send[0]
    assert events(session) == [] and hook.bodies == [] and sink.messages == []


def test_scraped_text_cannot_inject_headers_or_controls(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    add_lead(session, 1, title="征信修复\r\nBcc: evil@example.com\x1b[31m\u202e红")
    run_check(engine, config(hook, sink, LEAD_RULE), now=NOW, labels=LABELS)
    (mail,) = sink.messages
    assert mail[1] == ["<team@example.cn>"]
    msg = email.message_from_bytes(mail[2], policy=email.policy.default)
    assert msg["Bcc"] is None
    assert "\n" not in msg["Subject"] and "\x1b" not in msg["Subject"]
    assert "Bcc: evil@example.com[31m红" in msg["Subject"]  # shown as text on one line
    assert "\x1b" not in hook.bodies[0]["text"] and "\u202e" not in hook.bodies[0]["text"]


def test_email_headers_stay_one_line() -> None:
    channel = EmailChannel.model_validate(
        {"type": "email", "host": "h", "from": "a@b.cn", "to": ["c@d.cn"]}
    )
    msg = email_message(channel, AlertText("标题\r\nX-Evil: 1", "正文"))
    assert msg["X-Evil"] is None
    assert "\r" not in msg["Subject"] and "\n" not in msg["Subject"]


# --- digest ---------------------------------------------------------------------------------


def test_digest_rule_sends_one_message_a_day(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    cfg = config(hook, sink, "  - {id: daily, kind: new_lead, channels: [hook], digest: true}\n")
    early = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 in China: before digest_at
    add_lead(session, 1, at=early - timedelta(hours=2))
    add_lead(session, 2, at=early - timedelta(hours=1))
    quiet = run_check(engine, cfg, now=early, labels=LABELS)
    assert (quiet.new, quiet.sent, quiet.digests) == (2, 0, 0)
    assert hook.bodies == []

    nine = early + timedelta(minutes=45)
    sent = run_check(engine, cfg, now=nine, labels=LABELS)
    assert (sent.digests, sent.failed) == (1, 0)
    (body,) = hook.bodies
    assert body["digest"] == "2026-12-01"
    assert [e["url"].rsplit("/", 1)[1] for e in body["events"]] == [
        "thread-1.html",
        "thread-2.html",
    ]
    assert "共 2 条" in body["text"] and "每日汇总 2026-12-01" in body["subject"]

    add_lead(session, 3, at=nine + timedelta(hours=1))
    later = run_check(engine, cfg, now=nine + timedelta(hours=2), labels=LABELS)
    assert (later.new, later.digests) == (1, 0)  # today's digest went out already
    assert len(hook.bodies) == 1

    tomorrow = run_check(engine, cfg, now=nine + timedelta(days=1), labels=LABELS)
    assert tomorrow.digests == 1
    assert len(hook.bodies) == 2 and len(hook.bodies[1]["events"]) == 1
    assert "共 1 条" in hook.bodies[1]["text"]
    statuses = {e.key: e.deliveries.get("hook", {}).get("status") for e in events(session)}
    assert statuses == {
        "lead:k1": "sent",
        "lead:k2": "sent",
        "lead:k3": "sent",
        "digest:2026-12-01": "sent",
        "digest:2026-12-02": "sent",
    }


# --- the other rule kinds -----------------------------------------------------------------------


def seed_actor(session: Session) -> None:
    d1, d2 = add_lead(session, 1), add_lead(session, 2)
    actor = Actor(label="鑫诚咨询", size=2, first_seen=NOW - timedelta(days=2), last_seen=NOW)
    old = Actor(
        label="旧", size=5, first_seen=NOW - timedelta(days=90), last_seen=NOW - timedelta(days=60)
    )
    session.add_all([actor, old])
    session.flush()
    phone = Entity(kind="phone", key="+8613800138000", display="138 0013 8000", actor_id=actor.id)
    session.add(phone)
    session.flush()
    session.add_all(
        [Mention(document_id=d, entity_id=phone.id, raw="13800138000") for d in (d1, d2)]
    )
    session.commit()


def seed_burst(session: Session) -> None:
    template = Template(signature="a" * 64, excerpt="尊敬的领导您好，我要求全额退保")
    session.add(template)
    session.commit()
    for n, author in enumerate(["甲", "乙", "丙", "乙"], 1):
        add_lead(session, n, author=author, template_id=template.id)
    add_lead(session, 9, author="丁", template_id=template.id, at=NOW - timedelta(days=2))


def seed_failures(session: Session) -> None:
    session.add_all(
        [Source(id="bbs", name="论坛", config={}), Source(id="news", name="新闻", config={})]
    )
    session.flush()
    plan = {
        "bbs": ["finished", "failed", "failed", "failed"],
        "news": ["failed", "finished", "failed"],
    }
    for source, statuses in plan.items():
        for i, status in enumerate(statuses):
            session.add(
                CrawlRun(
                    source_id=source,
                    status=status,
                    started_at=NOW - timedelta(hours=10 - i),
                    message=f"站点返回 403 ({i})",
                )
            )
    session.commit()


@pytest.mark.parametrize(
    ("rule", "seed", "key", "subject_part"),
    [
        (
            "{id: r, kind: new_actor, min_size: 2, channels: [hook]}",
            seed_actor,
            "actor:",
            "新发布者：鑫诚咨询（2 个页面）",
        ),
        (
            "{id: r, kind: template_burst, accounts: 3, hours: 6, channels: [hook]}",
            seed_burst,
            "template:",
            "3 个账号 6 小时内",
        ),
        (
            "{id: r, kind: source_failing, runs: 3, channels: [hook]}",
            seed_failures,
            "source:bbs:from-run:",
            "bbs 最近 3 次",
        ),
    ],
)  # fmt: skip
def test_rule_kinds_fire_once(
    engine: Engine, session: Session, hook: Hook, sink: Sink, rule: str, seed: Any, key: str,
    subject_part: str,
) -> None:  # fmt: skip
    seed(session)
    cfg = config(hook, sink, f"  - {rule}\n")
    result = run_check(engine, cfg, now=NOW, labels=LABELS)
    assert (result.new, result.sent, result.failed) == (1, 1, 0), result.errors
    (body,) = hook.bodies
    assert body["key"].startswith(key)
    assert subject_part in body["subject"]
    again = run_check(engine, cfg, now=NOW + timedelta(minutes=1), labels=LABELS)
    assert (again.new, again.sent) == (0, 0)


def test_a_new_failing_streak_after_a_success_is_told_again(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    seed_failures(session)
    cfg = config(
        hook, sink, "  - {id: r, kind: source_failing, runs: 2, source: bbs, channels: [hook]}\n"
    )
    run_check(engine, cfg, now=NOW, labels=LABELS)
    for i, status in enumerate(["finished", "failed", "failed"]):
        session.add(
            CrawlRun(source_id="bbs", status=status, started_at=NOW + timedelta(hours=i + 1))
        )
    session.commit()
    run_check(engine, cfg, now=NOW + timedelta(hours=5), labels=LABELS)
    assert [b["payload"]["runs"] for b in hook.bodies] == [3, 2]
    assert hook.bodies[0]["key"] != hook.bodies[1]["key"]


# --- after a scheduled run ----------------------------------------------------------------------


def test_scheduler_runs_the_rules_after_each_run(
    engine: Engine,
    hook: Hook,
    sink: Sink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from crawler import schedule

    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        rules_yaml(hook, sink, "  - {id: down, kind: source_failing, runs: 2, channels: [hook]}\n")
    )
    monkeypatch.setenv("GREYWATCH_ALERTS", str(rules))
    monkeypatch.setenv("GREYWATCH_HOME", str(tmp_path / "home"))
    url = engine.url.render_as_string(hide_password=False)
    failing = [sys.executable, "-c", "import sys; print('站点返回 403'); sys.exit(3)"]
    assert schedule.run_source("bbs", "", url, failing) == 3
    assert hook.bodies == []  # one failure: under the rule's two
    assert schedule.run_source("bbs", "", url, failing) == 3
    (body,) = hook.bodies
    assert body["payload"]["source_id"] == "bbs" and body["payload"]["runs"] == 2
    assert "站点返回 403" in body["text"]


def test_two_checkers_at_once_send_each_message_once(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row claims (FOR UPDATE SKIP LOCKED) are PostgreSQL's; SQLite re-reads")
    for n in range(1, 6):
        add_lead(session, n)
    rules = LEAD_RULE + "  - {id: daily, kind: new_lead, channels: [hook], digest: true}\n"
    cfg = config(hook, sink, rules.replace("channels: [hook, mail]", "channels: [hook]"))
    hook.delay = 0.2
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(run_check(engine, cfg, now=NOW)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [b.get("key") or f"digest:{b['digest']}" for b in hook.bodies]
    assert sorted(keys) == sorted([f"lead:k{n}" for n in range(1, 6)] + ["digest:2026-12-01"])
    assert sum(r.sent for r in results) == 5 and sum(r.digests for r in results) == 1
    (digest,) = [b for b in hook.bodies if "digest" in b]
    assert len(digest["events"]) == 5


def test_a_delivery_failing_past_the_retry_horizon_is_left(
    engine: Engine, session: Session, hook: Hook, sink: Sink
) -> None:
    add_lead(session, 1)
    cfg = config(hook, sink, "  - {id: h, kind: new_lead, channels: [hook]}\n")
    hook.status = 500
    assert run_check(engine, cfg, now=NOW, labels=LABELS).failed == 1
    hook.status = 200
    late = run_check(engine, cfg, now=NOW + timedelta(days=8), labels=LABELS)
    assert (late.sent, late.failed) == (0, 0)
    assert hook.bodies == []
    (event,) = events(session)
    assert event.deliveries["hook"]["status"] == "failed"
