"""CLI verbs for linking: `link`, `actors [--suggested]`, `actor ID`, `templates`, `template ID`.

Thin wrappers over storage.linking: open the database, run or query, print a table or JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from greywatch.console import echo_json, make_console
from greywatch.options import DbOption, JsonOption, db_session
from pipelines.display import beijing

_out = make_console()
_err = make_console(stderr=True)

MinSizeOption = Annotated[
    int, typer.Option("--min-size", min=1, help="Only clusters of at least this many documents.")
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Show at most N rows.")]


def _day(dt: datetime | None) -> str:
    return dt.date().isoformat() if dt else ""


def _cells(*values: str) -> list[Text]:
    """Table cells as plain Text: page titles may hold "[…]" that rich would read as markup."""
    return [Text(v) for v in values]


def _json(rows: Any) -> None:
    echo_json(json.dumps(rows, ensure_ascii=False, indent=2, default=str))


def _listing_command(
    query: str,
    what: str,
    header: tuple[str, ...],
    fold: int,
    cells: Callable[[Any], tuple[str, ...]],
    doc: str,
) -> Callable[..., None]:
    """A listing command: `storage.linking.<query>` rows as JSON, or a table and a count."""

    def command(
        min_size: MinSizeOption = 2,
        as_json: JsonOption = False,
        limit: LimitOption = None,
        db: DbOption = None,
    ) -> None:
        from storage import linking  # imported lazily, as every command does

        with db_session(db) as session:
            rows = getattr(linking, query)(session, min_size=min_size, limit=limit)
        if as_json:
            _json([asdict(r) for r in rows])
            return
        table = Table(*header)
        table.columns[fold].overflow = "fold"
        for r in rows:
            table.add_row(*_cells(*cells(r)))
        _out.print(table)
        _out.print(f"{len(rows):,} {what} with {min_size}+ documents", markup=False)

    command.__doc__ = doc
    return command


def link(db: DbOption = None) -> None:
    """Group stored documents into actors (shared contacts) and templates (near-duplicate
    texts); safe to re-run, ids of clusters that persist stay the same."""
    from storage.linking import link_actors, link_templates, suggested_actors

    with (
        db_session(db) as session,
        Progress(
            SpinnerColumn(), TextColumn("{task.description}"), console=_err, transient=True
        ) as progress,
    ):
        task = progress.add_task("linking actors (shared contacts)…")
        actors = link_actors(session)
        progress.update(task, description="hashing texts for templates…")

        def hashed(n: int) -> None:
            progress.update(task, description=f"hashing texts for templates… {n:,} documents")

        templates = link_templates(session, progress=hashed)
        suggested = len(suggested_actors(session))
    _out.print(
        f"actors: {actors.clusters:,} ({actors.linked:,} with 2+ documents, biggest "
        f"{actors.biggest:,}) from {actors.documents:,} promotion documents; "
        f"{actors.created:,} new, {actors.removed:,} merged away"
        + (f"; {actors.hubs:,} contacts on too many documents ignored" if actors.hubs else ""),
        markup=False,
    )
    _out.print(
        f"templates: {templates.clusters:,} (biggest {templates.biggest:,} documents) from "
        f"{templates.documents:,} documents; {templates.created:,} new, "
        f"{templates.removed:,} gone",
        markup=False,
    )
    if suggested:
        _out.print(
            f"suggested actors: {suggested:,} (same wording, IP location and time; "
            "see `greywatch actors --suggested`)",
            markup=False,
        )


_proven_actors = _listing_command(
    "list_actors", "actors",
    ("id", "label", "docs", "contacts", "businesses", "first seen", "last seen"), 1,
    lambda r: (
        str(r.id), r.label, str(r.size), str(r.contacts), str(r.businesses),
        _day(r.first_seen), _day(r.last_seen),
    ),
    "List actors (documents joined by shared phones, WeChat/QQ ids, emails), biggest first.",
)  # fmt: skip


def actors(
    min_size: MinSizeOption = 2,
    as_json: JsonOption = False,
    limit: LimitOption = None,
    suggested: Annotated[
        bool,
        typer.Option(
            "--suggested",
            help="Suggested actors instead: accounts posting one template's wording from one "
            "IP location within --window hours (evidence listed; not proven by a contact).",
        ),
    ] = False,
    window: Annotated[
        int, typer.Option("--window", min=1, help="Hours between posts of a suggestion.")
    ] = 72,
    db: DbOption = None,
) -> None:
    """List actors (documents joined by shared phones, WeChat/QQ ids, emails), biggest first;
    with --suggested, accounts that look like one agent (same wording, place and time)."""
    if not suggested:
        _proven_actors(min_size=min_size, as_json=as_json, limit=limit, db=db)
        return
    from storage.linking import suggested_actors

    with db_session(db) as session:
        rows = suggested_actors(session, window_hours=window)
    rows = rows[:limit] if limit else rows
    if as_json:
        _json([asdict(r) for r in rows])
        return
    for r in rows:
        proven = ", ".join(map(str, r.proven_actor_ids)) or "none"
        _out.print(
            f"suggested actor S{r.number}: {len(r.accounts)} accounts "
            f"({', '.join(r.accounts)}) from {'、'.join(r.locations)}, "
            f"{beijing(r.first_seen)} – {beijing(r.last_seen)}; "
            f"proven actors of these posts: {proven}",
            markup=False,
        )
        for e in r.evidence:
            _out.print(
                f"  template {e.template_id} from {e.location}: “{e.template_excerpt[:40]}…”",
                markup=False,
            )
            for p in e.posts:
                _out.print(
                    f"    #{p.document_id} {beijing(p.when)} {p.account} "
                    f"IP属地 {p.location} {p.url}",
                    markup=False,
                )
    _out.print(
        f"{len(rows):,} suggested actors (same template wording, same IP location, posts within "
        f"{window} h of each other); suggestions to review, not proof",
        markup=False,
    )


templates = _listing_command(
    "list_templates", "templates",
    ("id", "docs", "accounts", "sources", "days", "first seen", "excerpt"), 6,
    lambda r: (
        str(r.id), str(r.size), str(r.accounts), str(r.sources), str(r.days),
        _day(r.first_seen), r.excerpt[:60],
    ),
    "List templates (one wording posted as near-copies), most accounts first.",
)  # fmt: skip


def actor(
    actor_id: Annotated[int, typer.Argument(help="Actor id (from `greywatch actors`).")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show one actor: contacts, businesses, documents, and which shared contacts joined them."""
    from storage.linking import actor_detail

    with db_session(db) as session:
        d = actor_detail(session, actor_id)
    if as_json:
        _json(asdict(d))
        return
    a = d.actor
    _out.print(f"actor {a.id}: {a.label}", markup=False)
    _out.print(f"{a.size} documents, seen {_day(a.first_seen)} – {_day(a.last_seen)}", markup=False)
    _out.print("contacts: " + ", ".join(f"{k} {v}" for k, v in d.contacts), markup=False)
    if d.businesses:
        _out.print("businesses: " + ", ".join(d.businesses), markup=False)
    _out.print("why joined:", markup=False)
    for kind, value, docs in d.why:
        _out.print(f"  {kind} {value} is on documents {', '.join(map(str, docs))}", markup=False)
    if not d.why:
        _out.print("  a single document (no contact shared with another)", markup=False)
    _out.print("documents:", markup=False)
    for doc in d.documents:
        _out.print(
            f"  #{doc.document_id} {_day(doc.fetched_at)} {doc.source_id or '-'} {doc.kind} "
            f"{doc.url} {doc.title}",
            markup=False,
        )


def template(
    template_id: Annotated[int, typer.Argument(help="Template id (from `greywatch templates`).")],
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Show one template: its text, spread, and every copy with its similarity."""
    from storage.linking import template_detail

    with db_session(db) as session:
        d = template_detail(session, template_id)
    if as_json:
        _json(asdict(d))
        return
    t = d.template
    _out.print(f"template {t.id} (signature {t.signature[:12]})", markup=False)
    _out.print(
        f"{t.size} documents by {t.accounts} accounts on {t.sources} sources over {t.days} "
        f"days, {_day(t.first_seen)} – {_day(t.last_seen)}",
        markup=False,
    )
    _out.print(f"text: {t.excerpt}", markup=False)
    _out.print("documents (similarity to the representative):", markup=False)
    for doc in d.documents:
        sim = "-" if doc.similarity is None else f"{doc.similarity:.2f}"
        if doc.document_id == d.representative_id:
            sim = "representative"
        _out.print(
            f"  #{doc.document_id} {sim} {_day(doc.fetched_at)} {doc.source_id or '-'} "
            f"{doc.author or '-'} {doc.url} {doc.title}",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("link")(link)
    app.command("actors")(actors)
    app.command("actor")(actor)
    app.command("templates")(templates)
    app.command("template")(template)
