"""Who may do what in the finance console: its users, the approval limits per role, and the requests that
wait for a finance manager's approval. The decisions themselves are the workflows'; these tables say who
may ask for one, and keep what waits for a second person."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_users"

    username: str = Field(primary_key=True, max_length=64, description="the `by` of every decision they make")
    display_name: str = Field(max_length=120)
    email: str = Field(default="", max_length=320)
    password_hash: str | None = Field(default=None, max_length=200, description="argon2id; none: single sign-on")
    roles: str = Field(max_length=200, description="comma-separated role names")
    active: bool = True
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    last_sign_in_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ApprovalLimit(SQLModel, table=True):
    """The most one role may decide alone, per action and currency; above it a finance manager approves.
    A role with no row for an action and currency decides nothing of it alone."""

    __tablename__ = "approval_limits"
    __table_args__ = (UniqueConstraint("role", "action", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=40)
    action: str = Field(max_length=40, description="write_off or refund")
    currency: str = Field(max_length=3)
    max_minor: int = Field(sa_type=BigInteger)
    set_by: str = Field(max_length=120)
    updated_at: datetime = Field(sa_column=utc_column())


class ApprovalRequest(SQLModel, table=True):
    """A write-off or refund above its requester's limit, waiting for a finance manager. Approving it sends
    the same workflow update (or starts the same refund workflow) as the CLI, with the request's id as the
    decision's idempotency key."""

    __tablename__ = "approval_requests"

    id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=20, index=True, description="write_off or refund")
    order_id: str = Field(foreign_key="orders.id", index=True, max_length=64)
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    invoice_number: str | None = Field(default=None, max_length=40)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    reason: str = Field(max_length=2000)
    requested_by: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=20, index=True, description="pending, approved, rejected")
    decided_by: str | None = Field(default=None, max_length=64)
    outcome: str | None = Field(default=None, sa_type=Text, description="the workflow's answer, or why rejected")
    created_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
