"""Billing (issue 15): stripe_customers, the organization's Stripe customer (one per
organization); stripe_payment_methods, the cards saved on it (brand, last four, expiry, never the
number; at most one default, a removed card kept as removed); stripe_accounts, the seller's
Connect account (one per organization; the row and its Idempotency-Key written before Stripe
is asked, the account id once it answered) with the state the last applied Stripe event gave.

Revision ID: 2026_12_02_billing_accounts
Revises: 2026_12_01_claims_inbound_items
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_billing_accounts"
down_revision: str | None = "2026_12_01_claims_inbound_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_accounts",
        sa.Column("stripe_account_id", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("connection_id", sa.Uuid(), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("business_name", sa.String(length=200), nullable=True),
        sa.Column("controller", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("charges_enabled", sa.Boolean(), nullable=False),
        sa.Column("payouts_enabled", sa.Boolean(), nullable=False),
        sa.Column("details_submitted", sa.Boolean(), nullable=False),
        sa.Column("requirements_due", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=True),
        sa.Column("stripe_state_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_stripe_accounts_attempt")),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_stripe_accounts_country")),
        sa.CheckConstraint(
            "stripe_account_id IS NULL OR stripe_account_id ~ '^acct_[A-Za-z0-9_]+$'",
            name=op.f("ck_stripe_accounts_account_id"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_accounts_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_accounts")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_stripe_accounts_organization_id")),
        sa.UniqueConstraint("stripe_account_id", name=op.f("uq_stripe_accounts_stripe_account_id")),
    )
    op.create_index(
        op.f("ix_stripe_accounts_organization_id"),
        "stripe_accounts",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "stripe_customers",
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
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
            "stripe_customer_id ~ '^cus_[A-Za-z0-9_]+$'",
            name=op.f("ck_stripe_customers_customer_id"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_customers_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_customers")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_stripe_customers_organization_id")),
        sa.UniqueConstraint(
            "stripe_customer_id", name=op.f("uq_stripe_customers_stripe_customer_id")
        ),
    )
    op.create_index(
        op.f("ix_stripe_customers_organization_id"),
        "stripe_customers",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "stripe_payment_methods",
        sa.Column("stripe_payment_method_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("setup_intent_id", sa.String(length=255), nullable=True),
        sa.Column("set_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("brand", sa.String(length=30), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("exp_month", sa.Integer(), nullable=False),
        sa.Column("exp_year", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint("last4 ~ '^[0-9]{4}$'", name=op.f("ck_stripe_payment_methods_last4")),
        sa.CheckConstraint(
            "NOT (is_default AND removed_at IS NOT NULL)",
            name=op.f("ck_stripe_payment_methods_removed_not_default"),
        ),
        sa.CheckConstraint(
            "exp_month BETWEEN 1 AND 12", name=op.f("ck_stripe_payment_methods_exp_month")
        ),
        sa.CheckConstraint(
            "exp_year BETWEEN 2000 AND 2200", name=op.f("ck_stripe_payment_methods_exp_year")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_payment_methods_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_payment_methods")),
        sa.UniqueConstraint(
            "stripe_payment_method_id",
            name=op.f("uq_stripe_payment_methods_stripe_payment_method_id"),
        ),
    )
    op.create_index(
        "ix_stripe_payment_methods_org_live",
        "stripe_payment_methods",
        ["organization_id", "set_up_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stripe_payment_methods_organization_id"),
        "stripe_payment_methods",
        ["organization_id"],
        unique=False,
    )
    op.create_index(
        "uq_stripe_payment_methods_one_default",
        "stripe_payment_methods",
        ["organization_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_stripe_payment_methods_one_default",
        table_name="stripe_payment_methods",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_index(
        op.f("ix_stripe_payment_methods_organization_id"), table_name="stripe_payment_methods"
    )
    op.drop_index("ix_stripe_payment_methods_org_live", table_name="stripe_payment_methods")
    op.drop_table("stripe_payment_methods")
    op.drop_index(op.f("ix_stripe_customers_organization_id"), table_name="stripe_customers")
    op.drop_table("stripe_customers")
    op.drop_index(op.f("ix_stripe_accounts_organization_id"), table_name="stripe_accounts")
    op.drop_table("stripe_accounts")
