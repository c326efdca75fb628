"""Cash application: payments and adjustments applied to invoices, and bank receipts matched to orders."""

from datetime import date
from enum import StrEnum

from models.activity_io.base import Message
from models.contract import PaymentReceived


class ApplyPayment(Message):
    order_id: str
    payment: PaymentReceived


class Allocation(Message):
    """How much of one invoice a payment (and any early-payment discount) or adjustment settled."""

    invoice_number: str
    amount_minor: int
    discount_minor: int = 0


class BalanceChanged(Message):
    allocations: list[Allocation]
    unapplied_minor: int
    documents: list[str] = []
    refused: str = ""  # why nothing was applied (a payment id already used for another order)


class AdjustmentKind(StrEnum):
    CREDIT_NOTE = "credit_note"
    WRITE_OFF = "write_off"


class QueuePayment(Message):
    """A payment the order cannot apply, for the cash-application exception queue, with why."""

    order_id: str
    payment: PaymentReceived
    reason: str


class AdjustBalance(Message):
    """A credit note or a write-off against the order's open invoices, oldest first."""

    order_id: str
    kind: AdjustmentKind
    amount_minor: int
    reason: str
    actor: str
    dedupe_key: str
    issued_on: date | None = None


class MatchReceipts(Message):
    """Match one imported statement's new lines, or (no key) everything still unapplied."""

    statement_key: str | None = None
    requested_by: str = "o2c"


class ReceiptsMatched(Message):
    receipts: int
    applied: int
    unapplied: int
    flagged: int
    applications: list[int]


class DeliverApplications(Message):
    """Tell the orders; no ids: every application still pending."""

    application_ids: list[int] | None = None


class ApplicationsDelivered(Message):
    delivered: int
    refused: int


class CashApplied(Message):
    """What a ``CashApplication`` run did."""

    receipts: int
    applied: int
    unapplied: int
    flagged: int
    delivered: int
    refused: int
