"""Money in and back out: payments received or failed, refunds of paid invoices, card chargebacks."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from models.contract.base import (
    Amount,
    Contract,
    CurrencyCode,
    DocumentNumber,
    Identifier,
    Person,
    Reason,
    Text,
    check_currency,
    check_money,
)


class PaymentChannel(StrEnum):
    CARD = "card"
    DIRECT_DEBIT = "direct_debit"
    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"
    CASH = "cash"
    OTHER = "other"


class PaymentReceived(Contract):
    """A payment for this order. ``payment_id`` is the dedupe key: the same id twice is one payment."""

    payment_id: Identifier
    amount: Amount
    currency: CurrencyCode
    method: PaymentChannel
    received_at: datetime
    reference: Text = ""

    @model_validator(mode="after")
    def _money(self) -> Self:
        check_currency(self.currency)
        check_money(self.amount, self.currency, "payment amount")
        return self


class PaymentFailed(Contract):
    """Stripe could not take a payment the customer attempted (a pay-link card that was declined, say).
    Recorded on the order's timeline; the invoice stays due and dunning goes on."""

    payment_id: Identifier
    amount: Amount
    currency: CurrencyCode
    code: Text = ""
    message: Text = ""


class RefundInvoice(Contract):
    """Input of ``RefundPaidInvoice``: a credit note on an invoice that is already settled (goods returned,
    a price corrected after payment) and the money back: to the card it was paid with, or else held as the
    customer's credit for finance to pay out or set against the next invoice."""

    order_id: Identifier
    invoice_number: DocumentNumber
    amount: Amount = Field(description="gross amount credited, in the invoice's currency")
    reason: Reason
    by: Person
    request_id: Identifier | None = Field(default=None, description="the same id again refunds nothing more")


class RefundLine(Contract):
    key: str
    payment_id: str
    amount_minor: int
    status: str = Field(description="succeeded, failed or held_as_credit")
    stripe_refund_id: str | None = None


class RefundResult(Contract):
    credit_note_number: str
    currency: CurrencyCode
    refunded_minor: int
    held_as_credit_minor: int
    refunds: list[RefundLine]


class ChargebackStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class ChargebackOpened(Contract):
    """Input of ``Chargeback``: a cardholder disputed a card payment with their bank (Stripe's
    ``charge.dispute.created``). Stripe has taken the money back until the dispute is decided."""

    dispute_id: Identifier
    payment_intent_id: Identifier | None = None
    charge_id: Identifier | None = None
    amount_minor: Annotated[int, Field(gt=0)]
    currency: CurrencyCode
    reason: Text = ""
    evidence_due_by: datetime | None = None

    @model_validator(mode="after")
    def _payment_named(self) -> Self:
        check_currency(self.currency)
        if self.payment_intent_id is None and self.charge_id is None:
            raise ValueError("a chargeback names the payment intent or the charge it disputes")
        return self


class ChargebackClosed(Contract):
    """Signal ``dispute_closed`` on ``Chargeback``: the bank decided (``charge.dispute.closed``)."""

    dispute_id: Identifier
    status: Literal["won", "lost"]
    closed_at: datetime


class ChargebackResult(Contract):
    dispute_id: str
    order_id: str | None
    status: ChargebackStatus
    amount_minor: int
    currency: CurrencyCode
