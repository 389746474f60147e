"""FBA inventory snapshots: what Amazon reported in each FBA sync run (one per sync job, dated
by the run's start, partial until its last page), and its items: every quantity of
getInventorySummaries per marketplace and seller SKU

Revision ID: 2026_12_01_fba_snapshots
Revises: 2026_12_01_import_staging
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_12_01_fba_snapshots'
down_revision: str | None = '2026_12_01_import_staging'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('fba_snapshots',
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('sync_job_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('partial', 'complete')", name=op.f('ck_fba_snapshots_status')),
    sa.CheckConstraint('items >= 0', name=op.f('ck_fba_snapshots_items')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_fba_snapshots_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fba_snapshots'))
    )
    op.create_index('ix_fba_snapshots_org_id', 'fba_snapshots', ['organization_id', 'id'], unique=False)
    op.create_index(op.f('ix_fba_snapshots_organization_id'), 'fba_snapshots', ['organization_id'], unique=False)
    op.create_index('uq_fba_snapshots_job', 'fba_snapshots', ['organization_id', 'sync_job_id'], unique=True)
    op.create_table('fba_snapshot_items',
    sa.Column('snapshot_id', sa.Uuid(), nullable=False),
    sa.Column('marketplace_id', sa.String(length=20), nullable=False),
    sa.Column('seller_sku', sa.String(length=200), nullable=False),
    sa.Column('fnsku', sa.String(length=20), nullable=True),
    sa.Column('asin', sa.String(length=20), nullable=True),
    sa.Column('condition', sa.String(length=50), nullable=True),
    sa.Column('product_id', sa.Uuid(), nullable=True),
    sa.Column('fulfillable', sa.Integer(), nullable=False),
    sa.Column('inbound_working', sa.Integer(), nullable=False),
    sa.Column('inbound_shipped', sa.Integer(), nullable=False),
    sa.Column('inbound_receiving', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('reserved_customer_orders', sa.Integer(), nullable=False),
    sa.Column('reserved_transshipment', sa.Integer(), nullable=False),
    sa.Column('reserved_fc_processing', sa.Integer(), nullable=False),
    sa.Column('researching', sa.Integer(), nullable=False),
    sa.Column('unfulfillable', sa.Integer(), nullable=False),
    sa.Column('unfulfillable_customer_damaged', sa.Integer(), nullable=False),
    sa.Column('unfulfillable_warehouse_damaged', sa.Integer(), nullable=False),
    sa.Column('unfulfillable_distributor_damaged', sa.Integer(), nullable=False),
    sa.Column('unfulfillable_carrier_damaged', sa.Integer(), nullable=False),
    sa.Column('unfulfillable_defective', sa.Integer(), nullable=False),
    sa.Column('unfulfillable_expired', sa.Integer(), nullable=False),
    sa.Column('total_quantity', sa.Integer(), nullable=False),
    sa.Column('last_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('fulfillable >= 0 AND inbound_working >= 0 AND inbound_shipped >= 0 AND inbound_receiving >= 0 AND reserved >= 0 AND reserved_customer_orders >= 0 AND reserved_transshipment >= 0 AND reserved_fc_processing >= 0 AND researching >= 0 AND unfulfillable >= 0 AND unfulfillable_customer_damaged >= 0 AND unfulfillable_warehouse_damaged >= 0 AND unfulfillable_distributor_damaged >= 0 AND unfulfillable_carrier_damaged >= 0 AND unfulfillable_defective >= 0 AND unfulfillable_expired >= 0 AND total_quantity >= 0', name=op.f('ck_fba_snapshot_items_quantities')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_fba_snapshot_items_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['snapshot_id'], ['fba_snapshots.id'], name=op.f('fk_fba_snapshot_items_snapshot_id_fba_snapshots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('snapshot_id', 'marketplace_id', 'seller_sku', name=op.f('pk_fba_snapshot_items'))
    )
    op.create_index(op.f('ix_fba_snapshot_items_organization_id'), 'fba_snapshot_items', ['organization_id'], unique=False)
    op.create_index('ix_fba_snapshot_items_sku', 'fba_snapshot_items', ['organization_id', 'seller_sku'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_fba_snapshot_items_sku', table_name='fba_snapshot_items')
    op.drop_index(op.f('ix_fba_snapshot_items_organization_id'), table_name='fba_snapshot_items')
    op.drop_table('fba_snapshot_items')
    op.drop_index('uq_fba_snapshots_job', table_name='fba_snapshots')
    op.drop_index(op.f('ix_fba_snapshots_organization_id'), table_name='fba_snapshots')
    op.drop_index('ix_fba_snapshots_org_id', table_name='fba_snapshots')
    op.drop_table('fba_snapshots')
