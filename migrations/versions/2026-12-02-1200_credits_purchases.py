"""credits purchases: Checkout Sessions selling credits (one row per session, fulfilled once),
subscriptions granting a package every period, and a package's interval (a subscription plan)

Revision ID: 2026_12_02_credits_purchases
Revises: 2026_12_02_credits_ledger
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_02_credits_purchases"
down_revision: str | None = "2026_12_02_credits_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("credit_packages", sa.Column("interval", sa.String(length=10), nullable=True))
    op.create_check_constraint(
        op.f("ck_credit_packages_interval"),
        "credit_packages",
        "interval IS NULL OR interval IN ('day', 'week', 'month', 'year')",
    )
    op.create_table(
        "credit_purchases",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=200), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=True),
        sa.Column("package_id", sa.Uuid(), nullable=True),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=100), nullable=True),
        sa.Column("reversed_credits", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("credits > 0", name=op.f("ck_credit_purchases_credits")),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_credit_purchases_amount")),
        sa.CheckConstraint(
            "reversed_credits >= 0 AND reversed_credits <= credits",
            name=op.f("ck_credit_purchases_reversed"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'processing', 'paid', 'failed', 'expired')",
            name=op.f("ck_credit_purchases_status"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_purchases_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["credit_packages.id"],
            name=op.f("fk_credit_purchases_package_id_credit_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_purchases")),
        sa.UniqueConstraint(
            "checkout_session_id", name=op.f("uq_credit_purchases_checkout_session_id")
        ),
    )  # fmt: skip
    op.create_index(
        "ix_credit_purchases_org", "credit_purchases", ["organization_id", "created_at"]
    )
    op.create_index("ix_credit_purchases_intent", "credit_purchases", ["payment_intent_id"])
    op.create_table(
        "credit_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("checkout_session_id", sa.String(length=200), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=100), nullable=True),
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("credits", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("invoices_paid", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("credits > 0", name=op.f("ck_credit_subscriptions_credits")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"],
            name=op.f("fk_credit_subscriptions_organization_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["credit_packages.id"],
            name=op.f("fk_credit_subscriptions_package_id_credit_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_subscriptions")),
        sa.UniqueConstraint(
            "checkout_session_id", name=op.f("uq_credit_subscriptions_checkout_session_id")
        ),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_credit_subscriptions_stripe_subscription_id")
        ),
    )  # fmt: skip
    op.create_index(
        "ix_credit_subscriptions_org", "credit_subscriptions", ["organization_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("credit_subscriptions")
    op.drop_table("credit_purchases")
    op.drop_constraint(op.f("ck_credit_packages_interval"), "credit_packages", type_="check")
    op.drop_column("credit_packages", "interval")
