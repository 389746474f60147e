"""inventory imports: the schema holding each upload's staging table, and one import per
(organization, Idempotency-Key)

Revision ID: 2026_12_01_import_staging
Revises: 2026_11_30_inventory
Create Date: 2026-12-01 09:00:00

An upload is copied (``COPY``) into its own UNLOGGED table ``inventory_staging.import_<id>``,
created by the upload's transaction and dropped by the one that finishes the import: it lives
outside ``public`` so that it is neither a model nor a table of the schema comparison, and a
crashed upload leaves nothing (the CREATE rolls back with it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_01_import_staging"
down_revision: str | None = "2026_11_30_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS inventory_staging")
    op.create_index(
        "uq_inventory_imports_idempotency",
        "inventory_imports",
        ["organization_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_inventory_imports_idempotency",
        table_name="inventory_imports",
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
    )
    op.execute("DROP SCHEMA IF EXISTS inventory_staging CASCADE")
