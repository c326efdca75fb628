"""The public contract: every payload storefronts, warehouses and finance send, and what they get back.

These are plain JSON on the wire (pydantic data converter): money is a decimal string, dates are ISO 8601.
Unknown fields are refused so a misspelt field fails loudly instead of being ignored. The JSON Schemas in
``schemas/`` are generated from these classes (``o2c schemas --write``); a test keeps them in step.
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from models.money import CURRENCIES, MAX_MINOR_UNITS, MoneyError, check_precision, exponent

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", strip_whitespace=True)]
Person = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)]
Reason = Annotated[str, StringConstraints(min_length=3, max_length=2000, strip_whitespace=True)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(gt=0, max_digits=22, allow_inf_nan=False)]


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_money(amount: Decimal, currency: str, what: str) -> None:
    try:
        check_precision(amount, currency, what)
    except MoneyError as exc:
        raise ValueError(str(exc)) from exc
    if amount.scaleb(exponent(currency)) > MAX_MINOR_UNITS:
        raise ValueError(f"{what} {amount} {currency} is beyond any plausible order")


def _check_currency(currency: str) -> None:
    if currency not in CURRENCIES:
        raise ValueError(f"unknown currency {currency!r}: use an ISO 4217 code such as USD, EUR or JPY")


# ---------------------------------------------------------------------------------------------- orders


class Customer(Contract):
    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    email: EmailStr


class OrderLine(Contract):
    sku: Identifier
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=22, allow_inf_nan=False)]
    tax_rate_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)
    discount_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)


class PaymentTerms(Contract):
    """Net N days from the invoice date, optionally to the end of that month, with an optional early
    payment discount ("2/10 net 30" is net_days=30, discount_percent=2, discount_days=10)."""

    net_days: Annotated[int, Field(ge=0, le=365)] = 30
    end_of_month: bool = False
    discount_percent: Annotated[Decimal, Field(ge=0, lt=100, decimal_places=4)] = Decimal(0)
    discount_days: Annotated[int, Field(ge=0, le=365)] = 0

    @model_validator(mode="after")
    def _discount_window(self) -> Self:
        if (self.discount_percent > 0) != (self.discount_days > 0):
            raise ValueError("discount_percent and discount_days go together")
        if self.discount_days > self.net_days:
            raise ValueError("the discount window cannot end after the due date")
        return self


class PaymentMethod(StrEnum):
    CARD_ON_FILE = "card_on_file"
    DEBIT_ON_FILE = "debit_on_file"  # a Stripe sepa_debit / us_bank_account PaymentMethod with its mandate
    BANK_TRANSFER = "bank_transfer"


ON_FILE = (PaymentMethod.CARD_ON_FILE, PaymentMethod.DEBIT_ON_FILE)  # charged through Stripe at invoicing


class InvoicingPolicy(StrEnum):
    PER_SHIPMENT = "per_shipment"
    ON_COMPLETION = "on_completion"


class PlaceOrder(Contract):
    """Workflow input of ``OrderToCash`` (id ``order-{order_id}``, task queue ``o2c``)."""

    order_id: Identifier
    customer: Customer
    currency: CurrencyCode
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=500)]
    payment_terms: PaymentTerms | None = Field(
        default=None, description="omitted: the customer's default terms from the customer master (else net 30)"
    )
    payment_method: PaymentMethod = PaymentMethod.BANK_TRANSFER
    stripe_payment_method: Identifier | None = Field(
        default=None, description="Stripe PaymentMethod id for card_on_file or debit_on_file, e.g. pm_card_visa"
    )
    invoicing: InvoicingPolicy = InvoicingPolicy.ON_COMPLETION

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_currency(self.currency)
        skus = [line.sku for line in self.lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear on one line only")
        for line in self.lines:
            _check_money(line.unit_price, self.currency, f"unit price of {line.sku}")
            _check_money(line.unit_price * line.quantity, self.currency, f"line total of {line.sku}")
        if self.payment_method in ON_FILE and not self.stripe_payment_method:
            raise ValueError(f"{self.payment_method.value} needs stripe_payment_method")
        return self


# --------------------------------------------------------------------------------------- warehouse


class ShippedLine(Contract):
    sku: Identifier
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]


class ShipmentDispatched(Contract):
    shipment_id: Identifier
    lines: Annotated[list[ShippedLine], Field(min_length=1, max_length=500)]
    carrier: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    tracking_number: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    dispatched_at: datetime | None = None


class ShipmentDelivered(Contract):
    shipment_id: Identifier
    delivered_at: datetime


# --------------------------------------------------------------------------------------------- cash


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
        _check_currency(self.currency)
        _check_money(self.amount, self.currency, "payment amount")
        return self


# ------------------------------------------------------------------------------------------ finance


class FinanceDecision(Contract):
    """Common to finance's decisions: who decided, and an optional id that makes a resend harmless."""

    by: Person
    request_id: Identifier | None = None


