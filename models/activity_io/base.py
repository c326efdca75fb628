"""What every activity shares: the message base type and the business error types."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorType(StrEnum):
    """``ApplicationError.type`` of the business failures activities raise (all non-retryable)."""

    ORDER_CONFLICT = "OrderConflict"
    UNKNOWN_ORDER = "UnknownOrder"
    NOTHING_TO_INVOICE = "NothingToInvoice"
    INVALID_DECISION = "InvalidDecision"
    INVALID_CHANGE = "InvalidChange"
    UNKNOWN_DOCUMENT = "UnknownDocument"
