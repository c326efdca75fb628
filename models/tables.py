"""The book of record. Only activities import this module (workflow code never touches the database).

Money columns are integer minor units (BIGINT). Unique constraints carry the exactly-once guarantees:
a retried activity runs into them instead of writing twice.
"""

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, DateTime, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utc_column() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False)


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    email: str = Field(max_length=320)
    currency: str = Field(max_length=3)
    credit_limit_minor: int | None = Field(default=None, sa_type=BigInteger)
    risk_class: str = Field(default="standard", max_length=20)
    blocked: bool = False
    stripe_customer_id: str | None = Field(default=None, max_length=64)
    billing_name: str | None = Field(default=None, max_length=200)
    billing_email: str | None = Field(default=None, max_length=320)
    billing_address: str | None = Field(default=None, max_length=500)
    vat_id: str | None = Field(default=None, max_length=30)
    payment_terms: str | None = Field(default=None, max_length=400, description="PaymentTerms as JSON")
    dunning_segment: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))

    @property
    def invoice_email(self) -> str:
        return self.billing_email or self.email


class CustomerChange(SQLModel, table=True):
    """The customer master's audit trail: one row per field changed, never updated."""

    __tablename__ = "customer_changes"
    __table_args__ = (UniqueConstraint("change_id", "field"),)
    id: int | None = Field(default=None, primary_key=True)
    change_id: str = Field(max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    field: str = Field(max_length=40)
    old_value: str | None = Field(default=None, max_length=500)
    new_value: str | None = Field(default=None, max_length=500)
    actor: str = Field(max_length=120)
    reason: str = Field(max_length=2000)
    created_at: datetime = Field(sa_column=_utc_column())


class CreditDecision(SQLModel, table=True):
    """Every credit decision, by the engine or by finance, with the figures it was taken on."""

    __tablename__ = "credit_decisions"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    stage: str = Field(max_length=20)
    decision: str = Field(max_length=20)
    decided_by: str = Field(max_length=120)
    reason: str = Field(max_length=2000)
    currency: str = Field(max_length=3)
    exposure_minor: int | None = Field(default=None, sa_type=BigInteger)
    limit_minor: int | None = Field(default=None, sa_type=BigInteger)
    open_receivables_minor: int | None = Field(default=None, sa_type=BigInteger)
    approved_not_invoiced_minor: int | None = Field(default=None, sa_type=BigInteger)
    order_minor: int | None = Field(default=None, sa_type=BigInteger)
    overdue_invoices: int | None = None
    risk_class: str | None = Field(default=None, max_length=20)
    risk_score: int | None = None
    risk_source: str | None = Field(default=None, max_length=60)
    assessment: str | None = Field(default=None, sa_type=Text, description="the engine's answer as JSON")
    created_at: datetime = Field(sa_column=_utc_column())


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    id: str = Field(primary_key=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    currency: str = Field(max_length=3)
    total_minor: int = Field(sa_type=BigInteger)
    credit_reserved_minor: int = Field(default=0, sa_type=BigInteger)
    credit_basis: str | None = Field(default=None, max_length=64, description="what the last approval saw")
    status: str = Field(max_length=30, index=True)
    payment_method: str = Field(max_length=30)
    stripe_payment_method: str | None = Field(default=None, max_length=64)
    net_days: int
    end_of_month: bool
    discount_percent: str = Field(max_length=12)
    discount_days: int
    invoicing: str = Field(max_length=20)
    fingerprint: str = Field(max_length=64)
    placed_at: datetime = Field(sa_column=_utc_column())
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "sku"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    line_no: int
    sku: str = Field(max_length=64)
    description: str = Field(max_length=500)
    quantity: int
    unit_price: str = Field(max_length=40, description="decimal string, exact as ordered")
    tax_rate_percent: str = Field(max_length=12)
    discount_percent: str = Field(max_length=12)


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"
    __table_args__ = (UniqueConstraint("order_id", "shipment_id"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    shipment_id: str = Field(max_length=64)
    carrier: str = Field(max_length=100)
    tracking_number: str = Field(max_length=100)
    exception: str | None = Field(default=None, max_length=500)
    invoice_number: str | None = Field(default=None, max_length=40)
    dispatched_at: datetime = Field(sa_column=_utc_column())
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ShipmentLine(SQLModel, table=True):
    __tablename__ = "shipment_lines"
    id: int | None = Field(default=None, primary_key=True)
    shipment_row_id: int = Field(foreign_key="shipments.id", index=True)
    sku: str = Field(max_length=64)
    quantity: int


class NumberSeries(SQLModel, table=True):
    """Gapless numbering: the counter moves in the same transaction as the document it numbers."""

    __tablename__ = "number_series"
    series: str = Field(primary_key=True, max_length=10)
    year: int = Field(primary_key=True)
    last_value: int = 0


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("order_id", "invoice_key"),)
    number: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    invoice_key: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    net_minor: int = Field(sa_type=BigInteger)
    tax_minor: int = Field(sa_type=BigInteger)
    total_minor: int = Field(sa_type=BigInteger)
    open_minor: int = Field(sa_type=BigInteger)
    discount_minor: int = Field(default=0, sa_type=BigInteger)
    discount_until: date | None = None
    issued_on: date
    due_date: date = Field(index=True)
    payment_reference: str = Field(max_length=35, unique=True)
    status: str = Field(max_length=20)
    kind: str = Field(default="goods", max_length=20, description="goods (what shipped) or a later charge")
    stripe_payment_intent: str | None = Field(default=None, max_length=64, description="the payment link's")
    created_at: datetime = Field(sa_column=_utc_column())


class InvoiceLine(SQLModel, table=True):
    __tablename__ = "invoice_lines"
    __table_args__ = (UniqueConstraint("invoice_number", "line_no"),)
    id: int | None = Field(default=None, primary_key=True)
    invoice_number: str = Field(foreign_key="invoices.number", index=True, max_length=40)
    line_no: int
    sku: str = Field(max_length=64)
    description: str = Field(max_length=500)
    quantity: int
    unit_price: str = Field(max_length=40)
    discount_minor: int = Field(sa_type=BigInteger)
    net_minor: int = Field(sa_type=BigInteger)
    tax_rate_percent: str = Field(max_length=12)
    tax_minor: int = Field(sa_type=BigInteger)


class CreditNote(SQLModel, table=True):
    """A credit note: its own gapless series, always against one invoice, tax reversed with the net."""

    __tablename__ = "credit_notes"
    __table_args__ = (UniqueConstraint("dedupe_key", "invoice_number"),)
    number: str = Field(primary_key=True, max_length=40)
    dedupe_key: str = Field(max_length=120)
    invoice_number: str = Field(foreign_key="invoices.number", index=True, max_length=40)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    currency: str = Field(max_length=3)
    net_minor: int = Field(sa_type=BigInteger)
    tax_minor: int = Field(sa_type=BigInteger)
    total_minor: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=2000)
    actor: str = Field(max_length=120)
    issued_on: date
    created_at: datetime = Field(sa_column=_utc_column())


class ArchivedDocument(SQLModel, table=True):
    """The document as issued (PDF and UBL XML), sent and re-sent byte for byte; never changed."""

    __tablename__ = "billing_documents"
    number: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=20)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    pdf: bytes = Field(sa_type=LargeBinary)
    ubl: bytes = Field(sa_type=LargeBinary)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc_column())


