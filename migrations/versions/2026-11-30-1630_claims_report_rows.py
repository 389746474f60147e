"""Claims pipeline: the report rows detection reads (ledger adjustments and receipts,
reimbursements, customer returns, Finances refunds), each keyed by organization, connection and
an MD5 of its fields, so a period pulled again inserts nothing twice

Revision ID: 2026_12_01_claims_report_rows
Revises: 2026_12_01_claims_workflow
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_12_01_claims_report_rows'
down_revision: str | None = '2026_12_01_claims_workflow'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('claims_ledger_events',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('row_key', sa.Uuid(), nullable=False),
    sa.Column('marketplace_id', sa.String(length=20), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('fnsku', sa.Text(), nullable=False),
    sa.Column('asin', sa.Text(), nullable=False),
    sa.Column('msku', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('event_type', sa.Text(), nullable=False),
    sa.Column('reference_id', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('fulfillment_center', sa.Text(), nullable=False),
    sa.Column('disposition', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.Column('reconciled_quantity', sa.Integer(), nullable=True),
    sa.Column('unreconciled_quantity', sa.Integer(), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('occurrence', sa.Integer(), nullable=False),
    sa.CheckConstraint('occurrence >= 0', name=op.f('ck_claims_ledger_events_occurrence')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_claims_ledger_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'connection_id', 'row_key', name=op.f('pk_claims_ledger_events'))
    )
    op.create_index('ix_claims_ledger_events_read', 'claims_ledger_events', ['organization_id', 'connection_id', 'marketplace_id', 'event_type', 'event_date'], unique=False)
    op.create_table('claims_reimbursements',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('row_key', sa.Uuid(), nullable=False),
    sa.Column('marketplace_id', sa.String(length=20), nullable=False),
    sa.Column('approval_date', sa.Date(), nullable=False),
    sa.Column('reimbursement_id', sa.Text(), nullable=False),
    sa.Column('case_id', sa.Text(), nullable=False),
    sa.Column('amazon_order_id', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('fnsku', sa.Text(), nullable=False),
    sa.Column('asin', sa.Text(), nullable=False),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_per_unit_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_total_minor', sa.BigInteger(), nullable=False),
    sa.Column('quantity_cash', sa.Integer(), nullable=False),
    sa.Column('quantity_inventory', sa.Integer(), nullable=False),
    sa.Column('quantity_total', sa.Integer(), nullable=False),
    sa.Column('original_reimbursement_id', sa.Text(), nullable=False),
    sa.Column('original_reimbursement_type', sa.Text(), nullable=False),
    sa.CheckConstraint('quantity_total = quantity_cash + quantity_inventory', name=op.f('ck_claims_reimbursements_quantity_total')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_claims_reimbursements_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'connection_id', 'row_key', name=op.f('pk_claims_reimbursements'))
    )
    op.create_index('ix_claims_reimbursements_read', 'claims_reimbursements', ['organization_id', 'connection_id', 'marketplace_id', 'approval_date'], unique=False)
    op.create_table('claims_customer_returns',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('row_key', sa.Uuid(), nullable=False),
    sa.Column('marketplace_id', sa.String(length=20), nullable=False),
    sa.Column('return_date', sa.Date(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('asin', sa.Text(), nullable=False),
    sa.Column('fnsku', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('fulfillment_center_id', sa.Text(), nullable=False),
    sa.Column('detailed_disposition', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('license_plate_number', sa.Text(), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_claims_customer_returns_quantity')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_claims_customer_returns_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'connection_id', 'row_key', name=op.f('pk_claims_customer_returns'))
    )
    op.create_index('ix_claims_customer_returns_order', 'claims_customer_returns', ['organization_id', 'connection_id', 'order_id'], unique=False)
    op.create_table('claims_refunds',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('row_key', sa.Uuid(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('posted_date', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_claims_refunds_quantity')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_claims_refunds_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'connection_id', 'row_key', name=op.f('pk_claims_refunds'))
    )
    op.create_index('ix_claims_refunds_read', 'claims_refunds', ['organization_id', 'connection_id', 'country', 'posted_date'], unique=False)


def downgrade() -> None:
    op.drop_table('claims_refunds')
    op.drop_table('claims_customer_returns')
    op.drop_table('claims_reimbursements')
    op.drop_table('claims_ledger_events')
