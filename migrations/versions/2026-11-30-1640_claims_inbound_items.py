"""Claims pipeline: the closed inbound shipments' items (shipped and received per FNSKU, from the
Fulfillment Inbound API) for received-short claims

Revision ID: 2026_12_01_claims_inbound_items
Revises: 2026_12_01_claims_report_rows
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '2026_12_01_claims_inbound_items'
down_revision: str | None = '2026_12_01_claims_report_rows'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('claims_inbound_items',
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('marketplace_id', sa.String(length=20), nullable=False),
    sa.Column('shipment_id', sa.Text(), nullable=False),
    sa.Column('fnsku', sa.Text(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('quantity_shipped', sa.Integer(), nullable=False),
    sa.Column('quantity_received', sa.Integer(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=False),
    sa.Column('country', sa.Text(), nullable=False),
    sa.CheckConstraint('quantity_shipped >= 0 AND quantity_received >= 0', name=op.f('ck_claims_inbound_items_quantities')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_claims_inbound_items_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'connection_id', 'marketplace_id', 'shipment_id', 'fnsku', 'sku', name=op.f('pk_claims_inbound_items'))
    )


def downgrade() -> None:
    op.drop_table('claims_inbound_items')
