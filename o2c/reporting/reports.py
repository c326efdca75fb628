"""``o2c report``: receivables aging, collection KPIs and cash-application match rates, from the database.

Per currency, never summed across currencies. Definitions (NOTES, from the O2C literature):
- DSO = receivables / credit sales in the period x days in the period;
- best possible DSO uses only the current (not yet due) receivables; average days delinquent = DSO - best;
- CEI = (opening AR + sales - closing AR) / (opening AR + sales - closing current AR) x 100;
- match rate per payment: receipts applied automatically / receipts applied at all (or waiting);
  per invoice: invoices settled by automatic applications / invoices settled by any application.
Opening receivables come from the ledger (the receivables account before the period); the rest is as of now.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from activities import ledger
from models.money import from_minor
from models.tables import CashApplication, CashReceipt, Customer, Invoice, LedgerEntry

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def bucket(days_past_due: int) -> str:
    if days_past_due <= 0:
        return "current"
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"


@dataclass
class AgingRow:
    customer_id: str
    name: str
    currency: str
    buckets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))

    @property
    def total(self) -> int:
        return sum(self.buckets.values())


@dataclass(frozen=True)
class Kpis:
    currency: str
    days: int
    sales_minor: int
    opening_ar_minor: int
    closing_ar_minor: int
    current_ar_minor: int
    dso: Decimal | None
    best_dso: Decimal | None
    average_days_delinquent: Decimal | None
    cei: Decimal | None


def _one_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def kpis(currency: str, days: int, opening: int, sales: int, closing: int, current: int) -> Kpis:
    """The KPIs from the four figures; None where a denominator is zero (no sales, nothing to collect)."""
    dso = _one_decimal(Decimal(closing) / sales * days) if sales else None
    best = _one_decimal(Decimal(current) / sales * days) if sales else None
    collectable = opening + sales - current
    cei = _one_decimal(Decimal(opening + sales - closing) / collectable * 100) if collectable else None
    return Kpis(
        currency,
        days,
        sales,
        opening,
        closing,
        current,
        dso,
        best,
        dso - best if dso is not None and best is not None else None,
        cei,
    )


@dataclass(frozen=True)
class MatchRates:
    receipts: int
    automatic: int
    by_hand: int
    waiting: int
    invoices: int
    invoices_automatic: int

    @property
    def per_payment(self) -> float | None:
        return self.automatic / self.receipts if self.receipts else None

    @property
    def per_invoice(self) -> float | None:
        return self.invoices_automatic / self.invoices if self.invoices else None


@dataclass
class Report:
    as_of: date
    aging: list[AgingRow]
    kpis: list[Kpis]
    matching: MatchRates


def build_report(engine: Engine, as_of: date, days: int) -> Report:
    start = datetime.combine(as_of - timedelta(days=days), time(), UTC)
    with Session(engine) as session:
        names = {c.id: c.billing_name or c.name for c in session.exec(select(Customer))}
        rows: dict[tuple[str, str], AgingRow] = {}
        current: dict[str, int] = defaultdict(int)
        closing: dict[str, int] = defaultdict(int)
        for invoice in session.exec(select(Invoice).where(Invoice.open_minor > 0)):
            key = (invoice.customer_id, invoice.currency)
            row = rows.setdefault(
                key, AgingRow(invoice.customer_id, names.get(invoice.customer_id, ""), invoice.currency)
            )
            label = bucket((as_of - invoice.due_date).days)
            row.buckets[label] += invoice.open_minor
            closing[invoice.currency] += invoice.open_minor
            if label == "current":
                current[invoice.currency] += invoice.open_minor
        sales: dict[str, int] = defaultdict(int)
        for currency, total in session.exec(
            select(Invoice.currency, func.sum(Invoice.total_minor))
            .where(Invoice.issued_on > as_of - timedelta(days=days), Invoice.issued_on <= as_of)
            .group_by(Invoice.currency)
        ):
            sales[currency] = int(total)
        opening: dict[str, int] = defaultdict(int)
        for currency, balance in session.exec(
            select(LedgerEntry.currency, func.sum(LedgerEntry.debit_minor) - func.sum(LedgerEntry.credit_minor))
            .where(LedgerEntry.account == ledger.RECEIVABLES, LedgerEntry.posted_at < start)
            .group_by(LedgerEntry.currency)
        ):
            opening[currency] = int(balance)
        matching = _match_rates(session)
    currencies = sorted(set(sales) | set(closing) | set(opening))
    return Report(
        as_of,
        sorted(rows.values(), key=lambda r: (r.currency, -r.total)),
        [kpis(c, days, opening[c], sales[c], closing[c], current[c]) for c in currencies],
        matching,
    )


def _match_rates(session: Session) -> MatchRates:
    receipts = session.exec(select(CashReceipt).where(CashReceipt.amount_minor > 0)).all()
    sources: dict[str, set[str]] = defaultdict(set)
    invoices_by: dict[str, set[str]] = defaultdict(set)
    for application in session.exec(select(CashApplication).where(col(CashApplication.status) != "refused")):
        kind = "manual" if application.source == "manual" else "auto"
        sources[application.receipt_id].add(kind)
        for number in application.invoice_numbers.split():
            invoices_by[number].add(kind)
    automatic = sum(1 for r in receipts if "auto" in sources.get(r.id, ()))
    by_hand = sum(1 for r in receipts if sources.get(r.id) == {"manual"})
    return MatchRates(
        receipts=len(receipts),
        automatic=automatic,
        by_hand=by_hand,
        waiting=len(receipts) - automatic - by_hand,
        invoices=len(invoices_by),
        invoices_automatic=sum(1 for kinds in invoices_by.values() if kinds == {"auto"}),
    )


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
