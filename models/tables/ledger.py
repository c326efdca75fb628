"""The general ledger: double entries, immutable."""

from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.tables.base import utc_column


class LedgerEntry(SQLModel, table=True):
    """Double entry, immutable. ``journal`` names the money event; a journal is written once, whole."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("journal", "line_no"),
        # An account's movements over a period (cash collected per day, receivables at a date), summed
        # from the index alone on PostgreSQL.
        Index(
            "ix_ledger_entries_account_posted",
            "account",
            "posted_at",
            postgresql_include=["currency", "debit_minor", "credit_minor"],
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    journal: str = Field(max_length=160, index=True)
    line_no: int
    account: str = Field(max_length=40, index=True)
    debit_minor: int = Field(default=0, sa_type=BigInteger)
    credit_minor: int = Field(default=0, sa_type=BigInteger)
    currency: str = Field(max_length=3)
    order_id: str | None = Field(default=None, index=True, max_length=64)
    invoice_number: str | None = Field(default=None, max_length=40)
    posted_at: datetime = Field(sa_column=utc_column())
