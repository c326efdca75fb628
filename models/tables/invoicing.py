"""Invoices, credit notes, their numbering, the documents as issued and the adjustments to invoices."""

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


class NumberSeries(SQLModel, table=True):
    """Gapless numbering: the counter moves in the same transaction as the document it numbers."""

    __tablename__ = "number_series"
    series: str = Field(primary_key=True, max_length=10)
    year: int = Field(primary_key=True)
    last_value: int = 0


OPEN = text("open_minor > 0")


class Invoice(SQLModel, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("order_id", "invoice_key"),
        # Open invoices (a fifth of them): overdue ones by due date, with what aging and the collections
        # worklist sum (PostgreSQL reads them from the index alone); one customer's; and all by issue date.
        Index(
            "ix_invoices_open_due",
            "due_date",
            postgresql_where=OPEN,
            sqlite_where=OPEN,
            postgresql_include=["customer_id", "currency", "open_minor"],
        ),
        Index("ix_invoices_open_customer", "customer_id", "due_date", postgresql_where=OPEN, sqlite_where=OPEN),
        Index("ix_invoices_customer_issued", "customer_id", "issued_on"),
        # Cash application's search of open invoices by the start of their number.
        Index(
            "ix_invoices_open_number",
            "number",
            postgresql_ops={"number": "varchar_pattern_ops"},
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        ),
        Index("ix_invoices_issued_on", "issued_on", postgresql_include=["currency", "total_minor"]),
    )
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
    created_at: datetime = Field(sa_column=utc_column())


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
    created_at: datetime = Field(sa_column=utc_column())


class ArchivedDocument(SQLModel, table=True):
    """The document as issued (PDF and UBL XML), sent and re-sent byte for byte; never changed."""

    __tablename__ = "billing_documents"
    number: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=20)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    pdf: bytes = Field(sa_type=LargeBinary)
    ubl: bytes = Field(sa_type=LargeBinary)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())


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
    created_at: datetime = Field(sa_column=utc_column())
