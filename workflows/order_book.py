"""The order's state and the rules that say what may happen next. Pure: no Temporal, no I/O, unit-tested alone.

The workflow owns one ``OrderBook``; activity results (invoices, allocations) are folded into it, and
every refusal a finance decision can meet is decided here, so a signal and an update refuse alike.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from models.activity_io import BalanceChanged, CreditAssessment, InvoiceIssued
from models.contract import (
    FINAL_STATUSES,
    AddCharge,
    CancelOrder,
    CreditDecisionView,
    CreditFiguresView,
    DisputeView,
    InvoiceView,
    OpenDispute,
    OrderStatus,
    PlaceOrder,
    PromiseToPay,
    ResolveDispute,
    ShipmentDispatched,
    Stage,
    StatusView,
    TimelineEntry,
    Totals,
    WriteOff,
)
from models.money import MoneyError, from_minor, round_money, to_minor

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

    # ------------------------------------------------------------------------- refusals

    def refuse_amount(self, amount: Decimal | None, what: str = "the amount") -> str | None:
        """An amount that is no money in the order's currency (more decimals than it has, beyond what we
        carry) is refused here, before any rule converts it: in the run loop it would fail every task."""
        if amount is None:
            return None
        try:
            self.minor(amount)
        except MoneyError as exc:
            return f"{what}: {exc}"
        return None

    def refuse_credit_decision(self, today: date) -> str | None:
        if self.status is not OrderStatus.CREDIT_HOLD:
            return f"the order is not on credit hold (it is {self.current_status(today).value})"
        return None

    def refuse_dispute(self, command: OpenDispute) -> str | None:
        if refusal := self.refuse_amount(command.amount, "the disputed amount"):
            return refusal
        if self.is_closed:
            return f"the order is already {self.status.value}"
        if command.dispute_id in self.disputes:
            return f"dispute {command.dispute_id} already exists"
        if self.amount_due_minor == 0:
            return "nothing is due on this order"
        if self.minor(command.amount) > self.amount_due_minor - self.disputed_minor:
            return "the disputed amount is larger than what is due and not yet disputed"
        return None

    def refuse_resolution(self, command: ResolveDispute) -> str | None:
        if refusal := self.refuse_amount(command.amount):
            return refusal
        dispute = self.disputes.get(command.dispute_id)
        if dispute is None or dispute.status != "open":
            return f"there is no open dispute {command.dispute_id}"
        if command.amount is not None and self.minor(command.amount) > dispute.amount_minor:
            return "the amount is larger than the disputed amount"
        return None

    def refuse_promise(self, command: PromiseToPay, today: date) -> str | None:
        if refusal := self.refuse_amount(command.amount, "the promised amount"):
            return refusal
        if self.is_closed or self.amount_due_minor == 0:
            return "nothing is due on this order"
        if command.promised_date < today:
            return "the promised date is in the past"
        if command.promised_date > today + PROMISE_HORIZON:
            return "a promise more than 180 days ahead is not a promise to pay"
        if self.minor(command.amount) > self.amount_due_minor:
            return "the promised amount is larger than what is due"
        return None

    def refuse_cancel(self) -> str | None:
        if self.is_closed:
            return f"the order is already {self.status.value}"
        if self.cancelled is not None:
            return "the order is already being cancelled"
        if self.anything_shipped or self.invoices:
            return "goods have shipped; resolve with a credit note or a write-off instead"
        return None

    def refuse_charge(self, command: AddCharge) -> str | None:
        if refusal := self.refuse_amount(command.amount, "the charge"):
            return refusal
        if self.is_closed or self.cancelled is not None:
            return f"the order is already {self.status.value if self.is_closed else 'being cancelled'}"
        if self.status in (OrderStatus.PENDING, OrderStatus.CREDIT_HOLD):
            return "the order is not approved yet"
        if command.charge_id in self.charge_ids:
            return f"charge {command.charge_id} already exists"
        if not self.invoices:
            return "nothing is invoiced yet: a charge goes on an invoice of its own after the first one"
        if self.settled:
            return "the order is settled"
        return None

    def refuse_write_off(self, command: WriteOff, write_off_level: int) -> str | None:
        """Finance writes off alone once dunning reached the policy's write-off level (the final notice by
        default); before that, a finance manager other than the requester approves."""
        if refusal := self.refuse_amount(command.amount):
            return refusal
        if self.amount_due_minor == 0:
            return "nothing is due on this order"
        if command.amount is not None and self.minor(command.amount) > self.amount_due_minor:
            return "the amount is larger than what is due"
        if self.dunning_level < write_off_level:
            if command.approved_by is None:
                return (
                    f"dunning is at level {self.dunning_level}; a write-off before level {write_off_level} "
                    "needs a finance manager's approval (approved_by)"
                )
            if command.approved_by.casefold() == command.by.casefold():
                return "a write-off is approved by someone other than the person who asks for it"
        return None

    # --------------------------------------------------------------------------------- views

    def note(self, at: datetime, event: str, detail: str, refused: bool = False) -> None:
        self.timeline.append(TimelineEntry(at=at, event=event, detail=detail, refused=refused))
        del self.timeline[:-TIMELINE_LIMIT]

    def totals(self) -> Totals:
        def money(minor: int) -> Decimal:
            return from_minor(minor, self.currency)

        shipped_net = sum((line.unit_price * self.shipped.get(line.sku, 0) for line in self.order.lines), Decimal(0))
        return Totals(
            ordered=money(self.order_total_minor),
            shipped=round_money(shipped_net, self.currency),
            invoiced=money(self.invoiced_minor),
            paid=money(self.paid_minor),
            credited=money(self.credited_minor),
            written_off=money(self.written_off_minor),
            due=money(self.amount_due_minor),
        )

    def view(self, today: date, waiting_for: str) -> StatusView:
        return StatusView(
            order_id=self.order.order_id,
            customer_id=self.order.customer.id,
            currency=self.currency,
            stage=self.stage,
            status=self.current_status(today),
            waiting_for=waiting_for,
            totals=self.totals(),
            due_date=self.due_date,
            dunning_level=self.dunning_level,
            credit_decision=self.credit_decision,
            credit_decisions=list(self.credit_decisions),
            holds=["credit"] if self.status is OrderStatus.CREDIT_HOLD else [],
            disputes=[
                DisputeView(
                    dispute_id=d.dispute_id,
                    amount=from_minor(d.amount_minor, self.currency),
                    reason=d.reason,
                    opened_by=d.opened_by,
                    status=d.status,
                )
                for d in self.disputes.values()
            ],
            invoices=[
                InvoiceView(
                    number=i.number,
                    total=from_minor(i.issued.total_minor, self.currency),
                    open=from_minor(i.open_minor, self.currency),
                    issued_on=i.issued.issued_on,
                    due_date=i.issued.due_date,
                    payment_reference=i.issued.payment_reference,
                )
                for i in self.invoices.values()
            ],
            shipped=dict(self.shipped),
            timeline=list(self.timeline),
        )
