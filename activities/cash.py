"""Cash application and balance adjustments: each money event allocated oldest invoice first, posted once."""

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from activities import ledger
from activities.context import log
from activities.orders import audit, load_order
from models.activity_io import (
    AdjustBalance,
    AdjustmentKind,
    Allocation,
    ApplyPayment,
    BalanceChanged,
)
from models.money import to_minor
from models.tables import BalanceAdjustment, Invoice, Payment, PaymentApplication
from o2c.db import transaction

ADJUSTMENT_ACCOUNT = {
    AdjustmentKind.CREDIT_NOTE: ledger.SALES_RETURNS,
    AdjustmentKind.WRITE_OFF: ledger.BAD_DEBT,
}


def open_invoices(session: Session, order_id: str) -> list[Invoice]:
    return list(
        session.exec(
            select(Invoice)
            .where(Invoice.order_id == order_id, Invoice.open_minor > 0)
            .order_by(col(Invoice.due_date), col(Invoice.number))
        ).all()
    )


def _discount_applies(invoice: Invoice, remaining: int, received_on: datetime) -> bool:
    return (
        invoice.discount_minor > 0
        and invoice.discount_until is not None
        and received_on.date() <= invoice.discount_until
        and invoice.open_minor == invoice.total_minor
        and remaining >= invoice.open_minor - invoice.discount_minor
    )


class CashActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="apply_payment")
    def apply_payment(self, request: ApplyPayment) -> BalanceChanged:
        payment = request.payment
        with transaction(self._engine) as session:
            existing = session.get(Payment, payment.payment_id)
            if existing is not None:
                return self._recorded(session, existing)
            order = load_order(session, request.order_id)
            amount = to_minor(payment.amount, payment.currency)
            remaining = amount
            allocations: list[Allocation] = []
            discounts = 0
            for invoice in open_invoices(session, order.id):
                if remaining == 0:
                    break
                discount = invoice.discount_minor if _discount_applies(invoice, remaining, payment.received_at) else 0
                applied = min(remaining, invoice.open_minor - discount)
                invoice.open_minor -= applied + discount
                invoice.status = "paid" if invoice.open_minor == 0 else "partially_paid"
                session.add(invoice)
                remaining -= applied
                discounts += discount
                allocations.append(
                    Allocation(invoice_number=invoice.number, amount_minor=applied, discount_minor=discount)
                )
            session.add(
                Payment(
                    id=payment.payment_id,
                    order_id=order.id,
                    customer_id=order.customer_id,
                    amount_minor=amount,
                    unapplied_minor=remaining,
                    currency=payment.currency,
                    method=payment.method.value,
                    reference=payment.reference,
                    received_at=payment.received_at,
                )
            )
            session.flush()
            now = datetime.now(UTC)
            for allocation in allocations:
                session.add(
                    PaymentApplication(
                        payment_id=payment.payment_id,
                        invoice_number=allocation.invoice_number,
                        amount_minor=allocation.amount_minor,
                        discount_minor=allocation.discount_minor,
                        applied_at=now,
                    )
                )
            ledger.post(
                session,
                f"payment:{payment.payment_id}",
                payment.currency,
                [
                    ledger.Posting(ledger.CASH, debit_minor=amount),
                    ledger.Posting(ledger.DISCOUNTS_GIVEN, debit_minor=discounts),
                    ledger.Posting(ledger.RECEIVABLES, credit_minor=amount - remaining + discounts),
                    ledger.Posting(ledger.UNAPPLIED_CASH, credit_minor=remaining),
                ],
                order_id=order.id,
            )
            audit(
                session,
                f"payment:{payment.payment_id}",
                order.id,
                "payment_applied",
                payment.method.value,
                f"{amount} applied {amount - remaining}, discount {discounts}, unapplied {remaining}",
            )
        log(request.order_id).info("payment applied", payment_id=payment.payment_id, unapplied_minor=remaining)
        return BalanceChanged(allocations=allocations, unapplied_minor=remaining)

    def _recorded(self, session: Session, payment: Payment) -> BalanceChanged:
        """The answer a first attempt gave, rebuilt from what it wrote."""
        rows = session.exec(select(PaymentApplication).where(PaymentApplication.payment_id == payment.id)).all()
        allocations = [
            Allocation(
                invoice_number=row.invoice_number,
                amount_minor=row.amount_minor,
                discount_minor=row.discount_minor,
            )
            for row in rows
        ]
        return BalanceChanged(allocations=allocations, unapplied_minor=payment.unapplied_minor)

    @activity.defn(name="adjust_balance")
    def adjust_balance(self, request: AdjustBalance) -> BalanceChanged:
        with transaction(self._engine) as session:
            done = session.exec(
                select(BalanceAdjustment).where(BalanceAdjustment.dedupe_key == request.dedupe_key)
            ).all()
            if done:
                allocations = [Allocation(invoice_number=a.invoice_number, amount_minor=a.amount_minor) for a in done]
                return BalanceChanged(
                    allocations=allocations,
                    unapplied_minor=request.amount_minor - sum(a.amount_minor for a in done),
                )
            order = load_order(session, request.order_id)
            remaining = request.amount_minor
            allocations = []
            now = datetime.now(UTC)
            for invoice in open_invoices(session, order.id):
                if remaining == 0:
                    break
                amount = min(remaining, invoice.open_minor)
                invoice.open_minor -= amount
                invoice.status = request.kind.value if invoice.open_minor == 0 else invoice.status
                session.add(invoice)
                remaining -= amount
                allocations.append(Allocation(invoice_number=invoice.number, amount_minor=amount))
                session.add(
                    BalanceAdjustment(
                        dedupe_key=request.dedupe_key,
                        kind=request.kind.value,
                        order_id=order.id,
                        invoice_number=invoice.number,
                        amount_minor=amount,
                        reason=request.reason,
                        actor=request.actor,
                        created_at=now,
                    )
                )
            applied = request.amount_minor - remaining
            ledger.post(
                session,
                f"{request.kind.value}:{request.dedupe_key}",
                order.currency,
                [
                    ledger.Posting(ADJUSTMENT_ACCOUNT[request.kind], debit_minor=applied),
                    ledger.Posting(ledger.RECEIVABLES, credit_minor=applied),
                ],
                order_id=order.id,
            )
            audit(
                session,
                f"{request.kind.value}:{request.dedupe_key}",
                order.id,
                request.kind.value,
                request.actor,
                f"{applied}: {request.reason}",
            )
        log(request.order_id).info("balance adjusted", kind=request.kind, amount_minor=applied)
        return BalanceChanged(allocations=allocations, unapplied_minor=remaining)
