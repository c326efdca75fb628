"""Finance applying (part of) a receipt to an order by hand."""

from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from activities.cash_application.applications import next_payment_id
from activities.records import audit
from models.money import format_money
from models.tables import (
    CashApplication,
    CashReceipt,
    Invoice,
    Order,
)
from o2c.platform.db import transaction


class CashError(ValueError):
    """A request finance made that cannot be carried out, with what to do instead."""


def apply_by_hand(
    engine: Engine, receipt_id: str, order_id: str, amount_minor: int | None, actor: str, note: str, request_id: str
) -> CashApplication:
    """Finance applies (part of) a receipt to an order. Refused with the reason when the receipt has not
    that much left, the currencies differ or the order is unknown; the same request id twice is one
    application."""
    now = datetime.now(UTC)
    with transaction(engine) as session:
        done = session.exec(select(CashApplication).where(CashApplication.request_id == request_id)).first()
        if done is not None:
            return done
        receipt = session.get(CashReceipt, receipt_id)
        if receipt is None:
            raise CashError(f"no receipt {receipt_id}: `o2c cash unapplied` lists them")
        order = session.get(Order, order_id)
        if order is None:
            raise CashError(f"no order {order_id}")
        if order.currency != receipt.currency:
            raise CashError(f"order {order_id} is in {order.currency}, the receipt in {receipt.currency}")
        amount = receipt.unapplied_minor if amount_minor is None else amount_minor
        if amount <= 0 or amount > receipt.unapplied_minor:
            raise CashError(
                f"receipt {receipt_id} has {format_money(receipt.unapplied_minor, receipt.currency)} unapplied; "
                f"cannot apply {format_money(amount, receipt.currency)}"
            )
        open_numbers = session.exec(
            select(Invoice.number)
            .where(Invoice.order_id == order_id, Invoice.open_minor > 0)
            .order_by(col(Invoice.due_date))
        ).all()
        application = CashApplication(
            receipt_id=receipt.id,
            payment_id=next_payment_id(session, receipt.id),
            request_id=request_id,
            order_id=order_id,
            amount_minor=amount,
            currency=receipt.currency,
            invoice_numbers=" ".join(open_numbers)[:400],
            source="manual",
            actor=actor,
            confidence=1.0,
            status="pending",
            created_at=now,
        )
        session.add(application)
        receipt.unapplied_minor -= amount
        receipt.status = "applied" if receipt.unapplied_minor == 0 else "part_applied"
        receipt.reason = note[:2000] if note else receipt.reason
        receipt.updated_at = now
        session.add(receipt)
        session.flush()
        audit(
            session,
            f"cash-apply-request:{request_id}",
            order_id,
            "cash_apply_requested",
            actor,
            f"{format_money(amount, receipt.currency)} of receipt {receipt_id}: {note}",
        )
    return application
