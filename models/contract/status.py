"""What an order shows: its stage and status, the ``status`` query's view and the workflow's result."""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import Field

from models.contract.base import (
    Contract,
)


class Stage(StrEnum):
    RECEIVED = "RECEIVED"
    CREDIT_CHECK = "CREDIT_CHECK"
    FULFILLMENT = "FULFILLMENT"
    COLLECTION = "COLLECTION"
    CLOSED = "CLOSED"


class OrderStatus(StrEnum):
    """``OrderStatus`` search attribute values."""

    PENDING = "PENDING"
    CREDIT_HOLD = "CREDIT_HOLD"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    INVOICED = "INVOICED"
    OVERDUE = "OVERDUE"
    DISPUTED = "DISPUTED"
    PAID = "PAID"
    CREDITED = "CREDITED"
    WRITTEN_OFF = "WRITTEN_OFF"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


FINAL_STATUSES = frozenset(
    {
        OrderStatus.PAID,
        OrderStatus.CREDITED,
        OrderStatus.WRITTEN_OFF,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
    }
)


class Totals(Contract):
    ordered: Decimal
    shipped: Decimal
    invoiced: Decimal
    paid: Decimal
    credited: Decimal
    written_off: Decimal
    due: Decimal


class InvoiceView(Contract):
    number: str
    total: Decimal
    open: Decimal
    issued_on: date
    due_date: date
    payment_reference: str


class DisputeView(Contract):
    dispute_id: str
    amount: Decimal
    reason: str
    opened_by: str
    status: Literal["open", "credit_note", "rejected", "write_off"]


class TimelineEntry(Contract):
    at: datetime
    event: str
    detail: str
    refused: bool = False


class CreditFiguresView(Contract):
    """The figures a credit decision was taken on, in the order's currency."""

    exposure: Decimal = Field(description="open receivables + approved orders not yet invoiced + this order")
    limit: Decimal | None
    open_receivables: Decimal
    approved_not_invoiced: Decimal
    this_order: Decimal
    overdue_invoices: int
    risk_class: str
    risk_score: int | None = Field(description="0 (no risk seen) to 100; None for a customer without history")
    risk_source: str


class CreditDecisionView(Contract):
    at: datetime
    decision: str = Field(description="approve, hold or reject (credit engine); approved, rejected, expired (finance)")
    by: str
    reason: str
    stage: Literal["order", "before_invoicing"] = "order"
    figures: CreditFiguresView | None = None


class StatusView(Contract):
    """Answer of the ``status`` query."""

    order_id: str
    customer_id: str
    currency: str
    stage: Stage
    status: OrderStatus
    waiting_for: str
    totals: Totals
    due_date: date | None
    dunning_level: int
    credit_decision: str | None
    credit_decisions: list[CreditDecisionView] = []
    holds: list[str]
    disputes: list[DisputeView]
    invoices: list[InvoiceView]
    shipped: dict[str, int]
    timeline: list[TimelineEntry]


class OrderOutcome(Contract):
    """Workflow result."""

    order_id: str
    status: OrderStatus
    totals: Totals
    closed_at: datetime
