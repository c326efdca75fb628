"""The exception queue: money received that no invoice took (yet), for finance to apply or refund.

Every receipt in it is booked to unapplied cash (2100) once."""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from activities import ledger
from activities.cash_application.applications import refuse_application
from activities.records import audit
from models.contract import PaymentChannel, PaymentReceived
from models.money import to_minor
from models.tables import (
    CashApplication,
    CashReceipt,
    Customer,
    Order,
)
from o2c.platform.db import transaction

OPEN_STATUSES = ("unapplied", "part_applied")


QUEUED_STATUSES = ("new", *OPEN_STATUSES)


def post_receipt(session: Session, receipt: CashReceipt) -> None:
    ledger.transfer(
        session, f"receipt:{receipt.id}", receipt.currency, receipt.amount_minor, ledger.CASH, ledger.UNAPPLIED_CASH
    )


def open_receipts(session: Session, customer_id: str | None = None) -> list[CashReceipt]:
    """The exception queue: money received and not (fully) applied, oldest first; one customer's, if given."""
    query = select(CashReceipt).where(CashReceipt.unapplied_minor > 0, col(CashReceipt.status).in_(QUEUED_STATUSES))
    if customer_id is not None:
        query = query.where(CashReceipt.customer_id == customer_id)
    return list(session.exec(query.order_by(col(CashReceipt.booked_on), col(CashReceipt.id))).all())


def record_unapplied_card_payment(engine: Engine, payment: PaymentReceived, order_id: str) -> bool:
    """A card payment no open order took (the webhook found the order closed): into the exception queue.
    False when it was recorded before."""
    with transaction(engine) as session:
        return queue_payment(session, payment, order_id, f"order {order_id} was not open when the payment arrived")


def queue_payment(session: Session, payment: PaymentReceived, order_id: str, reason: str) -> bool:
    """Money an order could not apply (cancelled, rejected, closed, another currency) goes to the exception
    queue for finance to apply elsewhere or refund, once: False when it was queued before.

    A payment cash application delivered is refused back onto its receipt (its money is in unapplied cash
    already); any other payment becomes a receipt of its own, booked from cash to unapplied cash."""
    now = datetime.now(UTC)
    application = session.exec(select(CashApplication).where(CashApplication.payment_id == payment.payment_id)).first()
    if application is not None:
        if application.status == "refused":
            return False
        receipt = session.get(CashReceipt, application.receipt_id)
        assert receipt is not None
        refuse_application(session, application, receipt, reason, now)
        return True
    if session.get(CashReceipt, payment.payment_id) is not None:
        return False
    amount = to_minor(payment.amount, payment.currency)
    receipt = CashReceipt(
        id=payment.payment_id,
        source="stripe" if payment.method in (PaymentChannel.CARD, PaymentChannel.DIRECT_DEBIT) else "order",
        location=f"{payment.method.value} payment for order {order_id}",
        booked_on=payment.received_at.date(),
        amount_minor=amount,
        unapplied_minor=amount,
        currency=payment.currency,
        payer_name="",
        reference=payment.reference[:200],
        remittance=f"{payment.method.value} payment for order {order_id}",
        status="unapplied",
        reason=reason[:2000],
        created_at=now,
    )
    _of_the_order_customer(session, receipt, order_id)
    session.add(receipt)
    session.flush()
    post_receipt(session, receipt)
    audit(session, f"queued:{payment.payment_id}", order_id, "payment_queued", "o2c", f"{receipt.location}: {reason}")
    return True


def queue_excess(session: Session, payment_id: str, order_id: str, excess_minor: int, currency: str) -> None:
    """What a payment brought beyond what its order owed: the customer's credit, in the exception queue. The
    payment's own journal already put the money in unapplied cash."""
    hold_as_credit(
        session,
        HeldCredit("excess", payment_id, order_id, excess_minor, currency),
        remittance=f"more than order {order_id} owed",
        reason=f"payment {payment_id} was more than order {order_id} owed",
        flags="overpaid",
    )


@dataclass(frozen=True)
class HeldCredit:
    """Money of a customer's already in unapplied cash (booked by the journal of what put it there)."""

    source: str  # excess: a payment over what was due; credit: a credit note or refund that went no card
    key: str  # what put it there: the payment, the credit note, the refund
    order_id: str | None
    amount_minor: int
    currency: str


def hold_as_credit(session: Session, held: HeldCredit, remittance: str, reason: str, flags: str = "") -> None:
    """The customer's credit becomes a receipt in the exception queue, once, so that finance sees it and
    refunds or applies it. It posts nothing: the money is in unapplied cash already."""
    receipt_id = credit_receipt_id(held.source, held.key)
    if held.amount_minor <= 0 or session.get(CashReceipt, receipt_id) is not None:
        return
    now = datetime.now(UTC)
    receipt = CashReceipt(
        id=receipt_id,
        source=held.source,
        location=f"{held.key} on order {held.order_id}"[:200],
        booked_on=now.date(),
        amount_minor=held.amount_minor,
        unapplied_minor=held.amount_minor,
        currency=held.currency,
        reference=held.key[:200],
        remittance=remittance[:2000],
        status="unapplied",
        flags=flags,
        reason=reason[:2000],
        created_at=now,
    )
    _of_the_order_customer(session, receipt, held.order_id)
    session.add(receipt)


def release_credit(session: Session, source: str, key: str) -> None:
    """Credit held for ``key`` left after all (a refund Stripe reported failed, then succeeded)."""
    receipt = session.get(CashReceipt, credit_receipt_id(source, key))
    if receipt is not None and receipt.unapplied_minor == receipt.amount_minor:
        receipt.unapplied_minor, receipt.status, receipt.updated_at = 0, "applied", datetime.now(UTC)
        session.add(receipt)


def credit_receipt_id(source: str, key: str) -> str:
    """``{source}:{key}``, hashed where that would not fit the receipt id's 64 characters."""
    receipt_id = f"{source}:{key}"
    if len(receipt_id) <= 64:
        return receipt_id
    return f"{source}:{hashlib.sha256(key.encode()).hexdigest()[: 63 - len(source)]}"


def _of_the_order_customer(session: Session, receipt: CashReceipt, order_id: str | None) -> None:
    order = session.get(Order, order_id) if order_id is not None else None
    customer = session.get(Customer, order.customer_id) if order is not None else None
    if customer is not None:
        receipt.customer_id = customer.id
        receipt.payer_name = (customer.billing_name or customer.name)[:200]
