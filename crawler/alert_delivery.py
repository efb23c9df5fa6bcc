"""Alert checks and delivery: evaluate the rules, record new events, send what is due.

Channels: webhook (HTTP POST of JSON with urllib, a timeout and retries with back-off) and
e-mail (smtplib; optional STARTTLS and login). Every attempt is written to the event's
`deliveries`, so a receiver that was down gets the message on the next check, and a message
that went out is never sent again. Digest rules collect their events and send one message per
channel per day, from the alerts file's `digest_at` (China time).
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pipelines.alert_rules import AlertsConfig, EmailChannel, WebhookChannel
from pipelines.alert_text import AlertText, one_line, render_digest, render_event
from pipelines.timeutil import CHINA_TZ
from storage.alerts import (
    RETRY_DAYS,
    Due,
    claim_digest,
    digest_sent,
    due_deliveries,
    evaluate,
    known_keys,
    local_day,
    mark_delivered,
    record_digest,
    record_events,
    still_due,
)
from storage.db import session_scope
from storage.models import utcnow

log = logging.getLogger(__name__)

# First pause between webhook attempts; doubled each time, never more than BACKOFF_MAX_S.
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
USER_AGENT = "greywatch-alerts/0.1"
ENV_ALERTS = "GREYWATCH_ALERTS"  # the rules file the scheduler and workers check after runs


class DeliveryError(Exception):
    """A channel could not deliver a message; the text says why in one line."""


def _one_line_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def post_webhook(channel: WebhookChannel, body: dict[str, Any]) -> None:
    """POST `body` as JSON; 2xx is success; retried `channel.retries` times with back-off."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        **channel.headers,
    }
    delay, last = BACKOFF_S, ""
    for attempt in range(channel.retries + 1):
        if attempt:
            time.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)
        request = urllib.request.Request(channel.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=channel.timeout) as response:
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                break  # the receiver refuses this message: trying again now will not help
        except (OSError, ValueError) as exc:
            last = _one_line_error(exc)
    raise DeliveryError(f"webhook {one_line(channel.url, 200)}: {last}")


def email_message(channel: EmailChannel, text: AlertText) -> EmailMessage:
    """The e-mail for one message; headers are one line each (no injection through CR/LF)."""
    message = EmailMessage()
    message["Subject"] = one_line(text.subject)
    message["From"] = channel.sender
    message["To"] = ", ".join(channel.to)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=channel.sender.rsplit("@", 1)[1])
    message.set_content(text.body, charset="utf-8")
    return message


def send_email(channel: EmailChannel, text: AlertText) -> None:
    """Send one message over SMTP (STARTTLS and login when configured)."""
    password = os.environ.get(channel.password_env, "") if channel.password_env else ""
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout) as smtp:
            smtp.ehlo()
            if channel.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if channel.username:
                smtp.login(channel.username, password)
            smtp.send_message(email_message(channel, text))
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"smtp {channel.host}:{channel.port}: {_one_line_error(exc)}") from None


def deliver(channel: Any, text: AlertText, body: dict[str, Any]) -> None:
    """Send on one channel: webhook gets `body` (with subject and text), e-mail gets `text`."""
    if isinstance(channel, WebhookChannel):
        post_webhook(channel, {**body, "subject": text.subject, "text": text.body})
    elif isinstance(channel, EmailChannel):
        send_email(channel, text)
    else:  # pragma: no cover - the rules model allows only these two
        raise DeliveryError(f"unknown channel type {type(channel).__name__}")


@dataclass
class CheckResult:
    """What one check did: events found and recorded, messages sent and failed."""

    found: int = 0
    new: int = 0
    sent: int = 0
    failed: int = 0
    digests: int = 0
    errors: list[str] = field(default_factory=list)
    would_send: list[str] = field(default_factory=list)  # --dry-run: subjects, one per message

    @property
    def ok(self) -> bool:
        """True when no delivery failed."""
        return self.failed == 0


def _digest_due(config: AlertsConfig, now: datetime) -> bool:
    local = now.astimezone(CHINA_TZ)
    return local.hour * 60 + local.minute >= config.digest_minutes


def _locking(engine: Engine) -> bool:
    """PostgreSQL: claim rows with FOR UPDATE SKIP LOCKED while sending. SQLite: re-read just
    before sending (a write transaction held across a slow webhook would stall the crawls)."""
    return engine.dialect.name == "postgresql"


def _send_one(engine: Engine, config: AlertsConfig, item: Due, result: CheckResult) -> None:
    text = render_event(item.payload)
    body = {"rule": item.rule, "key": item.key, "kind": item.payload.get("kind")}
    body["payload"] = item.payload
    due = ("pending", "failed")
    error = ""
    if _locking(engine):
        with session_scope(engine) as session:
            if not still_due(session, item.event_id, item.channel, due, lock=True):
                return
            error = _attempt(config.channels[item.channel], text, body)
            mark_delivered(session, item.event_id, item.channel, not error, error)
    else:
        with session_scope(engine, write=False) as session:
            if not still_due(session, item.event_id, item.channel, due, lock=False):
                return
        error = _attempt(config.channels[item.channel], text, body)
        with session_scope(engine) as session:
            mark_delivered(session, item.event_id, item.channel, not error, error)
    if error:
        result.failed += 1
        result.errors.append(f"rule {item.rule}, {item.channel}: {error}")
    else:
        result.sent += 1


