"""Shipments and what each one carried."""

from datetime import datetime

from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


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
    dispatched_at: datetime = Field(sa_column=utc_column())
    delivered_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ShipmentLine(SQLModel, table=True):
    __tablename__ = "shipment_lines"
    id: int | None = Field(default=None, primary_key=True)
    shipment_row_id: int = Field(foreign_key="shipments.id", index=True)
    sku: str = Field(max_length=64)
    quantity: int
