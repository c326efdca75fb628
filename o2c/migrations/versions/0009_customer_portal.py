"""customer portal: single-use sign-in links (only the token's hash is kept), billing emails looked up in any case

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 00:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    with op.batch_alter_table("portal_sign_in_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_sign_in_links_customer_id"), ["customer_id"], unique=False)
    op.create_index("ix_customers_lower_billing_email", "customers", [sa.text("lower(billing_email)")])


def downgrade() -> None:
    op.drop_index("ix_customers_lower_billing_email", table_name="customers")
    with op.batch_alter_table("portal_sign_in_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_sign_in_links_customer_id"))
    op.drop_table("portal_sign_in_links")
