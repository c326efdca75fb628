"""The order's state: what was ordered, shipped, invoiced, paid and decided. Pure: no Temporal, no I/O.

The workflow owns one ``OrderBook``; activity results (invoices, allocations) are folded into it. What may
happen next is decided by ``rules`` (refusals) and ``schedule`` (timers); ``views`` answers the query.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from models.activity_io import BalanceChanged, CreditAssessment, InvoiceIssued
from models.contract import (
    FINAL_STATUSES,
    CancelOrder,
    CreditDecisionView,
    CreditFiguresView,
    OrderStatus,
    PlaceOrder,
    PromiseToPay,
    ShipmentDispatched,
    Stage,
    TimelineEntry,
)
from models.money import from_minor, to_minor

TIMELINE_LIMIT = 200
PROMISE_HORIZON = timedelta(days=180)


@dataclass
class InvoiceState:
    issued: InvoiceIssued
    open_minor: int

    @property
    def number(self) -> str:
        return self.issued.number


@dataclass
class DisputeState:
    dispute_id: str
    amount_minor: int
    reason: str
    opened_by: str
    status: str = "open"


@dataclass
class OrderBook:
    order: PlaceOrder
    status: OrderStatus = OrderStatus.PENDING
    stage: Stage = Stage.RECEIVED
    order_total_minor: int = 0
    credit_decision: str | None = None
    credit_decisions: list[CreditDecisionView] = field(default_factory=list)
    last_credit_assessment: CreditAssessment | None = None
    fulfillment_closed: str | None = None
    shipped: dict[str, int] = field(default_factory=dict)
    shipments: dict[str, ShipmentDispatched] = field(default_factory=dict)
    uninvoiced_shipments: list[str] = field(default_factory=list)
    invoices: dict[str, InvoiceState] = field(default_factory=dict)
    payments: dict[str, tuple[Decimal, str]] = field(default_factory=dict)  # id -> amount and currency
    request_ids: set[str] = field(default_factory=set)
    charge_ids: set[str] = field(default_factory=set)
    disputes: dict[str, DisputeState] = field(default_factory=dict)
    promise: PromiseToPay | None = None
    paid_minor: int = 0
    discount_minor: int = 0
    credited_minor: int = 0
    written_off_minor: int = 0
    unapplied_minor: int = 0
    dunning_level: int = 0
    cancelled: CancelOrder | None = None
    timeline: list[TimelineEntry] = field(default_factory=list)

    # ------------------------------------------------------------------------------------ facts

    @property
    def currency(self) -> str:
        return self.order.currency

    @property
    def ordered(self) -> dict[str, int]:
        return {line.sku: line.quantity for line in self.order.lines}

    @property
    def fully_shipped(self) -> bool:
        """Everything ordered has shipped, or what has not is cancelled (credit withdrawn)."""
        if self.fulfillment_closed is not None:
            return True
        return all(self.shipped.get(sku, 0) >= qty for sku, qty in self.ordered.items())

    @property
    def anything_shipped(self) -> bool:
        return any(self.shipped.values())

    @property
    def amount_due_minor(self) -> int:
        return sum(invoice.open_minor for invoice in self.invoices.values())

    @property
    def invoiced_minor(self) -> int:
        return sum(invoice.issued.total_minor for invoice in self.invoices.values())

    @property
    def disputed_minor(self) -> int:
        return sum(d.amount_minor for d in self.disputes.values() if d.status == "open")

    @property
    def open_disputes(self) -> list[DisputeState]:
        return [d for d in self.disputes.values() if d.status == "open"]

    def oldest_open_invoice(self) -> InvoiceState | None:
        candidates = [i for i in self.invoices.values() if i.open_minor > 0]
        return min(candidates, key=lambda i: (i.issued.due_date, i.number), default=None)

    @property
    def due_date(self) -> date | None:
        oldest = self.oldest_open_invoice()
        return oldest.issued.due_date if oldest else None

    @property
    def is_closed(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def settled(self) -> bool:
        """Everything ordered has shipped, been invoiced and been paid, credited or written off."""
        return (
            self.fully_shipped and not self.uninvoiced_shipments and bool(self.invoices) and self.amount_due_minor == 0
        )

    def final_status(self) -> OrderStatus:
        if self.cancelled is not None:
            return OrderStatus.CANCELLED
        if self.written_off_minor:
            return OrderStatus.WRITTEN_OFF
        if self.credited_minor and self.credited_minor >= self.invoiced_minor:
            return OrderStatus.CREDITED
        return OrderStatus.PAID

    def current_status(self, today: date) -> OrderStatus:
        """The status operators see, derived from the facts (final statuses are set explicitly)."""
        if self.is_closed or self.status in (OrderStatus.CREDIT_HOLD, OrderStatus.PENDING):
            return self.status
        if self.open_disputes:
            return OrderStatus.DISPUTED
        due = self.due_date
        if due is not None and due < today:
            return OrderStatus.OVERDUE
        if self.amount_due_minor > 0:
            return OrderStatus.INVOICED
        if self.anything_shipped and not self.fully_shipped:
            return OrderStatus.PARTIALLY_SHIPPED
        return OrderStatus.AWAITING_SHIPMENT

    # ------------------------------------------------------------------------------- shipments

    def shipment_exception(self, shipment: ShipmentDispatched) -> str | None:
        """Why a shipment cannot be invoiced, or None. Exceptions are recorded, never invoiced."""
        if self.is_closed:
            return f"the order is already {self.status.value}"
        if self.fulfillment_closed is not None:
            return f"what had not shipped was cancelled when credit was withdrawn ({self.fulfillment_closed})"
        ordered = self.ordered
        for line in shipment.lines:
            if line.sku not in ordered:
                return f"sku {line.sku} is not on the order"
            remaining = ordered[line.sku] - self.shipped.get(line.sku, 0)
            if line.quantity > remaining:
                return f"sku {line.sku}: {line.quantity} shipped but only {remaining} left to ship"
        if len({line.sku for line in shipment.lines}) != len(shipment.lines):
            return "a sku appears twice in the shipment"
        return None

    def repeats_differently(self, shipment: ShipmentDispatched) -> bool:
        """A shipment id seen before with other lines, carrier or tracking number: a broken integration."""
        seen = self.shipments[shipment.shipment_id]
        return (sorted(seen.lines, key=lambda line: line.sku), seen.carrier, seen.tracking_number) != (
            sorted(shipment.lines, key=lambda line: line.sku),
            shipment.carrier,
            shipment.tracking_number,
        )

    def accept_shipment(self, shipment: ShipmentDispatched) -> None:
        for line in shipment.lines:
            self.shipped[line.sku] = self.shipped.get(line.sku, 0) + line.quantity
        self.uninvoiced_shipments.append(shipment.shipment_id)

    # ------------------------------------------------------------------------------- money

    def add_invoice(self, issued: InvoiceIssued, shipment_ids: list[str]) -> None:
        self.invoices[issued.number] = InvoiceState(issued=issued, open_minor=issued.total_minor)
        self.uninvoiced_shipments = [s for s in self.uninvoiced_shipments if s not in shipment_ids]

    def apply(self, change: BalanceChanged, kind: str) -> None:
        for allocation in change.allocations:
            invoice = self.invoices[allocation.invoice_number]
            invoice.open_minor -= allocation.amount_minor + allocation.discount_minor
            if kind == "payment":
                self.paid_minor += allocation.amount_minor
                self.discount_minor += allocation.discount_minor
            elif kind == "credit_note":
                self.credited_minor += allocation.amount_minor
            else:
                self.written_off_minor += allocation.amount_minor
        if kind == "payment":
            self.unapplied_minor += change.unapplied_minor

    def minor(self, amount: Decimal) -> int:
        return to_minor(amount, self.currency)

    def decide_credit(
        self, at: datetime, decision: str, by: str, reason: str, stage: str, assessment: CreditAssessment | None
    ) -> None:
        """Keeps a credit decision for the status query, with the figures it was taken on."""
        if by == "credit-engine" and assessment is not None:
            self.last_credit_assessment = assessment
        figures = assessment.figures if assessment is not None else None
        money = lambda minor: from_minor(minor, self.currency)  # noqa: E731
        self.credit_decisions.append(
            CreditDecisionView(
                at=at,
                decision=decision,
                by=by,
                reason=reason,
                stage="before_invoicing" if stage == "before_invoicing" else "order",
                figures=None
                if figures is None or assessment is None
                else CreditFiguresView(
                    exposure=money(figures.exposure_minor),
                    limit=None if assessment.limit_minor is None else money(assessment.limit_minor),
                    open_receivables=money(figures.open_receivables_minor),
                    approved_not_invoiced=money(figures.approved_not_invoiced_minor),
                    this_order=money(figures.order_minor),
                    overdue_invoices=figures.overdue_invoices,
                    risk_class=figures.risk_class,
                    risk_score=figures.risk.score,
                    risk_source=figures.risk.source,
                ),
            )
        )
        del self.credit_decisions[:-50]

    def note(self, at: datetime, event: str, detail: str, refused: bool = False) -> None:
        self.timeline.append(TimelineEntry(at=at, event=event, detail=detail, refused=refused))
        del self.timeline[:-TIMELINE_LIMIT]
