"""What every activity shares: the message base type, the activity names and the business error types."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


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
