"""orders and order lines, unique per organization, channel and external id

Revision ID: 2026_11_22_orders
Revises: 2026_11_22_state_subject
Create Date: 2026-11-22 05:07:51.572723
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_11_22_orders'
down_revision: str | None = '2026_11_22_state_subject'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('orders',
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('number', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=50), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total_minor', sa.Integer(), nullable=False),
    sa.Column('customer_email', sa.String(length=320), nullable=True),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('provider_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('total_minor >= 0', name=op.f('ck_orders_total_minor')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_orders_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('organization_id', 'channel', 'external_id', name=op.f('uq_orders_organization_id_channel_external_id'))
    )
    op.create_index('ix_orders_org_placed', 'orders', ['organization_id', 'placed_at', 'id'], unique=False)
    op.create_index(op.f('ix_orders_organization_id'), 'orders', ['organization_id'], unique=False)
    op.create_table('order_lines',
    sa.Column('order_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('sku', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_minor', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_order_lines_quantity')),
    sa.CheckConstraint('unit_price_minor >= 0', name=op.f('ck_order_lines_unit_price_minor')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_order_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines'))
    )
    op.create_index(op.f('ix_order_lines_order_id'), 'order_lines', ['order_id'], unique=False)
    op.create_index(op.f('ix_order_lines_organization_id'), 'order_lines', ['organization_id'], unique=False)



def downgrade() -> None:

    op.drop_index(op.f('ix_order_lines_organization_id'), table_name='order_lines')
    op.drop_index(op.f('ix_order_lines_order_id'), table_name='order_lines')
    op.drop_table('order_lines')
    op.drop_index(op.f('ix_orders_organization_id'), table_name='orders')
    op.drop_index('ix_orders_org_placed', table_name='orders')
    op.drop_table('orders')

