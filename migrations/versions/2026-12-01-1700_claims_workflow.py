"""Claims workflow (issue 14): claims, one per organization and detection key, with their
status (detected, ready, filed, reimbursed, rejected, expired), Amazon case id and what was
reimbursed; claim_recoveries, one per organization and reimbursement id (a reversal negative),
with the state of the commission requested on it. Money in integer minor units.

Revision ID: 2026_12_01_claims_workflow
Revises: 2026_12_01_reserve_batch
Create Date: 2026-12-01 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2026_12_01_claims_workflow"
down_revision: str | None = "2026_12_01_reserve_batch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("sku", sa.String(length=200), nullable=False),
        sa.Column("fnsku", sa.String(length=20), nullable=False),
        sa.Column("asin", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("value_source", sa.String(length=30), nullable=True),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("eligible_from", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("country", sa.String(length=10), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.String(length=20), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.String(length=500), nullable=True),
        sa.Column("reimbursed_minor", sa.BigInteger(), nullable=False),
        sa.Column("reimbursed_quantity", sa.Integer(), nullable=False),
        sa.Column("last_detected_on", sa.Date(), nullable=False),
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
            "jsonb_typeof(evidence) = 'array'", name=op.f("ck_claims_evidence_array")
        ),
        sa.CheckConstraint(
            "kind IN ('warehouse_lost', 'warehouse_damaged', 'customer_return', 'inbound_shortage', 'reimbursed_below_value')",
            name=op.f("ck_claims_kind"),
        ),
        sa.CheckConstraint(
            "status <> 'filed' OR case_id IS NOT NULL", name=op.f("ck_claims_filed_has_case")
        ),
        sa.CheckConstraint(
            "status IN ('detected', 'ready', 'filed', 'reimbursed', 'rejected', 'expired')",
            name=op.f("ck_claims_status"),
        ),
        sa.CheckConstraint(
            "value_source IS NULL OR value_source IN ('reimbursement_history', 'sale_price')",
            name=op.f("ck_claims_value_source"),
        ),
        sa.CheckConstraint(
            "(case_id IS NULL) = (filed_at IS NULL)", name=op.f("ck_claims_case_filed")
        ),
        sa.CheckConstraint(
            "(value_minor IS NULL) = (currency IS NULL)", name=op.f("ck_claims_value_currency")
        ),
        sa.CheckConstraint("eligible_from <= deadline", name=op.f("ck_claims_window")),
        sa.CheckConstraint(
            "quantity >= 0 AND reimbursed_quantity >= 0", name=op.f("ck_claims_quantities")
        ),
        sa.CheckConstraint("reimbursed_minor >= 0", name=op.f("ck_claims_reimbursed")),
        sa.CheckConstraint("value_minor IS NULL OR value_minor >= 0", name=op.f("ck_claims_value")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_claims_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("organization_id", "key", name=op.f("uq_claims_organization_id_key")),
    )
    op.create_index("ix_claims_org_case", "claims", ["organization_id", "case_id"], unique=False)
    op.create_index("ix_claims_org_fnsku", "claims", ["organization_id", "fnsku"], unique=False)
    op.create_index(
        "ix_claims_org_status_deadline",
        "claims",
        ["organization_id", "status", "deadline"],
        unique=False,
    )
    op.create_index(op.f("ix_claims_organization_id"), "claims", ["organization_id"], unique=False)
    op.create_table(
        "claim_recoveries",
        sa.Column("claim_id", sa.Uuid(), nullable=False),
        sa.Column("reimbursement_id", sa.String(length=50), nullable=False),
        sa.Column("original_reimbursement_id", sa.String(length=50), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=False),
        sa.Column("case_id", sa.String(length=20), nullable=True),
        sa.Column("matched_by", sa.String(length=20), nullable=False),
        sa.Column("commission_status", sa.String(length=20), nullable=False),
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
            "(commission_status = 'not_applicable') = (amount_minor = 0)",
            name=op.f("ck_claim_recoveries_commission"),
        ),
        sa.CheckConstraint(
            "(kind = 'reimbursement' AND amount_minor >= 0 AND quantity >= 0) OR (kind = 'reversal' AND amount_minor <= 0 AND quantity <= 0)",
            name=op.f("ck_claim_recoveries_signs"),
        ),
        sa.CheckConstraint(
            "commission_status IN ('requested', 'awaiting_billing', 'not_applicable')",
            name=op.f("ck_claim_recoveries_commission_status"),
        ),
        sa.CheckConstraint(
            "kind IN ('reimbursement', 'reversal')", name=op.f("ck_claim_recoveries_kind")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_recoveries_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_claim_recoveries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_recoveries")),
        sa.UniqueConstraint(
            "organization_id",
            "reimbursement_id",
            name=op.f("uq_claim_recoveries_organization_id_reimbursement_id"),
        ),
    )
    op.create_index(
        "ix_claim_recoveries_claim",
        "claim_recoveries",
        ["organization_id", "claim_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_claim_recoveries_organization_id"),
        "claim_recoveries",
        ["organization_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_claim_recoveries_organization_id"), table_name="claim_recoveries")
    op.drop_index("ix_claim_recoveries_claim", table_name="claim_recoveries")
    op.drop_table("claim_recoveries")
    op.drop_index(op.f("ix_claims_organization_id"), table_name="claims")
    op.drop_index("ix_claims_org_status_deadline", table_name="claims")
    op.drop_index("ix_claims_org_fnsku", table_name="claims")
    op.drop_index("ix_claims_org_case", table_name="claims")
    op.drop_table("claims")