class CardCharge(SQLModel, table=True):
    """One row per idempotency key: a second charge for the same key is impossible by construction."""

    __tablename__ = "card_charges"
    idempotency_key: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    invoice_number: str = Field(foreign_key="invoices.number", max_length=40)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    stripe_payment_intent: str | None = Field(default=None, max_length=64, unique=True)
    status: str = Field(max_length=20)
    decline_code: str | None = Field(default=None, max_length=60)
    created_at: datetime = Field(sa_column=_utc_column())


class Payment(SQLModel, table=True):
    __tablename__ = "payments"
    id: str = Field(primary_key=True, max_length=64, description="the payer's dedupe key")
    order_id: str | None = Field(default=None, foreign_key="orders.id", index=True, max_length=64)
    customer_id: str | None = Field(default=None, foreign_key="customers.id", index=True, max_length=64)
    amount_minor: int = Field(sa_type=BigInteger)
    unapplied_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    method: str = Field(max_length=20)
    reference: str = Field(default="", max_length=2000)
    received_at: datetime = Field(sa_column=_utc_column())


class PaymentApplication(SQLModel, table=True):
    __tablename__ = "payment_applications"
    __table_args__ = (UniqueConstraint("payment_id", "invoice_number"),)
    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(foreign_key="payments.id", index=True, max_length=64)
    invoice_number: str = Field(foreign_key="invoices.number", index=True, max_length=40)
    amount_minor: int = Field(sa_type=BigInteger, description="cash applied")
    discount_minor: int = Field(default=0, sa_type=BigInteger, description="early-payment discount taken")
    applied_at: datetime = Field(sa_column=_utc_column())


