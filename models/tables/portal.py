"""The customer portal's sign-in links: a random token goes to the customer's email, only its SHA-256 is
kept, and it signs in once before it expires."""

from datetime import datetime

from sqlalchemy import DateTime, Index, func
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column
from models.tables.customers import Customer


class PortalSignInLink(SQLModel, table=True):
    __tablename__ = "portal_sign_in_links"

    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True, description="hex SHA-256 of the token in the link")
    customer_id: str = Field(foreign_key="customers.id", index=True, max_length=64)
    email: str = Field(max_length=320, description="where the link was sent")
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


# A sign-in looks the customer up by their billing email in any case (their main email has its index already).
Index("ix_customers_lower_billing_email", func.lower(Customer.__table__.c.billing_email))  # type: ignore[attr-defined]
