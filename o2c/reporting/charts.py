"""The dashboard's charts, drawn with matplotlib as SVG: one panel per currency wherever amounts are shown, so
no axis ever adds up two currencies. Amounts become floats only here, as coordinates to plot.

matplotlib keeps global state (its rcParams, font caches) and is not thread-safe, and web requests render in
a thread pool: ``render`` draws one figure at a time under a lock, on the Agg backend, with ``Figure``
directly (pyplot's registry of open figures is never involved, so nothing outlives the call), and clears it.
The SVG draws text as paths: it needs no font, and it carries no script."""

import io
import threading
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import matplotlib
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from models.money import from_minor
from o2c.reporting.reports import BUCKETS, MatchRates
from o2c.reporting.trends import DayTotal, QueueTotal, TrendPoint

matplotlib.use("Agg")  # no display, and pyplot (never used here) would pick none either

_LOCK = threading.Lock()
BUCKET_COLOURS = ("#4c9f70", "#f2c14e", "#f78154", "#d1495b", "#8d0801")
CURRENCY_COLOURS = ("#1f5f8b", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568")


def render(draw: Callable[[Figure], None], width: float = 10, height: float = 4) -> bytes:
    """``draw`` on a fresh figure (inches), saved as SVG; one figure at a time in the whole process."""
    with (
        _LOCK,
        matplotlib.rc_context(
            {"svg.hashsalt": "o2c-dashboard", "svg.fonttype": "path", "font.size": 9, "axes.titlesize": 10}
        ),
    ):
        figure = Figure(figsize=(width, height), layout="constrained")
        try:
            draw(figure)
            out = io.BytesIO()
            figure.savefig(out, format="svg", metadata={"Date": None})
        finally:
            figure.clear()
    return out.getvalue()


def _major(minor: int, currency: str) -> float:
    return float(from_minor(minor, currency))


def _amount_axis(axis: Axes, currency: str) -> None:
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.set_ylabel(currency)


def _nothing(figure: Figure, message: str) -> None:
    axis = figure.add_subplot()
    axis.set_axis_off()
    axis.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, transform=axis.transAxes)


def aging(open_by_bucket: dict[str, dict[str, int]]) -> bytes:
    """Open receivables by days past due, a bar per bucket, a panel per currency."""

    def draw(figure: Figure) -> None:
        if not open_by_bucket:
            _nothing(figure, "No open receivables")
            return
        axes = figure.subplots(1, len(open_by_bucket), squeeze=False)[0]
        for axis, (currency, buckets) in zip(axes, open_by_bucket.items(), strict=True):
            bars = axis.bar(BUCKETS, [_major(buckets[b], currency) for b in BUCKETS], color=BUCKET_COLOURS)
            axis.bar_label(bars, labels=[f"{from_minor(buckets[b], currency):,}" for b in BUCKETS], fontsize=7)
            axis.set_title(f"{currency}: open receivables by days past due")
            axis.set_xlabel("days past due")
            _amount_axis(axis, currency)
            axis.margins(y=0.15)

    return render(draw, width=max(5.0, 4.5 * len(open_by_bucket)))


def _series(points: Sequence[TrendPoint], currency: str, field: str) -> list[float]:
    values = []
    for point in points:
        figure = next((getattr(k, field) for k in point.kpis if k.currency == currency), None)
        values.append(float("nan") if figure is None else float(figure))
    return values