class ApproveCredit(FinanceDecision):
    note: Text = ""


class RejectCredit(FinanceDecision):
    reason: Reason


class OpenDispute(FinanceDecision):
    dispute_id: Identifier
    amount: Amount
    reason: Reason


class DisputeOutcome(StrEnum):
    CREDIT_NOTE = "credit_note"
    REJECTED = "rejected"
    WRITE_OFF = "write_off"


class ResolveDispute(FinanceDecision):
    dispute_id: Identifier
    outcome: DisputeOutcome
    amount: Amount | None = Field(default=None, description="credited or written off; defaults to the disputed amount")
    note: Text = ""


class PromiseToPay(FinanceDecision):
    promised_date: date
    amount: Amount
    note: Text = ""


class CancelOrder(FinanceDecision):
    reason: Reason


class WriteOff(FinanceDecision):
    reason: Reason
    amount: Amount | None = Field(default=None, description="defaults to everything still due")
    approved_by: Person | None = Field(
        default=None,
        description="a finance manager approving a write-off before dunning reached the policy's write-off "
        "level (by default the final notice); someone other than `by`",
    )


class RiskClass(StrEnum):
    """Finance's own judgement of a customer; which classes need review is a credit rule."""

    LOW = "low"
    STANDARD = "standard"
    HIGH = "high"
    REVIEW = "review"


class ChangeCustomer(Contract):
    """Input of ``CustomerMasterChange``: a change finance makes to one customer's master data.

    Fields left out stay as they are. A customer not yet in the master is created, which needs ``name``,
    ``email`` and ``currency``. ``change_id`` makes a resend harmless (the client fills one in).
    """

    customer_id: Identifier
    by: Person
    reason: Reason
    change_id: Identifier | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    email: EmailStr | None = None
    currency: CurrencyCode | None = Field(default=None, description="currency of the credit limit")
    credit_limit: Annotated[Decimal, Field(ge=0, max_digits=22, allow_inf_nan=False)] | None = None
    risk_class: RiskClass | None = None
    payment_terms: PaymentTerms | None = Field(default=None, description="default terms for new orders")
    billing_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    billing_email: EmailStr | None = None
    billing_address: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    vat_id: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9 .-]{1,29}$")] | None = None
    blocked: bool | None = None
    dunning_segment: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")] | None = Field(
        default=None, description="which dunning policy applies to the customer's new orders"
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        changes = self.model_dump(exclude={"customer_id", "by", "reason", "change_id"}, exclude_none=True)
        if not changes:
            raise ValueError("nothing to change: give at least one field")
        if self.currency is not None:
            _check_currency(self.currency)
            if self.credit_limit is not None:
                _check_money(self.credit_limit, self.currency, "credit limit")
        return self


class FieldChange(Contract):
    field: str
    old: str | None
    new: str | None


class CustomerChanged(Contract):
    """Result of ``CustomerMasterChange``."""

    customer_id: str
    change_id: str
    created: bool
    changes: list[FieldChange]
    billing_changed: bool
    accounts_receivable_notified: bool


class AddCharge(FinanceDecision):
    """A charge that came up after invoicing (a late fee, a surcharge): billed on an invoice of its own."""

    charge_id: Identifier
    description: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    amount: Amount = Field(description="net amount, in the order's currency")
    tax_rate_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=4)] = Decimal(0)
    reason: Reason


class ResendDocument(Contract):
    """Input of ``ResendDocument``: send an issued invoice or credit note again, on purpose."""

    number: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}-\d{4}-\d{6}$")]
    by: Person
    to: EmailStr | None = Field(default=None, description="defaults to the customer's billing email")
    request_id: Identifier | None = Field(default=None, description="the same id again sends nothing more")


class SendStatement(Contract):
    """Input of ``SendStatement``: every open invoice of a customer with its age, by email."""

    customer_id: Identifier
    by: Person
    to: EmailStr | None = Field(default=None, description="defaults to the customer's billing email")
    request_id: Identifier | None = None


DocumentNumber = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,6}-\d{4}-\d{6}$")]


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


class PaymentFailed(Contract):
    """Stripe could not take a payment the customer attempted (a pay-link card that was declined, say).
    Recorded on the order's timeline; the invoice stays due and dunning goes on."""

    payment_id: Identifier
    amount: Amount
    currency: CurrencyCode
    code: Text = ""
    message: Text = ""


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
        _check_currency(self.currency)
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


class DecisionResult(Contract):
    """What an update answers at once."""

    accepted: bool
    status: str
    message: str


# ------------------------------------------------------------------------------------------ results


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
