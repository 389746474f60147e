"""orders: amounts in BIGINT minor units (2^31 minor units is too little in VND or KRW)

Revision ID: 2026_11_30_order_amounts_bigint
Revises: 2026_11_22_sync_jobs
Create Date: 2026-11-30 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_11_30_order_amounts_bigint'
down_revision: str | None = '2026_11_22_sync_jobs'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column('orders', 'total_minor', type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)
    op.alter_column('order_lines', 'unit_price_minor', type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    op.alter_column('order_lines', 'unit_price_minor', type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
    op.alter_column('orders', 'total_minor', type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False)