def kpi_trend(points: Sequence[TrendPoint]) -> bytes:
    """DSO and best possible DSO in days (the gap between them is the average days delinquent), and CEI in
    percent, at each month end: a line per currency."""

    def draw(figure: Figure) -> None:
        currencies = sorted({k.currency for p in points for k in p.kpis})
        if not currencies:
            _nothing(figure, "No receivables or sales in these months")
            return
        days_axis, cei_axis = figure.subplots(1, 2)
        x = [p.as_of for p in points]
        for colour, currency in zip(CURRENCY_COLOURS * 4, currencies, strict=False):
            dso, best = _series(points, currency, "dso"), _series(points, currency, "best_dso")
            days_axis.plot(x, dso, marker="o", color=colour, label=f"{currency} DSO")
            days_axis.plot(x, best, marker=".", linestyle="--", color=colour, label=f"{currency} best possible DSO")
            days_axis.fill_between(x, best, dso, color=colour, alpha=0.12)
            cei_axis.plot(x, _series(points, currency, "cei"), marker="o", color=colour, label=f"{currency} CEI")
        days_axis.set_title("DSO and best possible DSO (shaded: average days delinquent)")
        days_axis.set_ylabel("days")
        cei_axis.set_title("Collection effectiveness index")
        cei_axis.set_ylabel("%")
        for axis in (days_axis, cei_axis):
            _date_axis(axis)
            axis.set_xlim(x[0] - timedelta(days=10), x[-1] + timedelta(days=10))  # every month, drawn or not
            axis.set_ylim(bottom=0)
            axis.legend(fontsize=7, loc="lower left")
            axis.grid(alpha=0.3)

    return render(draw, width=11, height=4)


def _date_axis(axis: Axes) -> None:
    locator = AutoDateLocator(maxticks=8)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def cash_application(rates: MatchRates, queue: Sequence[QueueTotal]) -> bytes:
    """The period's receipts by how they were applied (a stacked bar), and the queue waiting per currency."""

    def draw(figure: Figure) -> None:
        receipts_axis, queue_axis = figure.subplots(1, 2, width_ratios=(3, 2))
        left = 0
        parts = (("automatic", rates.automatic, "#2f855a"), ("by hand", rates.by_hand, "#d69e2e"))
        for label, count, colour in (*parts, ("waiting", rates.waiting, "#c53030")):
            bar = receipts_axis.barh(["receipts"], [count], left=left, color=colour, label=f"{label} ({count})")
            if count:
                receipts_axis.bar_label(bar, labels=[str(count)], label_type="center", color="white")
            left += count
        receipts_axis.set_title(f"Receipts in the period: {rates.receipts}")
        receipts_axis.set_xlabel("receipts")
        receipts_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        receipts_axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35), ncols=3)
        if not queue:
            queue_axis.set_axis_off()
            queue_axis.text(0.5, 0.5, "Nothing waiting to be applied", ha="center", va="center")
            return
        bars = queue_axis.bar(
            [q.currency for q in queue], [q.count for q in queue], color=CURRENCY_COLOURS[: len(queue)] or None
        )
        queue_axis.bar_label(bars, labels=[f"{from_minor(q.amount_minor, q.currency):,}" for q in queue], fontsize=8)
        queue_axis.set_title("Waiting to be applied (labels: amount)")
        queue_axis.set_ylabel("receipts")
        queue_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        queue_axis.margins(y=0.2)

    return render(draw, width=10, height=3)


def daily(issued: Sequence[DayTotal], collected: Sequence[DayTotal], first: date, last: date) -> bytes:
    """Invoices issued (bars) and cash collected (line) per day, a panel per currency."""

    def draw(figure: Figure) -> None:
        currencies = sorted({d.currency for d in (*issued, *collected)})
        if not currencies:
            _nothing(figure, f"No invoices issued and no cash collected from {first} to {last}")
            return
        axes = figure.subplots(len(currencies), 1, squeeze=False, sharex=True)[:, 0]
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        for axis, currency in zip(axes, currencies, strict=True):
            invoiced, received = _per_day(issued, currency), _per_day(collected, currency)
            axis.bar(days, [invoiced.get(d, 0.0) for d in days], color="#90cdf4", label="invoices issued")
            axis.plot(
                days,
                [received.get(d, 0.0) for d in days],
                color="#22543d",
                marker="o",
                markersize=3,
                label="cash collected",
            )
            axis.set_title(f"{currency}: invoiced and collected per day")
            _amount_axis(axis, currency)
            axis.legend(fontsize=7, loc="upper left")
            axis.grid(alpha=0.3)
        _date_axis(axes[-1])

    return render(draw, width=10, height=2.6 * max(1, len({d.currency for d in (*issued, *collected)})))


def _per_day(totals: Sequence[DayTotal], currency: str) -> dict[date, float]:
    return {d.day: _major(d.amount_minor, currency) for d in totals if d.currency == currency}
