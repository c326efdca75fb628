"""A payment applied to its order's open invoices: the one it names first, then oldest first, with an
early-payment discount where it applies; posted once. What the order cannot take goes to the queue."""

from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio import activity

from activities import ledger
from activities.cash_application.queue import queue_excess, queue_payment
from activities.context import log
from activities.invoicing.invoices import open_invoices
from activities.records import audit, load_order
from models.activity_io import Allocation, ApplyPayment, BalanceChanged, QueuePayment
from models.money import to_minor
from models.tables import (
    CashApplication,
    Invoice,
    Payment,
    PaymentApplication,
)
from o2c.platform.db import run_transaction, transaction


def referenced_first(invoices: list[Invoice], reference: str) -> list[Invoice]:
    """The invoice a payment names (its number or RF reference, as remittance or a payment link gives
    it) is settled first; the rest of the money goes oldest first."""
    text = "".join(reference.split()).upper()
    named = [i for i in invoices if text and (i.number in reference or i.payment_reference in text)]
    return named + [i for i in invoices if i not in named]


def _discount_applies(invoice: Invoice, remaining: int, received_on: datetime) -> bool:
    return (
        invoice.discount_minor > 0
        and invoice.discount_until is not None
        and received_on.date() <= invoice.discount_until
        and invoice.open_minor == invoice.total_minor
        and remaining >= invoice.open_minor - invoice.discount_minor
    )


def _booked_as_receipt(session: Session, payment_id: str) -> bool:
    return session.exec(select(CashApplication.id).where(CashApplication.payment_id == payment_id)).first() is not None


class PaymentApplicationActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name="apply_payment")
    def apply_payment(self, request: ApplyPayment) -> BalanceChanged:
        change, applied_now = run_transaction(self._engine, partial(self._apply, request=request))
        if applied_now:
            log(request.order_id).info(
                "payment applied", payment_id=request.payment.payment_id, unapplied_minor=change.unapplied_minor
            )
        return change

    def _apply(self, session: Session, request: ApplyPayment) -> tuple[BalanceChanged, bool]:
        """The payment on the order's open invoices (the one it references first), booked; with whether it
        was applied just now (False: refused, or applied by an earlier attempt)."""
        payment = request.payment
        existing = session.get(Payment, payment.payment_id)
        if existing is not None and existing.order_id != request.order_id:
            refused = f"payment id {payment.payment_id} was already applied to order {existing.order_id}"
            log(request.order_id).warning("payment refused", payment_id=payment.payment_id, reason=refused)
            return BalanceChanged(allocations=[], unapplied_minor=0, refused=refused), False
        if existing is not None:
            return self._recorded(session, existing), False
        order = load_order(session, request.order_id)
        amount = to_minor(payment.amount, payment.currency)
        remaining = amount
        allocations: list[Allocation] = []
        discounts = 0
        for invoice in referenced_first(open_invoices(session, order.id), payment.reference):
            if remaining == 0:
                break
            discount = invoice.discount_minor if _discount_applies(invoice, remaining, payment.received_at) else 0
            applied = min(remaining, invoice.open_minor - discount)
            invoice.open_minor -= applied + discount
            invoice.status = "paid" if invoice.open_minor == 0 else "partially_paid"
            session.add(invoice)
            remaining -= applied
            discounts += discount
            allocations.append(Allocation(invoice_number=invoice.number, amount_minor=applied, discount_minor=discount))
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
        applied = amount - remaining
        queue_excess(session, payment.payment_id, order.id, remaining, payment.currency)
        if _booked_as_receipt(session, payment.payment_id):
            # The money came in through cash application and sits in unapplied cash already: only what
            # reaches the invoices moves; the rest stays there, in the queue as the customer's credit.
            postings = [ledger.Posting(ledger.UNAPPLIED_CASH, debit_minor=applied)]
        else:
            postings = [
                ledger.Posting(ledger.CASH, debit_minor=amount),
                ledger.Posting(ledger.UNAPPLIED_CASH, credit_minor=remaining),
            ]
        postings += [
            ledger.Posting(ledger.DISCOUNTS_GIVEN, debit_minor=discounts),
            ledger.Posting(ledger.RECEIVABLES, credit_minor=applied + discounts),
        ]
        ledger.post(session, f"payment:{payment.payment_id}", payment.currency, postings, order_id=order.id)
        audit(
            session,
            f"payment:{payment.payment_id}",
            order.id,
            "payment_applied",
            payment.method.value,
            f"{amount} applied {amount - remaining}, discount {discounts}, unapplied {remaining}",
        )
        return BalanceChanged(allocations=allocations, unapplied_minor=remaining), True

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

    @activity.defn(name="queue_payment")
    def queue_payment(self, request: QueuePayment) -> None:
        """A payment the order cannot apply, into the cash-application exception queue (once)."""
        with transaction(self._engine) as session:
            queued = queue_payment(session, request.payment, request.order_id, request.reason)
        if queued:
            log(request.order_id).warning(
                "payment queued for cash application", payment_id=request.payment.payment_id, reason=request.reason
            )
