"""Emails to customers: which kinds there are, and sending one exactly once."""

from enum import StrEnum

from models.activity_io.base import Message


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
