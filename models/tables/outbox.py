"""What went out and came in: the email outbox, the audit log, Stripe webhook events received."""

from datetime import datetime

from sqlalchemy import DateTime, Index, Text, text
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


def _orderless_key(table: str, key: str) -> Index:
    """Rows without an order (statements, master data changes), found by a prefix of their key."""
    orderless = text("order_id IS NULL")
    return Index(
        f"ix_{table}_orderless_key",
        key,
        postgresql_ops={key: "text_pattern_ops"},
        postgresql_where=orderless,
        sqlite_where=orderless,
    )


class EmailOutbox(SQLModel, table=True):
    """Every email we send, keyed so that one business event sends one email."""

    __tablename__ = "email_outbox"
    __table_args__ = (_orderless_key("email_outbox", "key"),)
    key: str = Field(primary_key=True, max_length=200)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    kind: str = Field(max_length=40)
    recipient: str = Field(max_length=320)
    subject: str = Field(max_length=300)
    status: str = Field(max_length=20)
    provider_message_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (_orderless_key("audit_log", "dedupe_key"),)
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    event: str = Field(max_length=60)
    actor: str = Field(max_length=120)
    detail: str = Field(max_length=4000)
    created_at: datetime = Field(sa_column=utc_column())


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
    received_at: datetime = Field(sa_column=utc_column())
