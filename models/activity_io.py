"""Inputs and outputs of activities: one type in, one type out, amounts in integer minor units."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.contract import (
    ChangeCustomer,
    OrderStatus,
    PaymentReceived,
    PlaceOrder,
    ShipmentDispatched,
)
from models.policy import LateFee, OrderPolicy


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActivityName(StrEnum):
    RECORD_ORDER = "record_order"
    CHECK_CREDIT = "check_credit"
    RECHECK_CREDIT = "recheck_credit"
    CHANGE_CUSTOMER = "change_customer"
    RECORD_EVENT = "record_order_event"
    RECORD_SHIPMENT = "record_shipment"
    RECORD_DELIVERY = "record_delivery"
    ISSUE_INVOICE = "issue_invoice"
    ISSUE_CHARGE = "issue_charge"
    RAISE_LATE_FEE = "raise_late_fee"
    SEND_EMAIL = "send_email"
    CHARGE_CARD = "charge_card"
    APPLY_PAYMENT = "apply_payment"
    QUEUE_PAYMENT = "queue_payment"
    ADJUST_BALANCE = "adjust_balance"
    DUNNING_STEP = "run_dunning_step"
    CLOSE_ORDER = "close_order"
    CREDIT_PAID_INVOICE = "credit_paid_invoice"
    REFUND_CARD = "refund_card"
    OPEN_CHARGEBACK = "open_chargeback"
    CLOSE_CHARGEBACK = "close_chargeback"
    RECORD_STRIPE_REFUND = "record_stripe_refund"
    MATCH_RECEIPTS = "match_receipts"
    DELIVER_APPLICATIONS = "deliver_applications"


class ErrorType(StrEnum):
    """``ApplicationError.type`` of the business failures activities raise (all non-retryable)."""

    ORDER_CONFLICT = "OrderConflict"
    UNKNOWN_ORDER = "UnknownOrder"
    NOTHING_TO_INVOICE = "NothingToInvoice"
    INVALID_DECISION = "InvalidDecision"
    INVALID_CHANGE = "InvalidChange"
    UNKNOWN_DOCUMENT = "UnknownDocument"


class RecordOrder(Message):
    order: PlaceOrder
    placed_at: datetime
    # The credit check in the same transaction, its answer in ``OrderRecorded.assessment`` (one local
    # activity where there were two; orders from before the change always send False).
    check_credit: bool = False


class OrderRecorded(Message):
    order_total_minor: int
    policy: OrderPolicy
    assessment: "CreditAssessment | None" = None


class CreditCheck(Message):
    order_id: str


class RiskScore(Message):
    """A customer's risk from 0 (nothing seen) to 100, with the facts it came from."""

    score: int | None
    source: str
    invoices_considered: int = 0
    late_payments: int = 0
    avg_days_beyond_terms: str = "0"
    disputes: int = 0


class CreditFigures(Message):
    """What a credit decision was taken on, in the order's currency (minor units)."""

    currency: str
    open_receivables_minor: int
    approved_not_invoiced_minor: int
    order_minor: int
    overdue_invoices: int
    risk_class: str
    risk: RiskScore
    basis: str = ""

    @property
    def exposure_minor(self) -> int:
        return self.open_receivables_minor + self.approved_not_invoiced_minor + self.order_minor


class CreditAssessment(Message):
    decision: Literal["approve", "hold", "reject"]
    reason: str
    exposure_minor: int
    limit_minor: int | None
    figures: CreditFigures | None = None
    unchanged: bool = False


class CreditRecheck(Message):
    order_id: str
    round: int


class ChangeCustomerRequest(Message):
    change: ChangeCustomer
    change_id: str


class CreditRecord(Message):
    """A credit decision to keep on record (the credit engine's are written by the check itself)."""

    decision: str
    by: str
    reason: str
    stage: Literal["order", "before_invoicing"] = "order"
    limit_minor: int | None = None
    figures: CreditFigures | None = None


class DisputeRecord(Message):
    dispute_id: str
    amount_minor: int
    reason: str
    status: str
    by: str


class OrderEvent(Message):
    """An audited fact about an order; ``status`` also updates the order's row, ``dispute`` its dispute."""

    order_id: str
    event: str
    detail: str
    actor: str
    dedupe_key: str
    status: OrderStatus | None = None
    dispute: DisputeRecord | None = None
    credit: CreditRecord | None = None
    release_credit: bool = False


class RecordShipment(Message):
    order_id: str
    shipment: ShipmentDispatched
    exception: str | None


class RecordDelivery(Message):
    order_id: str
    shipment_id: str
    delivered_at: datetime


class IssueInvoice(Message):
    order_id: str
    invoice_key: str
    shipment_ids: list[str]
    issued_on: date
    due_now: bool = False
    # Shipments not written yet, written first in the invoice's own transaction (one local activity where
    # there were two; orders from before the change always send none).
    record_shipments: list[RecordShipment] = []


class InvoiceIssued(Message):
    number: str
    total_minor: int
    issued_on: date
    due_date: date
    payment_reference: str
    discount_minor: int
    discount_until: date | None
    kind: str = "goods"


class IssueCharge(Message):
    """A charge that came up after invoicing (a late fee, a surcharge): always an invoice of its own."""

    order_id: str
    charge_key: str
    description: str
    amount_minor: int
    tax_rate_percent: str
    reason: str
    actor: str
    issued_on: date


class EmailKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"
    INVOICE_COPY = "invoice_copy"
    CREDIT_HOLD = "credit_hold"
    CREDIT_HOLD_REMINDER = "credit_hold_reminder"
    ORDER_REJECTED = "order_rejected"
    ORDER_CANCELLED = "order_cancelled"
    SHIPMENT_EXCEPTION = "shipment_exception"
    FULFILLMENT_OVERDUE = "fulfillment_overdue"
    CARD_DECLINED = "card_declined"
    ORDER_REST_CANCELLED = "order_rest_cancelled"
    CUSTOMER_BILLING_CHANGED = "customer_billing_changed"
    STATEMENT = "statement"
    REFUND_ISSUED = "refund_issued"
    REFUND_FAILED = "refund_failed"
    EXTERNAL_REFUND = "external_refund"
    CHARGEBACK_OPENED = "chargeback_opened"
    CHARGEBACK_EVIDENCE_DUE = "chargeback_evidence_due"
    CHARGEBACK_CLOSED = "chargeback_closed"


class SendEmail(Message):
    """``key`` makes the email exactly-once: the same key is never sent twice."""

    key: str
    order_id: str | None
    kind: EmailKind
    customer_id: str | None = None
    document_number: str | None = None
    to: str | None = None
    invoice_number: str | None = None
    note: str = ""


class EmailSent(Message):
    message_id: str
    already_sent: bool


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


class DunningStepRun(Message):
    order_id: str
    invoice_number: str
    step_name: str
    level: int
    template: str
    escalate: bool
    amount_due_minor: int
    due_date: date
    remind: bool = True
    block_credit: bool = False


class RaiseLateFee(Message):
    order_id: str
    invoice_number: str
    step_name: str
    late_fee: LateFee
    on: date


class LateFeeRaised(Message):
    invoice: "InvoiceIssued | None"
    reason: str


class CloseOrder(Message):
    order_id: str
    status: OrderStatus
    closed_at: datetime


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


# ------------------------------------------------------------------------------------------ cash application


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
