"""The lead filter options, declared once for `greywatch leads` and `greywatch leads export`.

Values are taken as typed and checked by `storage.filters.build_filter`, so a bad one is one
`error:` line naming the valid values (exit 2), the same in both commands.
"""

from __future__ import annotations

from typing import Annotated

import typer

SinceOption = Annotated[
    str | None,
    typer.Option(metavar="WHEN", help="Fetched on/after: 2026-11-01, 2026-11-01T08:00, 7d, 24h."),
]
UntilOption = Annotated[
    str | None,
    typer.Option(metavar="WHEN", help="Fetched before: 2026-11-08 or 2026-11-08T12:00, 7d."),
]
CategoryOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="CATEGORY", help="Service category, key or Chinese name (repeatable): 征信修复."
    ),
]
KindOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="KIND",
        help="Finding kind: promotion|warning|other (repeatable; default promotion).",
    ),
]
MinScoreOption = Annotated[
    float | None,
    typer.Option("--min-score", metavar="SCORE", help="Only leads scoring at least this (0-1)."),
]
SourceOption = Annotated[
    list[str] | None, typer.Option(metavar="SOURCE", help="Source id (repeatable).")
]
ReviewOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="STATE",
        help="Review state: new|confirmed|dismissed|reported (repeatable); a lead without "
        "its own shows its business's.",
    ),
]
ActorOption = Annotated[int | None, typer.Option(metavar="ID", help="Only leads of this actor id.")]
ContactOption = Annotated[
    str | None,
    typer.Option(
        metavar="CONTACT", help="A phone, WeChat, QQ or email however written: 138-0013-8000."
    ),
]
KeywordOption = Annotated[
    str | None, typer.Option(metavar="WORDS", help="Words in the page title or text.")
]
FirmOption = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help="Part of a firm's name (as advertised or registered), or its USCC."
    ),
]
