"""Billing (issue 15): commissions, one per recovery (UNIQUE), with their state, attempt and
PaymentIntent; commission_rates, an organization's own rate; seller_transfers, one per
recovery the platform holds; the money ledger stripe_transactions (UNIQUE on the Stripe object
and the kind) and transaction_audit, append-only (a trigger refuses UPDATE and DELETE). Money
in integer minor units.

Revision ID: 2026_12_02_billing_commissions
Revises: 2026_12_02_billing_accounts
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_02_billing_commissions"
down_revision: str | None = "2026_12_02_billing_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = """
CREATE FUNCTION transaction_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transaction_audit is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER transaction_audit_append_only BEFORE UPDATE OR DELETE ON transaction_audit
    FOR EACH ROW EXECUTE FUNCTION transaction_audit_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "commission_rates",
        sa.Column("rate_bps", sa.Integer(), nullable=False),
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
        sa.CheckConstraint("rate_bps BETWEEN 0 AND 10000", name=op.f("ck_commission_rates_rate")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_commission_rates_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_rates")),
        sa.UniqueConstraint("organization_id", name=op.f("uq_commission_rates_organization_id")),
    )
    op.create_index(
        op.f("ix_commission_rates_organization_id"),
        "commission_rates",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "commissions",
        sa.Column("recovery_id", sa.Uuid(), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("recovery_amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate_bps", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("paid_to_platform", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=100), nullable=True),
        sa.Column("payment_method_id", sa.String(length=100), nullable=True),
        sa.Column("attempt_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=100), nullable=True),
        sa.Column("charge_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_status", sa.String(length=40), nullable=True),
        sa.Column("last_event_created", sa.BigInteger(), nullable=True),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("decline_code", sa.String(length=100), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
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
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_commissions_currency")),
        sa.CheckConstraint(
            "state IN ('pending', 'processing', 'succeeded', 'requires_action', 'failed', 'no_card', 'waived', 'withheld', 'refunded', 'disputed')",
            name=op.f("ck_commissions_state"),
        ),
        sa.CheckConstraint(
            "state NOT IN ('processing') OR attempt > 0",
            name=op.f("ck_commissions_processing_has_attempt"),
        ),
        sa.CheckConstraint(
            "state NOT IN ('succeeded', 'refunded', 'disputed') OR payment_intent_id IS NOT NULL",
            name=op.f("ck_commissions_charged_has_intent"),
        ),
        sa.CheckConstraint(
            "amount_minor >= 0 AND recovery_amount_minor >= 0", name=op.f("ck_commissions_amounts")
        ),
        sa.CheckConstraint("attempt >= 0", name=op.f("ck_commissions_attempt")),
        sa.CheckConstraint("rate_bps BETWEEN 0 AND 10000", name=op.f("ck_commissions_rate")),
        sa.CheckConstraint(
            "refunded_minor BETWEEN 0 AND amount_minor", name=op.f("ck_commissions_refunded")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_commissions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commissions")),
        sa.UniqueConstraint("payment_intent_id", name=op.f("uq_commissions_payment_intent_id")),
        sa.UniqueConstraint("recovery_id", name=op.f("uq_commissions_recovery_id")),
    )
    op.create_index(
        "ix_commissions_due",
        "commissions",
        ["next_attempt_at"],
        unique=False,
        postgresql_where="state IN ('pending', 'processing', 'failed', 'no_card')",
    )
    op.create_index("ix_commissions_org_id", "commissions", ["organization_id", "id"], unique=False)
    op.create_index(
        op.f("ix_commissions_organization_id"), "commissions", ["organization_id"], unique=False
    )
    op.create_table(
        "seller_transfers",
        sa.Column("recovery_id", sa.Uuid(), nullable=False),
        sa.Column("commission_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("destination", sa.String(length=100), nullable=True),
        sa.Column("transfer_group", sa.String(length=100), nullable=False),
        sa.Column("source_transaction", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("transfer_id", sa.String(length=100), nullable=True),
        sa.Column("reversed_minor", sa.BigInteger(), nullable=False),
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
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_seller_transfers_currency")),
        sa.CheckConstraint(
            "state <> 'paid' OR transfer_id IS NOT NULL",
            name=op.f("ck_seller_transfers_paid_has_transfer"),
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'waiting', 'processing', 'paid', 'failed', 'reversed')",
            name=op.f("ck_seller_transfers_state"),
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_seller_transfers_amount")),
        sa.CheckConstraint(
            "reversed_minor BETWEEN 0 AND amount_minor", name=op.f("ck_seller_transfers_reversed")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_seller_transfers_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seller_transfers")),
        sa.UniqueConstraint("recovery_id", name=op.f("uq_seller_transfers_recovery_id")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_seller_transfers_transfer_id")),
    )
    op.create_index(
        "ix_seller_transfers_org_id", "seller_transfers", ["organization_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_seller_transfers_organization_id"),
        "seller_transfers",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "stripe_transactions",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stripe_id", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("payment_intent_id", sa.String(length=100), nullable=True),
        sa.Column("charge_id", sa.String(length=100), nullable=True),
        sa.Column("account_id", sa.String(length=100), nullable=True),
        sa.Column("commission_id", sa.Uuid(), nullable=True),
        sa.Column("recovery_id", sa.Uuid(), nullable=True),
        sa.Column("stripe_created", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=100), nullable=False),
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
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_stripe_transactions_currency")),
        sa.CheckConstraint(
            "kind IN ('charge', 'refund', 'dispute', 'transfer', 'transfer_reversal', 'payout', 'invoice')",
            name=op.f("ck_stripe_transactions_kind"),
        ),
        sa.CheckConstraint("amount_minor >= 0", name=op.f("ck_stripe_transactions_amount")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_stripe_transactions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_transactions")),
        sa.UniqueConstraint(
            "stripe_id", "kind", name=op.f("uq_stripe_transactions_stripe_id_kind")
        ),
    )
    op.create_index(
        "ix_stripe_transactions_org_id",
        "stripe_transactions",
        ["organization_id", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_stripe_transactions_organization_id"),
        "stripe_transactions",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "transaction_audit",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stripe_id", sa.String(length=100), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_transaction_audit_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_audit")),
    )
    op.create_index(
        "ix_transaction_audit_org_id", "transaction_audit", ["organization_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_transaction_audit_organization_id"),
        "transaction_audit",
        ["organization_id"],
        unique=False,
    )
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TRIGGER transaction_audit_append_only ON transaction_audit")
    op.execute("DROP FUNCTION transaction_audit_append_only()")
    op.drop_index(op.f("ix_transaction_audit_organization_id"), table_name="transaction_audit")
    op.drop_index("ix_transaction_audit_org_id", table_name="transaction_audit")
    op.drop_table("transaction_audit")
    op.drop_index(op.f("ix_stripe_transactions_organization_id"), table_name="stripe_transactions")
    op.drop_index("ix_stripe_transactions_org_id", table_name="stripe_transactions")
    op.drop_table("stripe_transactions")
    op.drop_index(op.f("ix_seller_transfers_organization_id"), table_name="seller_transfers")
    op.drop_index("ix_seller_transfers_org_id", table_name="seller_transfers")
    op.drop_table("seller_transfers")
    op.drop_index(op.f("ix_commissions_organization_id"), table_name="commissions")
    op.drop_index("ix_commissions_org_id", table_name="commissions")
    op.drop_index(
        "ix_commissions_due",
        table_name="commissions",
        postgresql_where="state IN ('pending', 'processing', 'failed', 'no_card')",
    )
    op.drop_table("commissions")
    op.drop_index(op.f("ix_commission_rates_organization_id"), table_name="commission_rates")
    op.drop_table("commission_rates")
