"""A customer's risk: its payment history within the look-back window, scored 0 to 100."""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from models.activity_io import RiskScore
from models.tables import BalanceAdjustment, Dispute, Invoice, Order, Payment, PaymentApplication


@dataclass(frozen=True)
class PaymentHistory:
    """What a customer's own record says: settled and overdue invoices within the look-back window."""

    invoices_considered: int
    late_payments: int
    days_beyond_terms: int
    disputes: int

    @property
    def avg_days_beyond_terms(self) -> Decimal:
        if not self.invoices_considered:
            return Decimal(0)
        return (Decimal(self.days_beyond_terms) / self.invoices_considered).quantize(Decimal("0.1"))


class RiskScorer(Protocol):
    """Turns a customer into a risk score. An external bureau's client plugs in here
    (``O2C_CREDIT_RISK_SCORER=package.module:factory``, the factory called with no arguments)."""

    name: str

    def score(self, customer_id: str, history: PaymentHistory) -> RiskScore: ...


class PaymentHistoryScorer:
    """The built-in score, from the customer's own payment history:
    ``2 * average days beyond terms + 40 * share of late payments + 10 * disputes``, capped at 100.
    A customer without history gets no score (None), which never holds an order by itself."""

    name = "payment-history"

    def score(self, customer_id: str, history: PaymentHistory) -> RiskScore:
        if history.invoices_considered == 0 and history.disputes == 0:
            return RiskScore(score=None, source=self.name)
        late_share = (
            Decimal(history.late_payments) / history.invoices_considered if history.invoices_considered else Decimal(0)
        )
        raw = 2 * history.avg_days_beyond_terms + 40 * late_share + 10 * history.disputes
        return RiskScore(
            score=min(100, int(raw.to_integral_value())),
            source=self.name,
            invoices_considered=history.invoices_considered,
            late_payments=history.late_payments,
            avg_days_beyond_terms=str(history.avg_days_beyond_terms),
            disputes=history.disputes,
        )


def load_scorer(spec: str) -> RiskScorer:
    if spec == PaymentHistoryScorer.name:
        return PaymentHistoryScorer()
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise ValueError(f"O2C_CREDIT_RISK_SCORER={spec!r}: use 'payment-history' or 'package.module:factory'")
    factory: Callable[[], RiskScorer] = getattr(importlib.import_module(module_name), attribute)
    return factory()


def payment_history(session: Session, customer_id: str, today: date, lookback_days: int) -> PaymentHistory:
    """Invoices issued in the window: settled ones by how late their last payment (or write-off) came,
    open ones by how far past due they are today; fully credited and not-yet-due ones do not count."""
    since = today - timedelta(days=lookback_days)
    # One statement however long the customer's history: when each invoice was last paid or written off.
    paid_at = (
        select(func.max(Payment.received_at))
        .join(PaymentApplication, col(PaymentApplication.payment_id) == col(Payment.id))
        .where(col(PaymentApplication.invoice_number) == col(Invoice.number))
        .correlate(Invoice)
        .scalar_subquery()
    )
    written_off_at = (
        select(func.max(BalanceAdjustment.created_at))
        .where(
            col(BalanceAdjustment.order_id) == col(Invoice.order_id),
            col(BalanceAdjustment.invoice_number) == col(Invoice.number),
            BalanceAdjustment.kind == "write_off",
        )
        .correlate(Invoice)
        .scalar_subquery()
    )
    invoices = session.execute(
        sa_select(col(Invoice.open_minor), col(Invoice.due_date), paid_at, written_off_at).where(
            col(Invoice.customer_id) == customer_id, col(Invoice.issued_on) >= since
        )
    ).all()
    considered = late = days_beyond = 0
    for open_minor, due_on, paid, written_off in invoices:
        if open_minor > 0:
            settled_on: date | None = today if due_on < today else None
        else:
            moments = [m for m in (paid, written_off) if m is not None]
            settled_on = max(moments).date() if moments else None
        if settled_on is None:
            continue
        considered += 1
        beyond = max(0, (settled_on - due_on).days)
        days_beyond += beyond
        late += beyond > 0
    disputes = session.exec(
        select(func.count())
        .select_from(Dispute)
        .join(Order, col(Order.id) == col(Dispute.order_id))
        .where(Order.customer_id == customer_id, Dispute.opened_at >= datetime.combine(since, datetime.min.time(), UTC))
    ).one()
    return PaymentHistory(considered, late, days_beyond, int(disputes))
