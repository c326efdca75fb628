"""Money in and back out through an order: card charges, payments and their applications, refunds, chargebacks."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


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
    created_at: datetime = Field(sa_column=utc_column())


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
    received_at: datetime = Field(sa_column=utc_column())


class PaymentApplication(SQLModel, table=True):
    __tablename__ = "payment_applications"
    __table_args__ = (UniqueConstraint("payment_id", "invoice_number"),)
    id: int | None = Field(default=None, primary_key=True)
    payment_id: str = Field(foreign_key="payments.id", index=True, max_length=64)
    invoice_number: str = Field(foreign_key="invoices.number", index=True, max_length=40)
    amount_minor: int = Field(sa_type=BigInteger, description="cash applied")
    discount_minor: int = Field(default=0, sa_type=BigInteger, description="early-payment discount taken")
    applied_at: datetime = Field(sa_column=utc_column())


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
    created_at: datetime = Field(sa_column=utc_column())
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
    opened_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
