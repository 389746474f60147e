"""stock_levels loses its foreign key to organizations: its per-row check was the largest
single cost of a bulk import's levels

Measured as CPU time of the database backend (1,000,000 new levels of one organization, the
import's ``INSERT … SELECT`` in key order; each figure twice): 6.6 s with the key, 3.2 s
without it. An RI check runs a lookup of the organization (and locks it FOR KEY SHARE) per
inserted row; every writer of levels (imports, adjustments, reservations, orders, the FBA sync)
takes the organization from the principal or the job's tenant and the product and location ids
from that organization's own rows, so the check proves nothing more.

Its ON DELETE CASCADE is kept by a statement-level trigger on organizations (one DELETE of the
levels per deleting statement, no cost on insert), like the triggers that replaced the product
and location cascades (2026_12_01_import_write_cost). Nothing in the application deletes
organizations.

Revision ID: 2026_12_01_levels_org_fk
Revises: 2026_12_01_import_write_cost
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_01_levels_org_fk"
down_revision: str | None = "2026_12_01_import_write_cost"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASCADE_TRIGGER = """
CREATE FUNCTION stock_levels_of_deleted_organizations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stock_levels sl USING gone WHERE sl.organization_id = gone.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER organizations_delete_stock_levels AFTER DELETE ON organizations
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION stock_levels_of_deleted_organizations();
"""

DROP_CASCADE_TRIGGER = """
DROP TRIGGER IF EXISTS organizations_delete_stock_levels ON organizations;
DROP FUNCTION IF EXISTS stock_levels_of_deleted_organizations();
"""


def upgrade() -> None:
    op.drop_constraint(
        "fk_stock_levels_organization_id_organizations", "stock_levels", type_="foreignkey"
    )
    op.execute(CASCADE_TRIGGER)


def downgrade() -> None:
    op.execute(DROP_CASCADE_TRIGGER)
    op.create_foreign_key(
        "fk_stock_levels_organization_id_organizations",
        "stock_levels",
        "organizations",
        ["organization_id"],
        ["id"],
        ondelete="CASCADE",
    )
