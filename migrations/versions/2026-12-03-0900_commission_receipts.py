"""Billing (issue 15): a commission keeps Stripe's receipt of its charge
(``commissions.receipt_url``); a reversal of a recovery the platform held takes the seller's
part back from the seller's transfer once (``seller_transfer_reversals``, UNIQUE per reversal),
and a transfer reversed in full before it was sent is ``cancelled`` (amount 0).

Revision ID: 2026_12_03_commission_receipts
Revises: 2026_12_03_credits_disputes
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_03_commission_receipts"
down_revision: str | None = "2026_12_03_credits_disputes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = "'pending', 'waiting', 'processing', 'paid', 'failed', 'reversed'"
NEW_STATES = OLD_STATES + ", 'cancelled'"


def upgrade() -> None:
    op.add_column("commissions", sa.Column("receipt_url", sa.String(length=500), nullable=True))
    op.drop_constraint(op.f("ck_seller_transfers_state"), "seller_transfers", type_="check")
    op.create_check_constraint(
        op.f("ck_seller_transfers_state"), "seller_transfers", f"state IN ({NEW_STATES})"
    )
    op.drop_constraint(op.f("ck_seller_transfers_amount"), "seller_transfers", type_="check")
    op.create_check_constraint(
        op.f("ck_seller_transfers_amount"),
        "seller_transfers",
        "amount_minor > 0 OR state = 'cancelled'",
    )
    op.create_table(
        "seller_transfer_reversals",
        sa.Column("seller_transfer_id", sa.Uuid(), nullable=False),
        sa.Column("reversal_id", sa.Uuid(), nullable=False),
        sa.Column("reversed_minor", sa.BigInteger(), nullable=False),
        sa.Column("recovered_minor", sa.BigInteger(), nullable=False),
        sa.Column("gross_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("stripe_reversal_id", sa.String(length=100), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "state IN ('waiting', 'processing', 'succeeded', 'reduced', 'nothing')",
            name=op.f("ck_seller_transfer_reversals_state"),
        ),
        sa.CheckConstraint(
            "amount_minor >= 0 AND reversed_minor > 0 AND recovered_minor > 0 AND gross_minor >= 0",
            name=op.f("ck_seller_transfer_reversals_amounts"),
        ),
        sa.CheckConstraint(
            "state <> 'succeeded' OR stripe_reversal_id IS NOT NULL",
            name=op.f("ck_seller_transfer_reversals_succeeded_has_reversal"),
        ),
        sa.ForeignKeyConstraint(
            ["seller_transfer_id"],
            ["seller_transfers.id"],
            name=op.f("fk_seller_transfer_reversals_seller_transfer_id_seller_transfers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_seller_transfer_reversals_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seller_transfer_reversals")),
        sa.UniqueConstraint("reversal_id", name=op.f("uq_seller_transfer_reversals_reversal_id")),
        sa.UniqueConstraint(
            "stripe_reversal_id", name=op.f("uq_seller_transfer_reversals_stripe_reversal_id")
        ),
    )
    op.create_index(
        "ix_seller_transfer_reversals_transfer",
        "seller_transfer_reversals",
        ["seller_transfer_id"],
        unique=False,
    )
    op.create_index(
        "ix_seller_transfer_reversals_due",
        "seller_transfer_reversals",
        ["next_attempt_at"],
        unique=False,
        postgresql_where="state IN ('waiting', 'processing')",
    )
    op.create_index(
        op.f("ix_seller_transfer_reversals_organization_id"),
        "seller_transfer_reversals",
        ["organization_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_seller_transfer_reversals_organization_id"),
        table_name="seller_transfer_reversals",
    )
    op.drop_index(
        "ix_seller_transfer_reversals_due",
        table_name="seller_transfer_reversals",
        postgresql_where="state IN ('waiting', 'processing')",
    )
    op.drop_index("ix_seller_transfer_reversals_transfer", table_name="seller_transfer_reversals")
    op.drop_table("seller_transfer_reversals")
    op.execute("DELETE FROM seller_transfers WHERE state = 'cancelled'")
    op.drop_constraint(op.f("ck_seller_transfers_amount"), "seller_transfers", type_="check")
    op.create_check_constraint(
        op.f("ck_seller_transfers_amount"), "seller_transfers", "amount_minor > 0"
    )
    op.drop_constraint(op.f("ck_seller_transfers_state"), "seller_transfers", type_="check")
    op.create_check_constraint(
        op.f("ck_seller_transfers_state"), "seller_transfers", f"state IN ({OLD_STATES})"
    )
    op.drop_column("commissions", "receipt_url")
