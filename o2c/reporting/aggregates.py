"""The receivables figures' definitions, shared by ``o2c report`` (o2c/reporting/reports.py) and the
dashboard (o2c/reporting/trends.py), which both feed them with SQL aggregates.

Per currency, never summed across currencies. Definitions (NOTES, from the O2C literature):
- aging buckets by days past due: not yet due, then 1-30, 31-60, 61-90 and over 90 days;
- DSO = receivables / credit sales in the period x days in the period;
- best possible DSO uses only the current (not yet due) receivables; average days delinquent = DSO - best;
- CEI = (opening AR + sales - closing AR) / (opening AR + sales - closing current AR) x 100;
- match rate per payment: receipts applied automatically / receipts applied at all (or waiting);
  per invoice: invoices settled by automatic applications / invoices settled by any application.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
# The most days past due each bucket but the last holds: a bucket starts the day after the one before ends.
BUCKET_LAST_DAYS = (0, 30, 60, 90)


def bucket(days_past_due: int) -> str:
    for label, last_day in zip(BUCKETS, BUCKET_LAST_DAYS, strict=False):
        if days_past_due <= last_day:
            return label
    return BUCKETS[-1]


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
