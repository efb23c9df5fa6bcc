"""Actors: `/actors` (proven by a shared contact), `/actors/{id}` (members, and the contacts
they share drawn as a small server-rendered SVG graph) and `/actors/suggested` (accounts
that post one template's wording from one IP location in a short time: evidence, not proof).

Data from `storage.linking` (the code of `greywatch actors`, `actor ID` and
`actors --suggested`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from greywatch.web.deps import (
    WebUser,
    bad_request,
    current_user,
    get_session,
    not_found,
    render,
)
from pipelines.display import display_contact
from pipelines.errors import InputError
from pipelines.link import SUGGEST_WINDOW_HOURS
from storage.linking import ActorDetail, actor_detail, list_actors, suggested_actors
from storage.models import Finding

router = APIRouter()

# Actors listed on one page (biggest first).
LIST_ROWS = 300
# Pages drawn in an actor's graph; beyond this the graph would be unreadable (the table has
# them all).
GRAPH_DOCS = 40
GRAPH_W = 760
ROW_H = 26  # vertical spacing of the nodes
CONTACT_X, DOC_X = 200, 560


@dataclass(frozen=True)
class Node:
    """A drawn node: a contact (left column) or a page (right column)."""

    x: float
    y: float
    label: str
    kind: str  # phone|wechat|qq|email|url, or "doc"
    href: str


@dataclass(frozen=True)
class Edge:
    """A line from a contact to a page that gives it."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Graph:
    """The actor's contacts and pages as a two-column graph ready to draw."""

    width: int
    height: int
    contacts: list[Node]
    docs: list[Node]
    edges: list[Edge]
    left_out: int  # pages not drawn (beyond GRAPH_DOCS)


def contact_graph(detail: ActorDetail, lead_ids: dict[int, int]) -> Graph:
    """Lay out the shared contacts (left) and the pages giving them (right), an edge for each
    contact a page gives. Pages link to their lead when they are one (else the raw URL stays
    off the graph)."""
    shared = detail.why
    doc_ids: list[int] = []
    for _, _, ids in shared:
        doc_ids += [d for d in ids if d not in doc_ids]
    drawn = doc_ids[:GRAPH_DOCS]
    titles = {d.document_id: d.title or d.url for d in detail.documents}
    rows = max(len(shared), len(drawn), 1)
    height = rows * ROW_H + 20
    c_step = (height - 20) / max(len(shared), 1)
    d_step = (height - 20) / max(len(drawn), 1)
    contacts = [
        Node(
            CONTACT_X,
            10 + c_step * (i + 0.5),
            display_contact(kind, value),
            kind,
            "/leads?contact=" + quote(value, safe=""),
        )
        for i, (kind, value, _) in enumerate(shared)
    ]
    doc_pos = {d: 10 + d_step * (i + 0.5) for i, d in enumerate(drawn)}
    docs = [
        Node(
            DOC_X,
            doc_pos[d],
            f"#{lead_ids.get(d, d)} {titles.get(d, '')}"[:28],
            "doc",
            f"/leads/{lead_ids[d]}" if d in lead_ids else "",
        )
        for d in drawn
    ]
    edges = [
        Edge(CONTACT_X + 6, node.y, DOC_X - 6, doc_pos[d])
        for node, (_, _, ids) in zip(contacts, shared, strict=True)
        for d in ids
        if d in doc_pos
    ]
    return Graph(GRAPH_W, int(height), contacts, docs, edges, len(doc_ids) - len(drawn))


@router.get("/actors", response_class=HTMLResponse)
def actors_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
    min_size: Annotated[int, Query(ge=1)] = 2,
) -> HTMLResponse:
    """Actors of `min_size` or more pages, biggest first."""
    rows = list_actors(session, min_size=min_size, limit=LIST_ROWS)
    return render(request, "actors.html", {"rows": rows, "min_size": min_size, "limit": LIST_ROWS})


@router.get("/actors/suggested", response_class=HTMLResponse)
def suggested_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
    window: int = SUGGEST_WINDOW_HOURS,
) -> HTMLResponse:
    """Suggested actors with their evidence, kept apart from the proven ones."""
    try:
        rows = suggested_actors(session, window_hours=window)
    except InputError as exc:
        bad_request(str(exc), exc.hint)
    return render(request, "actors_suggested.html", {"rows": rows, "window": window})


@router.get("/actors/{actor_id}", response_class=HTMLResponse)
def actor_page(
    request: Request,
    actor_id: int,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
) -> HTMLResponse:
    """One actor: the graph of shared contacts, its contacts, firms and pages."""
    try:
        detail = actor_detail(session, actor_id)
    except InputError:
        not_found(f"没有编号为 {actor_id} 的关联人。")
    doc_ids = [d.document_id for d in detail.documents]
    lead_ids = dict(
        session.execute(
            select(Finding.document_id, Finding.id).where(Finding.document_id.in_(doc_ids))
        ).all()
    )
    context = {
        "detail": detail,
        "actor": detail.actor,
        "graph": contact_graph(detail, lead_ids),
        "lead_ids": lead_ids,
    }
    return render(request, "actors_detail.html", context)
