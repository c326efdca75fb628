"""Credit decisions on orders, with the figures each was taken on."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


class CreditDecision(SQLModel, table=True):
    """Every credit decision, by the engine or by finance, with the figures it was taken on."""

    __tablename__ = "credit_decisions"
    __table_args__ = (Index("ix_credit_decisions_customer_newest", "customer_id", "id"),)  # a customer's latest
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
    created_at: datetime = Field(sa_column=utc_column())
