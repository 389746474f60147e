"""orders: unique per (organization, connection, external id) — two stores of one organization
number their orders independently — and connection_id NOT NULL

Orders used to be unique per (organization, channel, external id): the order 1 of one
WooCommerce store and the order 1 of another store of the same organization were one row, each
store's version overwriting the other's. The key is now the store (the connection).

connection_id becomes NOT NULL. Every writer had one (webhook deliveries are resolved to their
connection, syncs run for one), so rows without it are not expected; any found are given the
organization's connection of the same provider (an active one first, else the newest). A row
still without one (its organization never connected that provider) stops the migration with a
message rather than being guessed at or deleted.

Orders overwritten by another store before this revision are not recoverable from the table: a
full sync of each store (POST /api/v1/sync-jobs) brings them back.

Downgrade: the old key holds one row per (organization, channel, external id); for orders that
collide across stores only the most recently updated (provider updated_at, then id) is kept.

Revision ID: 2026_11_30_orders_by_connection
Revises: 2026_11_30_order_amounts_bigint
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_11_30_orders_by_connection'
down_revision: str | None = '2026_11_30_order_amounts_bigint'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE orders o SET connection_id = ("
        " SELECT c.id FROM connections c"
        " WHERE c.organization_id = o.organization_id AND c.provider = o.channel"
        " ORDER BY (c.status <> 'disconnected') DESC, c.created_at DESC, c.id DESC LIMIT 1)"
        " WHERE o.connection_id IS NULL"
    )
    op.execute(
        "DO $$ DECLARE orphans bigint; BEGIN"
        " SELECT count(*) INTO orphans FROM orders WHERE connection_id IS NULL;"
        " IF orphans > 0 THEN RAISE EXCEPTION"
        " '% order(s) belong to no connection of their channel; give them a connection_id"
        " (or delete them) and run the migration again', orphans;"
        " END IF; END $$"
    )
    op.alter_column('orders', 'connection_id', existing_type=sa.Uuid(), nullable=False)
    op.drop_constraint(op.f('uq_orders_organization_id_channel_external_id'), 'orders', type_='unique')
    op.create_unique_constraint(op.f('uq_orders_organization_id_connection_id_external_id'), 'orders', ['organization_id', 'connection_id', 'external_id'])


def downgrade() -> None:
    op.execute(
        "DELETE FROM orders o USING orders newer"
        " WHERE newer.organization_id = o.organization_id AND newer.channel = o.channel"
        " AND newer.external_id = o.external_id AND newer.id <> o.id"
        " AND (newer.provider_updated_at, newer.id) > (o.provider_updated_at, o.id)"
    )
    op.drop_constraint(op.f('uq_orders_organization_id_connection_id_external_id'), 'orders', type_='unique')
    op.create_unique_constraint(op.f('uq_orders_organization_id_channel_external_id'), 'orders', ['organization_id', 'channel', 'external_id'])
    op.alter_column('orders', 'connection_id', existing_type=sa.Uuid(), nullable=True)
