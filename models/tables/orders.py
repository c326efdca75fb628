"""Orders as placed, with their lines."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


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
    placed_at: datetime = Field(sa_column=utc_column())
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
