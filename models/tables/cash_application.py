"""Cash application: bank statements, the receipts on them, their applications to orders, payers' accounts."""

from datetime import date, datetime

from sqlalchemy import BigInteger, DateTime, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


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
    imported_at: datetime = Field(sa_column=utc_column())


WAITING = text("unapplied_minor > 0")  # money left on it: the cash-application queue


class CashReceipt(SQLModel, table=True):
    """Money received that cash application works on: a bank statement line, or a card payment no open order
    took. Booked to unapplied cash when it arrives; applications move it to receivables."""

    __tablename__ = "cash_receipts"
    __table_args__ = (  # the exception queue, oldest first: a few thousand receipts of hundreds of thousands
        Index("ix_cash_receipts_waiting", "booked_on", "id", postgresql_where=WAITING, sqlite_where=WAITING),
    )
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
    created_at: datetime = Field(sa_column=utc_column())
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
    created_at: datetime = Field(sa_column=utc_column())
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class CustomerBankAccount(SQLModel, table=True):
    """Accounts a customer has paid from, learned from applied receipts: the next payment from one is theirs."""

    __tablename__ = "customer_bank_accounts"
    __table_args__ = (UniqueConstraint("customer_id", "account"),)
    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    account: str = Field(max_length=64, index=True)
    learned_from: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=utc_column())
