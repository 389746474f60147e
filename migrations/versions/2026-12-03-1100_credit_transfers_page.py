"""credits: the history index serves only the history, so the idempotency probe always takes the
key's unique index

``ix_credit_transfers_page (organization_id, id)`` and the unique key
``(organization_id, key_scope, idempotency_key)`` both start with the organization. When the
statistics say an organization has about one transfer (analysed when each wallet held just its
first grant: ``n_distinct = -1``), the planner found the two equally cheap for the ledger
function's "does this key exist?" probe and took the smaller one: the page index, filtering every
transfer of the organization for the key. A wallet that had since taken 10,000 consumes then
spent 100 ms of database time per batch of 64 (measured), until autovacuum analysed the table
again. The page index is now partial on ``amount > 0`` — every row, by
``ck_credit_transfers_amount`` — which the history query states and the probe does not, so only
the history can use it, whatever the statistics say.

Revision ID: 2026_12_03_credit_transfers_page
Revises: 2026_12_03_app_auth_codes
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_12_03_credit_transfers_page"
down_revision: str | None = "2026_12_03_app_auth_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_credit_transfers_page", table_name="credit_transfers")
    op.create_index(
        "ix_credit_transfers_page",
        "credit_transfers",
        ["organization_id", "id"],
        postgresql_where="amount > 0",
    )


def downgrade() -> None:
    op.drop_index("ix_credit_transfers_page", table_name="credit_transfers")
    op.create_index("ix_credit_transfers_page", "credit_transfers", ["organization_id", "id"])
