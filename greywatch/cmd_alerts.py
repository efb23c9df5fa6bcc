"""`greywatch alerts check|list|rules`: run the alert rules once, show what was announced.

Thin commands over crawler/alert_delivery.py (check and send), storage/alerts.py (events)
and pipelines/alert_rules.py (the validated rules file). Exit codes of `check`: 0 all due
messages sent (or nothing to send), 1 a delivery failed (it is retried by the next check) or
the database is unusable, 2 the rules file or another input is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from greywatch.console import echo_json, make_console, terminal_safe
from greywatch.options import DbOption, JsonOption, db_session, open_engine

if TYPE_CHECKING:
    from pipelines.alert_rules import AlertsConfig

_out = make_console()
_err = make_console(stderr=True)

alerts_app = typer.Typer(
    help="Alerts: rules in a YAML file (new leads, new actors, template bursts, failing "
    "sources) sent by webhook or e-mail, each thing once. See docs/alerts.md.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RulesOption = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        envvar="GREYWATCH_ALERTS",
        help="Alert rules YAML (default: ./alerts.yaml, else $GREYWATCH_HOME/alerts.yaml; "
        "example: crawler/data/alerts.example.yaml).",
        show_default=False,
    ),
]


def load_rules(path: Path | None) -> AlertsConfig:
    """The validated rules (categories checked against the lexicon); ConfigError if none."""
    from crawler.alert_delivery import rules_path_from_env
    from greywatch.errors import ConfigError
    from pipelines.alert_rules import load_alerts
    from pipelines.lexicon import Lexicon

    path = path or rules_path_from_env()
    if path is None:
        raise ConfigError(
            "no alert rules file: give --rules FILE or create ./alerts.yaml",
            hint="start from crawler/data/alerts.example.yaml",
        )
    return load_alerts(path, Lexicon.load().labels)


def check(
    rules: RulesOption = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Evaluate and list what would be sent; record and send nothing."
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Run every alert rule once: record what is new, send it (webhook, e-mail) or keep it
    for the rule's daily digest, and retry deliveries that failed before.

    Each thing (lead, actor, burst, failing streak) is announced once per rule. Exit 0 when
    every due message went out, 1 when a delivery failed (retried next time), 2 on a bad
    rules file. Run it from cron, or let `greywatch schedule` run it after each crawl.
    """
    from crawler.alert_delivery import run_check
    from pipelines.lexicon import Lexicon

    config = load_rules(rules)
    engine = open_engine(db)
    result = run_check(engine, config, dry_run=dry_run, labels=Lexicon.load().labels)
    if dry_run:
        for line in result.would_send:
            _out.print(terminal_safe(line), markup=False)
        _out.print(f"dry run: {result.new} new of {result.found} found; nothing sent", markup=False)
        return
    _out.print(
        f"{result.found} found, {result.new} new; {result.sent} sent, "
        f"{result.digests} digests, {result.failed} failed",
        markup=False,
    )
    for error in result.errors:
        _err.print(f"error: {terminal_safe(error)}", markup=False)
    if not result.ok:
        raise typer.Exit(1)


def list_events(
    rule: Annotated[str | None, typer.Option(help="Only this rule's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest events to show.")] = 50,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List recorded alert events, newest first, with each channel's delivery state."""
    from storage.alerts import list_events as rows_of

    with db_session(db, write=False) as session:
        rows = rows_of(session, rule, limit)
    if as_json:
        for r in rows:
            record = {
                "id": r.id,
                "rule": r.rule,
                "key": r.key,
                "created_at": r.created_at.isoformat(),
                "deliveries": r.deliveries,
                "summary": r.summary,
            }
            echo_json(json.dumps(record, ensure_ascii=False))
        return
    table = Table("id", "时间", "规则", "键", "投递", "摘要")
    for r in rows:
        states = ", ".join(f"{ch}:{d.get('status', '?')}" for ch, d in sorted(r.deliveries.items()))
        table.add_row(
            str(r.id),
            r.created_at.strftime("%Y-%m-%d %H:%M"),
            terminal_safe(r.rule),
            terminal_safe(r.key),
            terminal_safe(states),
            terminal_safe(r.summary[:60]),
        )
    _out.print(table)


def rules_check(rules: RulesOption = None) -> None:
    """Validate a rules file; prints its rules, or one line naming file, rule and field."""
    config = load_rules(rules)
    for rule in config.rules:
        mode = "daily digest" if rule.digest else "at once"
        _out.print(f"{rule.id}: {rule.kind} → {', '.join(rule.channels)} ({mode})", markup=False)
    _out.print(f"{len(config.rules)} rules, {len(config.channels)} channels: OK", markup=False)


def register(app: typer.Typer) -> None:
    """Add the `alerts` group to the root app."""
    alerts_app.command("check")(check)
    alerts_app.command("list")(list_events)
    alerts_app.command("rules")(rules_check)
    app.add_typer(alerts_app, name="alerts")
