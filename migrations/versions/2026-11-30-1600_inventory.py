"""inventory: the catalog (products, their channel listings), locations, stock levels whose
CHECKs keep on_hand, reserved and available non-negative, the append-only stock_movements
journal, reservations with their lines, and bulk imports with their error reports

Revision ID: 2026_11_30_inventory
Revises: 2026_11_30_key_ring_holders
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_11_30_inventory'
down_revision: str | None = '2026_11_30_key_ring_holders'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = """
CREATE FUNCTION stock_movements_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'stock_movements is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only();
"""


def upgrade() -> None:
    op.create_table('inventory_imports',
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('file_format', sa.String(length=10), nullable=False),
    sa.Column('partial', sa.Boolean(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_valid', sa.Integer(), nullable=False),
    sa.Column('rows_applied', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('failure', sa.Text(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('receiving', 'validating', 'applying', 'succeeded', 'rejected', 'failed')", name=op.f('ck_inventory_imports_status')),
    sa.CheckConstraint('rows_read >= 0 AND rows_valid >= 0 AND rows_applied >= 0 AND error_count >= 0', name=op.f('ck_inventory_imports_counts')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_inventory_imports_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_imports'))
    )
    op.create_index(op.f('ix_inventory_imports_organization_id'), 'inventory_imports', ['organization_id'], unique=False)
    op.create_table('locations',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('marketplace_id', sa.String(length=20), nullable=True),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("kind IN ('warehouse', 'fba', 'channel')", name=op.f('ck_locations_kind')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_locations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_locations')),
    sa.UniqueConstraint('organization_id', 'code', name=op.f('uq_locations_organization_id_code'))
    )
    op.create_index(op.f('ix_locations_organization_id'), 'locations', ['organization_id'], unique=False)
    op.create_table('products',
    sa.Column('sku', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('asin', sa.String(length=20), nullable=True),
    sa.Column('fnsku', sa.String(length=20), nullable=True),
    sa.Column('barcode', sa.String(length=64), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_products_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('organization_id', 'sku', name=op.f('uq_products_organization_id_sku'))
    )
    op.create_index('ix_products_org_id', 'products', ['organization_id', 'id'], unique=False)
    op.create_index(op.f('ix_products_organization_id'), 'products', ['organization_id'], unique=False)
    op.create_table('reservations',
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('active', 'committed', 'released', 'expired')", name=op.f('ck_reservations_status')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_reservations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservations')),
    sa.UniqueConstraint('organization_id', 'idempotency_key', name=op.f('uq_reservations_organization_id_idempotency_key'))
    )
    op.create_index('ix_reservations_expiry', 'reservations', ['expires_at'], unique=False, postgresql_where=sa.text("status = 'active'"))
    op.create_index(op.f('ix_reservations_organization_id'), 'reservations', ['organization_id'], unique=False)
    op.create_table('stock_movements',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('delta_on_hand', sa.Integer(), nullable=False),
    sa.Column('delta_reserved', sa.Integer(), nullable=False),
    sa.Column('on_hand_after', sa.Integer(), nullable=False),
    sa.Column('reserved_after', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('on_hand_after >= 0 AND reserved_after >= 0', name=op.f('ck_stock_movements_after')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_stock_movements_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stock_movements'))
    )
    op.create_index('ix_stock_movements_level', 'stock_movements', ['organization_id', 'product_id', 'location_id', 'id'], unique=False)
    op.create_index(op.f('ix_stock_movements_organization_id'), 'stock_movements', ['organization_id'], unique=False)
    op.create_index('uq_stock_movements_idempotency', 'stock_movements', ['organization_id', 'idempotency_key', 'product_id', 'location_id', 'reason'], unique=True, postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.create_table('inventory_import_errors',
    sa.Column('import_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.BigInteger(), nullable=False),
    sa.Column('column_name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('message', sa.String(length=300), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['inventory_imports.id'], name=op.f('fk_inventory_import_errors_import_id_inventory_imports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_inventory_import_errors_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('import_id', 'row_number', 'column_name', name=op.f('pk_inventory_import_errors'))
    )
    op.create_index(op.f('ix_inventory_import_errors_organization_id'), 'inventory_import_errors', ['organization_id'], unique=False)
    op.create_table('product_listings',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_product_listings_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_listings_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_listings')),
    sa.UniqueConstraint('organization_id', 'connection_id', 'external_id', name=op.f('uq_product_listings_organization_id_connection_id_external_id'))
    )
    op.create_index(op.f('ix_product_listings_organization_id'), 'product_listings', ['organization_id'], unique=False)
    op.create_index(op.f('ix_product_listings_product_id'), 'product_listings', ['product_id'], unique=False)
    op.create_table('reservation_lines',
    sa.Column('reservation_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_reservation_lines_quantity')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_reservation_lines_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reservation_id'], ['reservations.id'], name=op.f('fk_reservation_lines_reservation_id_reservations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reservation_lines')),
    sa.UniqueConstraint('reservation_id', 'product_id', 'location_id', name=op.f('uq_reservation_lines_reservation_id_product_id_location_id'))
    )
    op.create_index(op.f('ix_reservation_lines_organization_id'), 'reservation_lines', ['organization_id'], unique=False)
    op.create_index(op.f('ix_reservation_lines_reservation_id'), 'reservation_lines', ['reservation_id'], unique=False)
    op.create_table('stock_levels',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('location_id', sa.Uuid(), nullable=False),
    sa.Column('on_hand', sa.Integer(), nullable=False),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('on_hand >= 0', name=op.f('ck_stock_levels_on_hand')),
    sa.CheckConstraint('reserved <= on_hand', name=op.f('ck_stock_levels_reserved_within_on_hand')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_stock_levels_reserved')),
    sa.ForeignKeyConstraint(['location_id'], ['locations.id'], name=op.f('fk_stock_levels_location_id_locations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_stock_levels_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_stock_levels_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('organization_id', 'product_id', 'location_id', name=op.f('pk_stock_levels'))
    )
    op.create_index('ix_stock_levels_org_location', 'stock_levels', ['organization_id', 'location_id'], unique=False)
    op.create_index(op.f('ix_stock_levels_organization_id'), 'stock_levels', ['organization_id'], unique=False)
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stock_movements_append_only ON stock_movements")
    op.execute("DROP FUNCTION IF EXISTS stock_movements_append_only()")
    op.drop_index(op.f('ix_stock_levels_organization_id'), table_name='stock_levels')
    op.drop_index('ix_stock_levels_org_location', table_name='stock_levels')
    op.drop_table('stock_levels')
    op.drop_index(op.f('ix_reservation_lines_reservation_id'), table_name='reservation_lines')
    op.drop_index(op.f('ix_reservation_lines_organization_id'), table_name='reservation_lines')
    op.drop_table('reservation_lines')
    op.drop_index(op.f('ix_product_listings_product_id'), table_name='product_listings')
    op.drop_index(op.f('ix_product_listings_organization_id'), table_name='product_listings')
    op.drop_table('product_listings')
    op.drop_index(op.f('ix_inventory_import_errors_organization_id'), table_name='inventory_import_errors')
    op.drop_table('inventory_import_errors')
    op.drop_index('uq_stock_movements_idempotency', table_name='stock_movements', postgresql_where=sa.text('idempotency_key IS NOT NULL'))
    op.drop_index(op.f('ix_stock_movements_organization_id'), table_name='stock_movements')
    op.drop_index('ix_stock_movements_level', table_name='stock_movements')
    op.drop_table('stock_movements')
    op.drop_index(op.f('ix_reservations_organization_id'), table_name='reservations')
    op.drop_index('ix_reservations_expiry', table_name='reservations', postgresql_where=sa.text("status = 'active'"))
    op.drop_table('reservations')
    op.drop_index(op.f('ix_products_organization_id'), table_name='products')
    op.drop_index('ix_products_org_id', table_name='products')
    op.drop_table('products')
    op.drop_index(op.f('ix_locations_organization_id'), table_name='locations')
    op.drop_table('locations')
    op.drop_index(op.f('ix_inventory_imports_organization_id'), table_name='inventory_imports')
    op.drop_table('inventory_imports')