def _attempt(channel: Any, text: AlertText, body: dict[str, Any]) -> str:
    """Deliver; '' on success, else the one-line reason."""
    try:
        deliver(channel, text, body)
    except DeliveryError as exc:
        return str(exc)
    return ""


def _send_digest(
    engine: Engine,
    config: AlertsConfig,
    rule: Any,
    channel: str,
    now: datetime,
    result: CheckResult,
) -> None:
    locking = _locking(engine)
    day, horizon = local_day(now), now - timedelta(days=RETRY_DAYS)
    with session_scope(engine, write=locking) as session:
        if locking and not claim_digest(session, rule.id, channel, day):
            return
        if not locking and digest_sent(session, rule.id, channel, day):
            return
        due = due_deliveries(session, rule.id, [channel], ("queued", "failed"), horizon)
        if not due:
            return
        text = render_digest(rule.id, day, [d.payload for d in due])
        body = {"rule": rule.id, "digest": day, "events": [d.payload for d in due]}
        if locking:  # send while holding the day's digest row
            error = _attempt(config.channels[channel], text, body)
            _record_digest(session, rule.id, channel, day, due, error)
    if not locking:
        error = _attempt(config.channels[channel], text, body)
        with session_scope(engine) as session:
            _record_digest(session, rule.id, channel, day, due, error)
    if error:
        result.failed += 1
        result.errors.append(f"rule {rule.id} digest, {channel}: {error}")
    else:
        result.digests += 1


def _record_digest(
    session: Any, rule_id: str, channel: str, day: str, due: list[Due], error: str
) -> None:
    record_digest(session, rule_id, channel, day, not error, error, len(due))
    if not error:
        for d in due:
            mark_delivered(session, d.event_id, channel, True, digest=day)


def _dry_run(
    engine: Engine, config: AlertsConfig, now: datetime, labels: dict[str, str] | None
) -> CheckResult:
    result = CheckResult()
    horizon = now - timedelta(days=RETRY_DAYS)
    with session_scope(engine, write=False) as session:
        for rule in config.rules:
            found = evaluate(session, rule, now, labels)
            result.found += len(found)
            known = known_keys(session, rule.id, [f.key for f in found])
            fresh = [f for f in found if f.key not in known]
            result.new += len(fresh)
            mode = "digest" if rule.digest else ",".join(rule.channels)
            result.would_send += [
                f"{rule.id} → {mode}: {render_event(f.payload).subject}" for f in fresh
            ]
            statuses = ("queued", "failed") if rule.digest else ("pending", "failed")
            for d in due_deliveries(session, rule.id, rule.channels, statuses, horizon):
                subject = render_event(d.payload).subject
                result.would_send.append(f"{rule.id} → {d.channel} (again): {subject}")
    return result


def run_check(
    engine: Engine,
    config: AlertsConfig,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    labels: dict[str, str] | None = None,
) -> CheckResult:
    """Evaluate every rule, record new events, send what is due (digests once a day).

    `dry_run` evaluates and lists what would be sent, writing and sending nothing.
    """
    now = now or utcnow()
    horizon = now - timedelta(days=RETRY_DAYS)
    if dry_run:
        return _dry_run(engine, config, now, labels)
    result = CheckResult()
    for rule in config.rules:
        with session_scope(engine) as session:
            found = evaluate(session, rule, now, labels)
            result.found += len(found)
            result.new += len(record_events(session, found, rule.channels, rule.digest, now))
        if rule.digest:
            if _digest_due(config, now):
                for channel in rule.channels:
                    _send_digest(engine, config, rule, channel, now, result)
            continue
        with session_scope(engine, write=False) as session:
            due = due_deliveries(session, rule.id, rule.channels, ("pending", "failed"), horizon)
        for item in due:
            _send_one(engine, config, item, result)
    return result


# One check at a time per process: scheduler jobs end in parallel threads.
_check_lock = threading.Lock()


def rules_path_from_env() -> Path | None:
    """GREYWATCH_ALERTS, else ./alerts.yaml, else $GREYWATCH_HOME/alerts.yaml (if it exists)."""
    from pipelines.settings import settings

    named = (os.environ.get(ENV_ALERTS) or "").strip()
    if named:
        return Path(named)
    for path in (Path("alerts.yaml"), settings().home / "alerts.yaml"):
        if path.is_file():
            return path
    return None


def check_after_run(db_url: str) -> CheckResult | None:
    """Run the alert rules after a crawl run, when a rules file is found (else None)."""
    from pipelines.alert_rules import load_alerts
    from pipelines.lexicon import Lexicon
    from storage.db import get_engine

    path = rules_path_from_env()
    if path is None:
        return None
    labels = Lexicon.load().labels
    config = load_alerts(path, labels)
    with _check_lock:
        result = run_check(get_engine(db_url), config, labels=labels)
    for error in result.errors:
        log.warning("alerts: %s", error)
    return result


def summary_hook(summary: Any) -> None:
    """crawler.tasks RUN_HOOKS entry: run the alert rules after a distributed run."""
    from storage.db import database_url

    check_after_run(database_url(None))
