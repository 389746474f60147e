"""Billing (issue 15): a reversal refunds (or reduces) the commission of the recovery it takes
back, once (``commission_refunds``, UNIQUE per reversal); a seller's notice is sent once per
commission, attempt and kind (``commission_notices``).

Revision ID: 2026_12_02_commission_refunds
Revises: 2026_12_02_credits_purchases
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_02_commission_refunds"
down_revision: str | None = "2026_12_02_credits_purchases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _common() -> list[sa.Column[object]]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "commission_refunds",
        sa.Column("commission_id", sa.Uuid(), nullable=False),
        sa.Column("reversal_id", sa.Uuid(), nullable=False),
        sa.Column("reversed_minor", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("stripe_refund_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_status", sa.String(length=40), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        *_common(),
        sa.CheckConstraint(
            "state IN ('waiting', 'processing', 'succeeded', 'reduced', 'nothing')",
            name=op.f("ck_commission_refunds_state"),
        ),
        sa.CheckConstraint(
            "amount_minor >= 0 AND reversed_minor > 0", name=op.f("ck_commission_refunds_amounts")
        ),
        sa.CheckConstraint(
            "state <> 'succeeded' OR stripe_refund_id IS NOT NULL",
            name=op.f("ck_commission_refunds_succeeded_has_refund"),
        ),
        sa.ForeignKeyConstraint(
            ["commission_id"],
            ["commissions.id"],
            name=op.f("fk_commission_refunds_commission_id_commissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_commission_refunds_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_refunds")),
        sa.UniqueConstraint("reversal_id", name=op.f("uq_commission_refunds_reversal_id")),
        sa.UniqueConstraint(
            "stripe_refund_id", name=op.f("uq_commission_refunds_stripe_refund_id")
        ),
    )
    op.create_index(
        "ix_commission_refunds_commission", "commission_refunds", ["commission_id"], unique=False
    )
    op.create_index(
        "ix_commission_refunds_due",
        "commission_refunds",
        ["next_attempt_at"],
        unique=False,
        postgresql_where="state IN ('waiting', 'processing')",
    )
    op.create_index(
        op.f("ix_commission_refunds_organization_id"),
        "commission_refunds",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "commission_notices",
        sa.Column("commission_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["commission_id"],
            ["commissions.id"],
            name=op.f("fk_commission_notices_commission_id_commissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_commission_notices_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_notices")),
        sa.UniqueConstraint(
            "commission_id",
            "attempt",
            "kind",
            name=op.f("uq_commission_notices_commission_id_attempt_kind"),
        ),
    )
    op.create_index(
        op.f("ix_commission_notices_organization_id"),
        "commission_notices",
        ["organization_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_commission_notices_organization_id"), table_name="commission_notices")
    op.drop_table("commission_notices")
    op.drop_index(op.f("ix_commission_refunds_organization_id"), table_name="commission_refunds")
    op.drop_index(
        "ix_commission_refunds_due",
        table_name="commission_refunds",
        postgresql_where="state IN ('waiting', 'processing')",
    )
    op.drop_index("ix_commission_refunds_commission", table_name="commission_refunds")
    op.drop_table("commission_refunds")
