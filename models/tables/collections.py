"""Collections: dunning steps taken, work for collectors, disputes."""

from datetime import date, datetime

from sqlalchemy import BigInteger, DateTime, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


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
    created_at: datetime = Field(sa_column=utc_column())


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
    created_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Dispute(SQLModel, table=True):
    __tablename__ = "disputes"
    __table_args__ = (
        UniqueConstraint("order_id", "dispute_id"),
        Index(
            "ix_disputes_open",
            "opened_at",
            "id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    dispute_id: str = Field(max_length=64)
    amount_minor: int = Field(sa_type=BigInteger)
    reason: str = Field(max_length=2000)
    status: str = Field(max_length=20)
    opened_by: str = Field(max_length=120)
    resolved_by: str | None = Field(default=None, max_length=120)
    opened_at: datetime = Field(sa_column=utc_column())
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ContactNote(SQLModel, table=True):
    """A collector's contact with a customer: a call, its outcome, a follow-up date. Promises to pay and
    escalations are the workflows' decisions; the note keeps the words said around them."""

    __tablename__ = "contact_notes"

    id: int | None = Field(default=None, primary_key=True)
    note_id: str = Field(max_length=64, unique=True, description="the request's id: a repeat writes nothing")
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    order_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=20, description="call, email, meeting, promise or escalation")
    outcome: str = Field(default="", max_length=60)
    note: str = Field(max_length=2000)
    follow_up_on: date | None = None
    actor: str = Field(max_length=120)
    created_at: datetime = Field(sa_column=utc_column())
