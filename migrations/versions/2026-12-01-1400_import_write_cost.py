"""inventory imports at COPY speed: the per-row checks that the import's set-based validation
already proves are dropped from stock_levels and stock_movements

Measured on a scratch database (1,000,000 new levels of one organization, 100,000 products x 10
locations, the import's upsert and journal): the foreign keys of stock_levels to products and
locations took 19.5 s of the inserts against 5.3 s without them (the import on the whole: 61.3
s through HTTP against 31.8 s for raw COPY + upsert). An RI trigger runs a lookup per inserted
row; the import has already resolved every row's SKU and location code to an id of the
organization's own, unarchived products and locations in one join, so the check proves nothing
more. Measured again here as CPU time of the database backend (the machine shared, so wall
times varied): the apply of 1,000,000 new levels took 27.4 s CPU before; without the two foreign
keys 18.6 s; with the journal's key index left out for imports and rows written in key order
about 10.5 s; the organization's foreign keys on levels and movements were 5.7 s of it (the one
on levels is kept). Every other writer of levels (adjustments, reservations, orders, the FBA sync) takes its
ids from the organization's products and locations in the same way.

* ``fk_stock_levels_product_id_products``, ``fk_stock_levels_location_id_locations`` dropped.
  Their ON DELETE CASCADE removed a product's or location's levels with it. Nothing in the
  application deletes products or locations (they are archived: ``archived_at``, and an
  archived one is refused by every writer); for a row deleted by hand the cascade is kept by a
  statement-level trigger (one DELETE of the levels per deleting statement, no cost on insert).
  The journal never had these keys (movements outlive what they describe).
* ``fk_stock_movements_organization_id_organizations`` dropped: its CASCADE could never run
  (the append-only trigger refuses every DELETE of a movement, so deleting an organization
  with movements is refused either way, as before), and every movement is written in the
  statement that writes its level, whose ``organization_id`` keeps its foreign key (deleting an
  organization still cascades to its levels; nothing in the application deletes organizations).
* ``ix_stock_levels_organization_id`` and ``ix_stock_movements_organization_id`` dropped: the
  primary key (organization, product, location) and ``ix_stock_movements_level`` (organization,
  product, location, id) start with the organization and serve every lookup by it.
* ``uq_stock_movements_idempotency`` no longer covers reason ``import``: an import's movements
  carry its key ``import:<id>`` but are applied once by the import itself (the import row is
  locked and its status checked in the transaction that applies it and marks it finished), so
  the index entry per imported row (a third of the journal's insert cost) guarded nothing.

Revision ID: 2026_12_01_import_write_cost
Revises: 2026_12_01_fba_snapshots
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_01_import_write_cost"
down_revision: str | None = "2026_12_01_fba_snapshots"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASCADE_TRIGGERS = """
CREATE FUNCTION stock_levels_of_deleted_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stock_levels sl USING gone
    WHERE sl.organization_id = gone.organization_id AND sl.product_id = gone.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER products_delete_stock_levels AFTER DELETE ON products
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION stock_levels_of_deleted_products();
CREATE FUNCTION stock_levels_of_deleted_locations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stock_levels sl USING gone
    WHERE sl.organization_id = gone.organization_id AND sl.location_id = gone.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER locations_delete_stock_levels AFTER DELETE ON locations
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION stock_levels_of_deleted_locations();
"""

DROP_CASCADE_TRIGGERS = """
DROP TRIGGER IF EXISTS locations_delete_stock_levels ON locations;
DROP FUNCTION IF EXISTS stock_levels_of_deleted_locations();
DROP TRIGGER IF EXISTS products_delete_stock_levels ON products;
DROP FUNCTION IF EXISTS stock_levels_of_deleted_products();
"""

IDEMPOTENCY_COLUMNS = ["organization_id", "idempotency_key", "product_id", "location_id", "reason"]


def upgrade() -> None:
    op.drop_constraint("fk_stock_levels_product_id_products", "stock_levels", type_="foreignkey")
    op.drop_constraint("fk_stock_levels_location_id_locations", "stock_levels", type_="foreignkey")
    op.drop_constraint(
        "fk_stock_movements_organization_id_organizations", "stock_movements", type_="foreignkey"
    )
    op.drop_index("ix_stock_levels_organization_id", table_name="stock_levels")
    op.drop_index("ix_stock_movements_organization_id", table_name="stock_movements")
    op.drop_index(
        "uq_stock_movements_idempotency",
        table_name="stock_movements",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index(
        "uq_stock_movements_idempotency",
        "stock_movements",
        IDEMPOTENCY_COLUMNS,
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL AND reason <> 'import'"),
    )
    op.execute(CASCADE_TRIGGERS)


def downgrade() -> None:
    op.execute(DROP_CASCADE_TRIGGERS)
    op.drop_index(
        "uq_stock_movements_idempotency",
        table_name="stock_movements",
        postgresql_where=sa.text("idempotency_key IS NOT NULL AND reason <> 'import'"),
    )
    op.create_index(
        "uq_stock_movements_idempotency",
        "stock_movements",
        IDEMPOTENCY_COLUMNS,
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.create_index("ix_stock_movements_organization_id", "stock_movements", ["organization_id"])
    op.create_index("ix_stock_levels_organization_id", "stock_levels", ["organization_id"])
    op.create_foreign_key(
        "fk_stock_movements_organization_id_organizations",
        "stock_movements",
        "organizations",
        ["organization_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_stock_levels_location_id_locations",
        "stock_levels",
        "locations",
        ["location_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_stock_levels_product_id_products",
        "stock_levels",
        "products",
        ["product_id"],
        ["id"],
        ondelete="CASCADE",
    )
