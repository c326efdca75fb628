"""Card charges, refunds of paid invoices and card chargebacks."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from models.activity_io.base import Message


class ChargeCard(Message):
    order_id: str
    invoice_number: str
    amount_minor: int
    currency: str
    idempotency_key: str


class ChargeOutcome(Message):
    """``processing``: a bank debit Stripe settles days later; its result comes through the webhook."""

    status: Literal["succeeded", "declined", "processing"]
    payment_id: str
    received_at: datetime
    decline_code: str = ""
    message: str = ""
    decline_kind: Literal["soft", "hard", ""] = ""


class CreditPaidInvoice(Message):
    """A credit note on a settled invoice; the credit goes back the way the invoice was paid."""

    order_id: str
    invoice_number: str
    amount: Decimal
    reason: str
    actor: str
    dedupe_key: str
    issued_on: date


class PlannedRefund(Message):
    key: str
    payment_id: str
    amount_minor: int


class PaidInvoiceCredited(Message):
    credit_note_number: str
    currency: str
    card_refunds: list[PlannedRefund]
    held_as_credit_minor: int


class RefundCard(Message):
    key: str
    order_id: str


class RefundDone(Message):
    key: str
    payment_id: str
    amount_minor: int
    status: Literal["succeeded", "pending", "failed"]
    stripe_refund_id: str | None = None
    message: str = ""


class ChargebackRecorded(Message):
    order_id: str | None
    customer_id: str | None
    payment_id: str | None
    status: str


class CloseChargeback(Message):
    dispute_id: str
    status: Literal["won", "lost"]
    closed_at: datetime


class StripeRefundSeen(Message):
    """A refund as Stripe reported it in a webhook event."""

    refund_id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount_minor: int
    currency: str
    status: str
    o2c_key: str | None = None


class StripeRefundRecorded(Message):
    order_id: str | None
    source: Literal["o2c", "stripe", "unknown"]
    status: str
    changed: bool