class BalanceAdjustment(SQLModel, table=True):
    """Credit notes and write-offs, each applied to one invoice."""

    __tablename__ = "balance_adjustments"
    __table_args__ = (UniqueConstraint("dedupe_key", "invoice_number"),)
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=120)
    kind: str = Field(max_length=20)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    invoice_number: str = Field(foreign_key="invoices.number", max_length=40)
    amount_minor: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=2000)
    actor: str = Field(max_length=120)
    created_at: datetime = Field(sa_column=_utc_column())


class LedgerEntry(SQLModel, table=True):
    """Double entry, immutable. ``journal`` names the money event; a journal is written once, whole."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("journal", "line_no"),)
    id: int | None = Field(default=None, primary_key=True)
    journal: str = Field(max_length=160, index=True)
    line_no: int
    account: str = Field(max_length=40, index=True)
    debit_minor: int = Field(default=0, sa_type=BigInteger)
    credit_minor: int = Field(default=0, sa_type=BigInteger)
    currency: str = Field(max_length=3)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    invoice_number: str | None = Field(default=None, max_length=40)
    posted_at: datetime = Field(sa_column=_utc_column())


class DunningEvent(SQLModel, table=True):
    __tablename__ = "dunning_events"
    __table_args__ = (UniqueConstraint("invoice_number", "step_name"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    invoice_number: str = Field(foreign_key="invoices.number", max_length=40)
    step_name: str = Field(max_length=60)
    level: int
    amount_due_minor: int = Field(sa_type=BigInteger)
    escalated: bool = False
    created_at: datetime = Field(sa_column=_utc_column())


class CollectionTask(SQLModel, table=True):
    """Work for a person in collections, opened by an escalating dunning step."""

    __tablename__ = "collection_tasks"
    __table_args__ = (UniqueConstraint("invoice_number", "step_name"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    invoice_number: str = Field(foreign_key="invoices.number", max_length=40)
    step_name: str = Field(max_length=60)
    amount_due_minor: int = Field(sa_type=BigInteger)
    status: str = Field(default="open", max_length=20, index=True)
    assigned_to: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(sa_column=_utc_column())
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Dispute(SQLModel, table=True):
    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("order_id", "dispute_id"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    dispute_id: str = Field(max_length=64)
    amount_minor: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=2000)
    status: str = Field(max_length=20)
    opened_by: str = Field(max_length=120)
    resolved_by: str | None = Field(default=None, max_length=120)
    opened_at: datetime = Field(sa_column=_utc_column())
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class EmailOutbox(SQLModel, table=True):
    """Every email we send, keyed so that one business event sends one email."""

    __tablename__ = "email_outbox"
    key: str = Field(primary_key=True, max_length=200)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    kind: str = Field(max_length=40)
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    status: str = Field(max_length=20)
    provider_message_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(sa_column=_utc_column())
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    event: str = Field(max_length=60)
    actor: str = Field(max_length=120)
    detail: str = Field(max_length=4000)
    created_at: datetime = Field(sa_column=_utc_column())


class WebhookEvent(SQLModel, table=True):
    """Each Stripe event id once: a redelivered event is answered 2xx without acting again. Written only
    after Temporal accepted what the event asked for, so a failed delivery is retried by Stripe."""

    __tablename__ = "webhook_events"
    event_id: str = Field(primary_key=True, max_length=80)
    type: str = Field(max_length=80)
    object_id: str = Field(default="", max_length=80)
    order_id: str | None = Field(default=None, max_length=64, index=True)
    outcome: str = Field(max_length=200)
    payload: str | None = Field(default=None, sa_type=Text, description="kept where no order took it")
    received_at: datetime = Field(sa_column=_utc_column())


class Refund(SQLModel, table=True):
    """Money going back to a customer. Ours are keyed before Stripe is called (``key``), so a retry finds
    the row and looks the refund up instead of refunding twice; refunds made at Stripe directly are
    recorded under their Stripe id."""

    __tablename__ = "refunds"
    key: str = Field(primary_key=True, max_length=120)
    order_id: str | None = Field(default=None, foreign_key="orders.id", index=True, max_length=64)
    invoice_number: str | None = Field(default=None, foreign_key="invoices.number", max_length=40)
    credit_note_number: str | None = Field(default=None, foreign_key="credit_notes.number", max_length=40)
    payment_id: str | None = Field(default=None, max_length=64, index=True)
    stripe_refund_id: str | None = Field(default=None, max_length=64, unique=True)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=20, description="pending, sending, succeeded, failed or held_as_credit")
    source: str = Field(max_length=10, description="o2c or stripe (made outside o2c)")
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Chargeback(SQLModel, table=True):
    """A dispute a cardholder opened with their bank: Stripe takes the money back until it is decided."""

    __tablename__ = "chargebacks"
    dispute_id: str = Field(primary_key=True, max_length=64)
    order_id: str | None = Field(default=None, foreign_key="orders.id", index=True, max_length=64)
    customer_id: str | None = Field(default=None, foreign_key="customers.id", max_length=64)
    payment_id: str | None = Field(default=None, max_length=64)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    reason: str = Field(default="", max_length=200)
    status: str = Field(max_length=20, description="open, won or lost")
    evidence_due_by: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    opened_at: datetime = Field(sa_column=_utc_column())
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class BankStatement(SQLModel, table=True):
    """A statement file as imported: importing it again finds this row and changes nothing."""

    __tablename__ = "bank_statements"
    key: str = Field(primary_key=True, max_length=32)
    format: str = Field(max_length=10)
    statement_id: str = Field(max_length=400)
    account: str = Field(max_length=200)
    digest: str = Field(max_length=64, description="sha256 of the file")
    lines: int
    new_lines: int = Field(description="lines not already known from an earlier statement")
    imported_by: str = Field(max_length=120)
    imported_at: datetime = Field(sa_column=_utc_column())


class CashReceipt(SQLModel, table=True):
    """Money received that cash application works on: a bank statement line, or a card payment no open order
    took. Booked to unapplied cash when it arrives; applications move it to receivables."""

    __tablename__ = "cash_receipts"
    id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=10, description="bank or stripe")
    statement_key: str | None = Field(default=None, foreign_key="bank_statements.key", index=True, max_length=32)
    location: str = Field(default="", max_length=200, description="the line or element of the file")
    booked_on: date = Field(index=True)
    amount_minor: int = Field(sa_type=BigInteger, description="credits positive, debits negative")
    unapplied_minor: int = Field(sa_type=BigInteger, description="not yet applied to any order")
    currency: str = Field(max_length=3)
    payer_name: str = Field(default="", max_length=200)
    payer_account: str = Field(default="", max_length=64)
    reference: str = Field(default="", max_length=200)
    remittance: str = Field(default="", max_length=2000)
    bank_reference: str = Field(default="", max_length=120)
    end_to_end_id: str = Field(default="", max_length=120)
    status: str = Field(max_length=20, index=True, description="new, applied, unapplied, part_applied or debit")
    customer_id: str | None = Field(default=None, foreign_key="customers.id", index=True, max_length=64)
    tier: int = 0
    confidence: float = 0.0
    rule: str = Field(default="", max_length=80)
    suggestion: str = Field(default="", max_length=400, description="invoices the engine would apply it to")
    flags: str = Field(default="", max_length=120)
    reason: str = Field(default="", max_length=2000, description="why it was not applied automatically")
    created_at: datetime = Field(sa_column=_utc_column())
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class CashApplication(SQLModel, table=True):
    """Part of a receipt applied to one order: written before the order is told, delivered once (the order's
    ``payment_received`` dedupes on ``payment_id``)."""

    __tablename__ = "cash_applications"
    id: int | None = Field(default=None, primary_key=True)
    receipt_id: str = Field(foreign_key="cash_receipts.id", index=True, max_length=64)
    payment_id: str = Field(max_length=64, unique=True)
    request_id: str | None = Field(default=None, max_length=64, unique=True, description="a person's request")
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    invoice_numbers: str = Field(default="", max_length=400)
    source: str = Field(max_length=40, description="auto (tier, rule) or manual")
    actor: str = Field(max_length=120)
    confidence: float = 0.0
    status: str = Field(max_length=20, index=True, description="pending, delivered or refused")
    refusal: str | None = Field(default=None, max_length=400)
    created_at: datetime = Field(sa_column=_utc_column())
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class CustomerBankAccount(SQLModel, table=True):
    """Accounts a customer has paid from, learned from applied receipts: the next payment from one is theirs."""

    __tablename__ = "customer_bank_accounts"
    __table_args__ = (UniqueConstraint("customer_id", "account"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    account: str = Field(max_length=64, index=True)
    learned_from: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_utc_column())
