"""The customer master and its audit trail."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, UniqueConstraint, func, literal_column
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


def _searched(column: str) -> Index:
    """A case-blind prefix search on ``column``: ``text_pattern_ops`` lets PostgreSQL answer ``LIKE 'x%'``
    from the index whatever the database's collation."""
    expression = func.lower(literal_column(column)).label(f"lower_{column}")
    return Index(f"ix_customers_lower_{column}", expression, postgresql_ops={f"lower_{column}": "text_pattern_ops"})


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    __table_args__ = (
        *(_searched(column) for column in ("id", "name", "email", "vat_id")),
        Index("ix_customers_name", "name", "id"),  # the customer list, by name
    )
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
    created_at: datetime = Field(sa_column=utc_column())
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
    created_at: datetime = Field(sa_column=utc_column())
