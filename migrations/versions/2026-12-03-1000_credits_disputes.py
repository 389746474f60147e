"""credits: a credit subscription's failed renewal (the failed invoice, its time, and the time
of the newest invoice paid, so events out of order never bring back a failure a later payment
cleared), and one row per dispute of a credit purchase (what it took back, what winning it gave
back: at most once)

Revision ID: 2026_12_03_credits_disputes
Revises: 2026_12_02_commission_refunds
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_03_credits_disputes"
down_revision: str | None = "2026_12_02_commission_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "credit_subscriptions",
        sa.Column("payment_failed_invoice", sa.String(length=100), nullable=True),
    )
    op.add_column(
        "credit_subscriptions",
        sa.Column("payment_failed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "credit_subscriptions",
        sa.Column("last_paid_invoice_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "credit_disputes",
        sa.Column("dispute_id", sa.String(length=100), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("purchase_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("taken", sa.BigInteger(), nullable=False),
        sa.Column("regranted", sa.BigInteger(), nullable=False),
        sa.Column("opening_applied", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('open', 'won', 'lost')", name=op.f("ck_credit_disputes_status")
        ),
        sa.CheckConstraint(
            "taken >= 0 AND regranted >= 0 AND regranted <= taken",
            name=op.f("ck_credit_disputes_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_disputes_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["credit_purchases.id"],
            name=op.f("fk_credit_disputes_purchase_id_credit_purchases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_credit_disputes")),
    )  # fmt: skip
    op.create_index("ix_credit_disputes_purchase", "credit_disputes", ["purchase_id"])


def downgrade() -> None:
    op.drop_index("ix_credit_disputes_purchase", table_name="credit_disputes")
    op.drop_table("credit_disputes")
    op.drop_column("credit_subscriptions", "last_paid_invoice_at")
    op.drop_column("credit_subscriptions", "payment_failed_at")
    op.drop_column("credit_subscriptions", "payment_failed_invoice")
