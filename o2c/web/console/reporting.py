"""The dashboard: receivables aging, DSO and CEI with their trend, cash application's match rate and queue,
and what was invoiced and collected per day, each as a chart (SVG drawn by matplotlib on the server, served
from /dashboard/charts/{name}.svg) with its figures in a table below it.

The figures are o2c.reporting.trends' SQL aggregates, read in the thread pool from one snapshot; each chart
reads only what it draws. Figures about days that are over (the receivables before the period, the KPIs at
past month ends) cannot change: every row they count was written before that day ended, stamped with the
time it was written, and ledger lines, applications and adjustments are never rewritten. They are read once
an hour per process (``settled``), so that only today's figures are read on every view. (A book loaded with
back-dated rows into a running console's database shows after an hour, or a restart.)"""

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from o2c.access import Permission
from o2c.platform.db import snapshot
from o2c.reporting import charts, trends
from o2c.reporting.reports import BUCKETS, Kpis, MatchRates
from o2c.reporting.trends import DayTotal, QueueTotal, TrendPoint
from o2c.web.console.pages import money, read, render, requires, state
from o2c.web.console.queues import Queue

QUEUES: list[Queue] = []
T = TypeVar("T")
PERIODS = (30, 90)
TREND_MONTHS = 12
SETTLED_SECONDS = 3600


@dataclass(frozen=True)
class DayRow:
    """A day's row in the per-day table: invoiced and collected in one currency."""

    day: date
    currency: str
    issued_count: int
    issued_minor: int
    collected_count: int
    collected_minor: int


@dataclass(frozen=True)
class Dashboard:
    as_of: date
    days: int
    aging: dict[str, dict[str, int]]
    headline: list[Kpis]
    trend: list[TrendPoint]
    rates: MatchRates
    queue: list[QueueTotal]
    issued: list[DayTotal]
    collected: list[DayTotal]

    @property
    def first_day(self) -> date:
        return first_day(self.as_of, self.days)

    @property
    def per_day(self) -> list[DayRow]:
        return per_day(self.issued, self.collected)


def first_day(as_of: date, days: int) -> date:
    return as_of - timedelta(days=days - 1)


def per_day(issued: list[DayTotal], collected: list[DayTotal]) -> list[DayRow]:
    """Days with anything invoiced or collected, newest first, a row per currency."""
    rows: dict[tuple[date, str], list[int]] = {}
    for offset, totals in ((0, issued), (2, collected)):
        for total in totals:
            row = rows.setdefault((total.day, total.currency), [0, 0, 0, 0])
            row[offset], row[offset + 1] = total.count, total.amount_minor
    return [DayRow(day, currency, *row) for (day, currency), row in sorted(rows.items(), reverse=True)]


