"""The exception queue: money received that no invoice took (yet), for finance to apply or refund.

Every receipt in it is booked to unapplied cash (2100) once."""

import hashlib
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
    """What a payment brought beyond what its order owed: a receipt in the exception queue, so finance sees
    the customer's credit and refunds or applies it. The payment's own journal already put the money in
    unapplied cash, so this receipt posts nothing."""
    receipt_id = excess_receipt_id(payment_id)
    if excess_minor <= 0 or session.get(CashReceipt, receipt_id) is not None:
        return
    receipt = CashReceipt(
        id=receipt_id,
        source="excess",
        location=f"payment {payment_id} to order {order_id}",
        booked_on=datetime.now(UTC).date(),
        amount_minor=excess_minor,
        unapplied_minor=excess_minor,
        currency=currency,
        reference=payment_id[:200],
        remittance=f"more than order {order_id} owed",
        status="unapplied",
        flags="overpaid",
        reason=f"payment {payment_id} was more than order {order_id} owed"[:2000],
        created_at=datetime.now(UTC),
    )
    _of_the_order_customer(session, receipt, order_id)
    session.add(receipt)


def excess_receipt_id(payment_id: str) -> str:
    """``excess:{payment id}``, hashed where that would not fit the receipt id's 64 characters."""
    receipt_id = f"excess:{payment_id}"
    return receipt_id if len(receipt_id) <= 64 else f"excess:{hashlib.sha256(payment_id.encode()).hexdigest()[:57]}"


def _of_the_order_customer(session: Session, receipt: CashReceipt, order_id: str) -> None:
    order = session.get(Order, order_id)
    customer = session.get(Customer, order.customer_id) if order is not None else None
    if customer is not None:
        receipt.customer_id = customer.id
        receipt.payer_name = (customer.billing_name or customer.name)[:200]
