"""indexes for a big book: the console's lists and the reports on 100,000 customers and 1,000,000 invoices

Found with ``o2c bench console --explain`` on ``o2c bench book`` (README: Performance). Open invoices are a
fifth of all invoices, waiting receipts and open disputes a few thousand of hundreds of thousands: their
indexes are partial, and on PostgreSQL carry what the aggregates over them read (INCLUDE), so those are
index-only scans. Customers are searched by a prefix of their id, name, email or VAT id in any case:
``lower()`` of each, with ``text_pattern_ops`` on PostgreSQL so that ``LIKE 'prefix%'`` uses the index
whatever the database's collation (SQLite: a plain expression index, searched as a range). Emails and audit
entries without an order (statements, master data changes) are found by a prefix of their key the same way.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("open_minor > 0")
# money left on a receipt: the cash-application queue (applied and debit receipts hold none)
WAITING = sa.text("unapplied_minor > 0")
ORDERLESS = sa.text("order_id IS NULL")
DISPUTED = sa.text("status = 'open'")
SEARCHED = ("id", "name", "email", "vat_id")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index(
        "ix_invoices_open_due",
        "invoices",
        ["due_date"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
        postgresql_include=["customer_id", "currency", "open_minor"],
    )
    op.create_index(
        "ix_invoices_open_customer", "invoices", ["customer_id", "due_date"], postgresql_where=OPEN, sqlite_where=OPEN
    )
    op.create_index("ix_invoices_customer_issued", "invoices", ["customer_id", "issued_on"])
    op.create_index(
        "ix_invoices_open_number",
        "invoices",
        ["number"],
        postgresql_ops={"number": "varchar_pattern_ops"},
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_customers_name", "customers", ["name", "id"])
    op.create_index("ix_invoices_issued_on", "invoices", ["issued_on"], postgresql_include=["currency", "total_minor"])
    op.create_index(
        "ix_cash_receipts_waiting", "cash_receipts", ["booked_on", "id"], postgresql_where=WAITING, sqlite_where=WAITING
    )
    for table, key in (("email_outbox", "key"), ("audit_log", "dedupe_key")):
        op.create_index(
            f"ix_{table}_orderless_key",
            table,
            [key],
            postgresql_ops={key: "text_pattern_ops"},
            postgresql_where=ORDERLESS,
            sqlite_where=ORDERLESS,
        )
    for column in SEARCHED:
        expression = f"lower({column}) text_pattern_ops" if postgres else f"lower({column})"
        op.create_index(f"ix_customers_lower_{column}", "customers", [sa.text(expression)])
    op.create_index("ix_credit_decisions_customer_newest", "credit_decisions", ["customer_id", "id"])
    op.create_index(
        "ix_disputes_open", "disputes", ["opened_at", "id"], postgresql_where=DISPUTED, sqlite_where=DISPUTED
    )
    op.create_index(
        "ix_ledger_entries_account_posted",
        "ledger_entries",
        ["account", "posted_at"],
        postgresql_include=["currency", "debit_minor", "credit_minor"],
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_account_posted", table_name="ledger_entries")
    op.drop_index("ix_disputes_open", table_name="disputes")
    op.drop_index("ix_credit_decisions_customer_newest", table_name="credit_decisions")
    for column in SEARCHED:
        op.drop_index(f"ix_customers_lower_{column}", table_name="customers")
    for table in ("audit_log", "email_outbox"):
        op.drop_index(f"ix_{table}_orderless_key", table_name=table)
    op.drop_index("ix_cash_receipts_waiting", table_name="cash_receipts")
    op.drop_index("ix_invoices_issued_on", table_name="invoices")
    op.drop_index("ix_customers_name", table_name="customers")
    op.drop_index("ix_invoices_open_number", table_name="invoices")
    op.drop_index("ix_invoices_customer_issued", table_name="invoices")
    op.drop_index("ix_invoices_open_customer", table_name="invoices")
    op.drop_index("ix_invoices_open_due", table_name="invoices")