def percent(part: int, whole: int) -> Decimal | None:
    """``part`` of ``whole`` in percent, to one decimal; None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def shown_percent(part: int, whole: int) -> str:
    return _percent(percent(part, whole), "—")


Settled = dict[tuple[object, ...], tuple[float, Any]]  # key: (when read, figures)
_settled: weakref.WeakKeyDictionary[Engine, Settled] = weakref.WeakKeyDictionary()
_settled_lock = threading.Lock()


def settled(engine: Engine, key: tuple[object, ...], compute: Callable[[], T]) -> T:
    """Figures about days that are over, read once an hour at most: ``compute()`` the first time."""
    with _settled_lock:
        known = _settled.setdefault(engine, {}).get(key)
    now = time.monotonic()
    if known is None or now - known[0] > SETTLED_SECONDS:
        known = (now, compute())
        with _settled_lock:
            kept = {k: v for k, v in _settled[engine].items() if now - v[0] <= SETTLED_SECONDS}
            _settled[engine] = {**kept, key: known}
    result: T = known[1]
    return result


def headline(engine: Engine, session: Session, as_of: date, days: int, aging: dict[str, dict[str, int]]) -> list[Kpis]:
    start = as_of - timedelta(days=days)
    opening = settled(engine, ("opening", start), lambda: trends.receivables_before(session, start))
    return trends.headline_kpis(session, as_of, days, aging, opening)


def trend(engine: Engine, session: Session, as_of: date, days: int, today: list[Kpis]) -> list[TrendPoint]:
    """The last ``TREND_MONTHS`` month ends' KPIs, then today's."""
    points = trends.month_ends(as_of, TREND_MONTHS)[:-1]
    past = settled(engine, ("trend", tuple(points), days), lambda: trends.kpi_trend(session, points, days))
    return [*past, TrendPoint(as_of, today)]


def dashboard(engine: Engine, as_of: date, days: int) -> Dashboard:
    with snapshot(engine) as session:
        aging = trends.aging(session, as_of)
        today = headline(engine, session, as_of, days, aging)
        return Dashboard(
            as_of=as_of,
            days=days,
            aging=aging,
            headline=today,
            trend=trend(engine, session, as_of, days, today),
            rates=trends.match_rates(session, as_of - timedelta(days=days), as_of),
            queue=trends.unapplied_queue(session),
            issued=trends.invoices_issued(session, first_day(as_of, days), as_of),
            collected=trends.cash_collected(session, first_day(as_of, days), as_of),
        )


def _aging_chart(engine: Engine, as_of: date, days: int) -> bytes:
    with snapshot(engine) as session:
        aging = trends.aging(session, as_of)
    return charts.aging(aging)


def _kpi_chart(engine: Engine, as_of: date, days: int) -> bytes:
    with snapshot(engine) as session:
        today = headline(engine, session, as_of, days, trends.aging(session, as_of))
        points = trend(engine, session, as_of, days, today)
    return charts.kpi_trend(points)


def _cash_chart(engine: Engine, as_of: date, days: int) -> bytes:
    with snapshot(engine) as session:
        rates = trends.match_rates(session, as_of - timedelta(days=days), as_of)
        queue = trends.unapplied_queue(session)
    return charts.cash_application(rates, queue)


def _daily_chart(engine: Engine, as_of: date, days: int) -> bytes:
    first = first_day(as_of, days)
    with snapshot(engine) as session:
        issued = trends.invoices_issued(session, first, as_of)
        collected = trends.cash_collected(session, first, as_of)
    return charts.daily(issued, collected, first, as_of)


CHARTS: dict[str, Callable[[Engine, date, int], bytes]] = {
    "aging": _aging_chart,
    "kpis": _kpi_chart,
    "cash-application": _cash_chart,
    "daily": _daily_chart,
}


def alt_texts(board: Dashboard, locale: str) -> dict[str, str]:
    """What each chart shows, in words, for a reader who cannot see it (the tables hold every figure)."""
    aging = "; ".join(
        f"{currency}: " + ", ".join(f"{b} {money(buckets[b], currency, locale)}" for b in BUCKETS)
        for currency, buckets in board.aging.items()
    )
    today = "; ".join(
        f"{k.currency} now: DSO {_days(k.dso)}, best possible {_days(k.best_dso)}, CEI {_percent(k.cei)}"
        for k in board.headline
    )
    rates = board.rates
    waiting = "; ".join(f"{q.currency} {q.count} ({money(q.amount_minor, q.currency, locale)})" for q in board.queue)
    daily = "; ".join(
        f"{currency}: {money(sum(d.amount_minor for d in board.issued if d.currency == currency), currency, locale)}"
        f" invoiced, {money(sum(d.amount_minor for d in board.collected if d.currency == currency), currency, locale)}"
        " collected"
        for currency in sorted({d.currency for d in (*board.issued, *board.collected)})
    )
    first_point = board.trend[0].as_of if board.trend else board.as_of
    return {
        "aging": f"Bar charts of open receivables by days past due, one per currency. {aging or 'Nothing open.'}",
        "kpis": f"Line charts of DSO, best possible DSO and CEI at each month end from {first_point} to "
        f"{board.as_of}, a line per currency. {today or 'No receivables or sales.'}",
        "cash-application": f"Bar charts: of {rates.receipts} receipts booked in the last {board.days} days, "
        f"{rates.automatic} applied automatically, {rates.by_hand} by hand, {rates.waiting} waiting; receipts "
        f"waiting to be applied per currency: {waiting or 'none'}.",
        "daily": f"Bar and line charts of invoices issued and cash collected per day from {board.first_day} to "
        f"{board.as_of}, one per currency. {daily or 'Nothing invoiced or collected.'}",
    }


def _days(value: Decimal | None) -> str:
    return "not defined" if value is None else f"{value} days"


def _percent(value: Decimal | None, missing: str = "not defined") -> str:
    return missing if value is None else f"{value}%"


def _period(request: Request) -> int:
    raw = request.query_params.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in PERIODS else PERIODS[-1]


def _today() -> date:
    return datetime.now(UTC).date()


@requires(Permission.VIEW)
async def dashboard_page(request: Request) -> Response:
    days = _period(request)
    board = await read(request, dashboard, _today(), days)
    return render(
        request,
        "reporting/dashboard.html",
        {
            "board": board,
            "periods": PERIODS,
            "buckets": BUCKETS,
            "alt": alt_texts(board, state(request).locale),
            "rate": shown_percent,
        },
    )


@requires(Permission.VIEW)
async def chart(request: Request) -> Response:
    draw = CHARTS.get(request.path_params["name"])
    if draw is None:
        raise HTTPException(404)
    svg = await read(request, draw, _today(), _period(request))
    return Response(svg, media_type="image/svg+xml")


routes = [
    Route("/dashboard", dashboard_page, name="dashboard"),
    Route("/dashboard/charts/{name}.svg", chart, name="dashboard_chart"),
]
