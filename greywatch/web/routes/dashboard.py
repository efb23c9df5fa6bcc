"""The dashboard ("/"): new leads per day by category as an inline SVG chart, top sources,
new actors, template bursts and failing sources, every item a link to the filtered list.
The figures are counted at most once a minute (storage.dashboard.cached_dashboard); the page
says when they were counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from greywatch.web.deps import WebUser, current_user, get_session, render
from pipelines import timeutil
from storage.dashboard import (
    CACHE_SECONDS,
    DEFAULT_DAYS,
    Dashboard,
    DayCount,
    cached_dashboard,
    window_start,
)
from storage.exports import category_labels
from storage.models import utcnow

router = APIRouter()

# One colour per category, in the lexicon's order (colour-blind-safe Okabe-Ito hues).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
# The chart's drawing box in SVG units (the SVG scales to its container).
CHART_W, CHART_H = 760, 240
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 28, 12


def leads_url(filters: dict[str, str]) -> str:
    """/leads with the given filter in its query string."""
    return "/leads?" + urlencode(filters) if filters else "/leads"


@dataclass(frozen=True)
class Bar:
    """One drawn segment: a category's leads on one day, with its link and tooltip."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    href: str
    title: str


@dataclass(frozen=True)
class Tick:
    """An axis label at (x, y)."""

    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    """A stacked bar chart ready to draw: segments, axis labels and the legend."""

    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    legend: list[tuple[str, str, str]]  # (colour, label, link to the category's leads)
    baseline: float
    total: int


def stacked_chart(
    counts: list[DayCount], first_day: date, days: int, labels: dict[str, str]
) -> Chart:
    """Lay out `counts` as one stacked bar per day (categories in `labels` order)."""
    order = list(labels) + sorted({c.category for c in counts} - set(labels))
    colour = {cat: PALETTE[i % len(PALETTE)] for i, cat in enumerate(order)}
    per_day: dict[date, list[DayCount]] = {}
    for c in counts:
        per_day.setdefault(c.day, []).append(c)
    top = max((sum(c.leads for c in v) for v in per_day.values()), default=0) or 1
    plot_w, plot_h = CHART_W - PAD_LEFT - 8, CHART_H - PAD_BOTTOM - PAD_TOP
    step = plot_w / days
    baseline = PAD_TOP + plot_h
    bars, x_ticks = [], []
    every = max(1, days // 7)
    for i in range(days):
        day = first_day + timedelta(days=i)
        x = PAD_LEFT + i * step + step * 0.15
        y = baseline
        for c in sorted(per_day.get(day, []), key=lambda c: order.index(c.category)):
            h = plot_h * c.leads / top
            y -= h
            name = labels.get(c.category, c.category)
            title = f"{day.isoformat()} {name}：{c.leads} 条线索"
            bars.append(Bar(x, y, step * 0.7, h, colour[c.category], leads_url(c.filter), title))
        if i % every == 0 or (i == days - 1 and i % every > every // 2):
            x_ticks.append(Tick(x + step * 0.35, baseline + 16, day.strftime("%m-%d")))
    y_ticks = [
        Tick(PAD_LEFT - 6, baseline - plot_h * v / top, str(v)) for v in sorted({0, top // 2, top})
    ]
    legend = [(colour[c], labels.get(c, c), leads_url({"category": c})) for c in order]
    total = sum(c.leads for c in counts)
    return Chart(CHART_W, CHART_H, bars, x_ticks, y_ticks, legend, baseline, total)


def as_of_text(board: Dashboard, now: datetime) -> str:
    """When the figures were counted, in Beijing time, and whether they are a reused count."""
    text = f"截至 {timeutil.as_china(board.now):%H:%M} 北京时间"
    if board.now < now:
        text += f"（统计结果缓存，最多每 {CACHE_SECONDS} 秒更新一次）"
    return text


def clock() -> datetime:
    """Now, as a dependency (tests pin it with `app.dependency_overrides`)."""
    return utcnow()


@router.get("/", response_class=HTMLResponse)
def dashboard_page(
    request: Request,
    user: Annotated[WebUser, Depends(current_user)],
    session: Annotated[Session, Depends(get_session)],
    now: Annotated[datetime, Depends(clock)],
    days: Annotated[int, Query(ge=1, le=90)] = DEFAULT_DAYS,
) -> HTMLResponse:
    """The dashboard for the last `days` Beijing days (counted at most once a minute)."""
    board = cached_dashboard(session, now, days)
    first = window_start(now, days)
    labels = category_labels()
    chart = stacked_chart(board.per_day, first.date(), days, labels)
    context = {
        "board": board,
        "chart": chart,
        "since": timeutil.as_china(first),
        "labels": labels,
        "leads_url": leads_url,
        "as_of": as_of_text(board, now),
    }
    return render(request, "dashboard.html", context)
