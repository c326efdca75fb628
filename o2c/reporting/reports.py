"""``o2c report``: receivables aging per customer, collection KPIs and cash-application match rates, from the
database. Definitions: o2c/reporting/aggregates.py. Opening receivables come from the ledger (the receivables
account before the period); the rest is as of now.

Every figure is a SQL aggregate, read from one snapshot: the aging one row per customer and currency (GROUP BY
over the open invoices, ``ix_invoices_open_due``), the KPIs and match rates through the dashboard's queries
(o2c/reporting/trends.py). Nothing loads invoices, receipts or applications into Python.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from models.money import from_minor
from models.tables import Customer, Invoice
from o2c.platform.db import snapshot
from o2c.reporting.aggregates import BUCKET_LAST_DAYS, BUCKETS, Kpis, MatchRates, bucket, kpis
from o2c.reporting.trends import headline_kpis, match_rates

# The definitions stay importable from here, where ``o2c report``'s readers have always found them.
__all__ = [
    "BUCKETS",
    "AgingRow",
    "Kpis",
    "MatchRates",
    "Report",
    "aging_by_customer",
    "bucket",
    "build_report",
    "kpis",
    "render",
    "write_chart",
]


@dataclass
class AgingRow:
    customer_id: str
    name: str
    currency: str
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


@dataclass
class Report:
    as_of: date
    aging: list[AgingRow]
    kpis: list[Kpis]
    matching: MatchRates


def build_report(engine: Engine, as_of: date, days: int) -> Report:
    with snapshot(engine) as session:
        rows = aging_by_customer(session, as_of)
        open_by_bucket: dict[str, dict[str, int]] = {}
        for row in rows:
            totals = open_by_bucket.setdefault(row.currency, dict.fromkeys(BUCKETS, 0))
            for label, amount in row.buckets.items():
                totals[label] += amount
        figures = headline_kpis(session, as_of, days, open_by_bucket)
        matching = match_rates(session)
    return Report(as_of, rows, figures, matching)


def aging_by_customer(session: Session, as_of: date) -> list[AgingRow]:
    """Open receivables per customer, currency and bucket of days past due on ``as_of``: one row per customer
    and currency, largest first within each currency (then by customer id)."""
    open_minor = col(Invoice.open_minor)
    per_customer = (
        sa_select(
            col(Invoice.customer_id).label("customer_id"),
            col(Invoice.currency).label("currency"),
            *(func.sum(case((due, open_minor), else_=0)).label(f"b{n}") for n, due in enumerate(_due_in(as_of))),
        )
        .where(open_minor > 0)
        .group_by(col(Invoice.customer_id), col(Invoice.currency))
        .subquery()
    )
    found = session.execute(
        sa_select(per_customer, col(Customer.billing_name), col(Customer.name)).outerjoin(
            Customer, col(Customer.id) == per_customer.c.customer_id
        )
    )
    rows = []
    for customer_id, currency, *amounts, billing_name, name in found:
        buckets = {label: int(amount) for label, amount in zip(BUCKETS, amounts, strict=True)}
        rows.append(AgingRow(customer_id, billing_name or name or "", currency, buckets))
    return sorted(rows, key=lambda r: (r.currency, -r.total, r.customer_id))


def _due_in(as_of: date) -> list[Any]:
    """Per bucket, the condition on an invoice's due date that puts it there on ``as_of``."""
    due = col(Invoice.due_date)
    starts = [as_of - timedelta(days=last_day) for last_day in BUCKET_LAST_DAYS]  # each one's earliest due date
    conditions = [due >= starts[0]]
    conditions += [(due < later) & (due >= earlier) for later, earlier in pairwise(starts)]
    return [*conditions, due < starts[-1]]


def _money(minor: int, currency: str) -> str:
    return f"{from_minor(minor, currency):,}"


def render(report: Report) -> str:
    out = [f"Accounts receivable aging as of {report.as_of}"]
    header = f"{'customer':<34}{'cur':<5}" + "".join(f"{b:>14}" for b in BUCKETS) + f"{'total':>15}"
    out.append(header)
    out.append("-" * len(header))
    totals: dict[str, AgingRow] = {}
    for row in report.aging:
        label = f"{row.customer_id} {row.name}"[:33]
        out.append(
            f"{label:<34}{row.currency:<5}"
            + "".join(f"{_money(row.buckets[b], row.currency):>14}" for b in BUCKETS)
            + f"{_money(row.total, row.currency):>15}"
        )
        total = totals.setdefault(row.currency, AgingRow("", "", row.currency))
        for b in BUCKETS:
            total.buckets[b] += row.buckets[b]
    for currency, total in sorted(totals.items()):
        out.append(
            f"{'total':<34}{currency:<5}"
            + "".join(f"{_money(total.buckets[b], currency):>14}" for b in BUCKETS)
            + f"{_money(total.total, currency):>15}"
        )
    out.append("")
    out.append("Collection KPIs")
    columns = (
        ("cur", -5),
        ("days", 5),
        ("sales", 16),
        ("opening AR", 16),
        ("closing AR", 16),
        ("DSO", 8),
        ("best DSO", 10),
        ("ADD", 7),
        ("CEI %", 8),
    )
    out.append("".join(f"{name:<{-width}}" if width < 0 else f"{name:>{width}}" for name, width in columns))
    for k in report.kpis:
        out.append(
            f"{k.currency:<5}{k.days:>5}{_money(k.sales_minor, k.currency):>16}"
            f"{_money(k.opening_ar_minor, k.currency):>16}{_money(k.closing_ar_minor, k.currency):>16}"
            f"{_show(k.dso):>8}{_show(k.best_dso):>10}"
            f"{_show(k.average_days_delinquent):>7}{_show(k.cei):>8}"
        )
    m = report.matching
    out.append("")
    out.append("Cash application")
    out.append(
        f"receipts {m.receipts}: automatic {m.automatic}, by hand {m.by_hand}, waiting {m.waiting}; "
        f"match rate per payment {_rate(m.per_payment)}, per invoice {_rate(m.per_invoice)} "
        f"({m.invoices_automatic} of {m.invoices} invoices settled by cash application)"
    )
    return "\n".join(out)


def _show(value: Decimal | None) -> str:
    return "-" if value is None else str(value)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def write_chart(report: Report, path: Path) -> None:
    """Aging by bucket, one panel per currency, with the KPIs in each title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    currencies = [k.currency for k in report.kpis] or ["-"]
    figure, axes = plt.subplots(1, len(currencies), figsize=(5 * len(currencies), 4), squeeze=False)
    for axis, currency in zip(axes[0], currencies, strict=True):
        amounts = [
            float(from_minor(sum(r.buckets[b] for r in report.aging if r.currency == currency), currency))
            if currency != "-"
            else 0.0
            for b in BUCKETS
        ]
        axis.bar(BUCKETS, amounts, color=["#4c9f70", "#f2c14e", "#f78154", "#d1495b", "#8d0801"])
        k = next((k for k in report.kpis if k.currency == currency), None)
        subtitle = f"DSO {_show(k.dso)}  best {_show(k.best_dso)}  CEI {_show(k.cei)}%" if k else ""
        axis.set_title(f"{currency} receivables by days past due\n{subtitle}", fontsize=10)
        axis.set_ylabel(currency)
    figure.suptitle(f"o2c aging as of {report.as_of}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
