"""key_ring_holders: the encryption keys each running process holds

Every API and worker process records (and refreshes every few seconds) the key ids of its
encryption key ring; ``sellerhub keys rotate`` re-encrypts only once every live process holds
the new active key. The rows are bookkeeping: a process rewrites its own at start.

Revision ID: 2026_11_30_key_ring_holders
Revises: 2026_11_30_app_management
Create Date: 2026-11-30 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_30_key_ring_holders"
down_revision: str | None = "2026_11_30_app_management"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "key_ring_holders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("command", sa.String(length=200), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("active_kid", sa.String(length=32), nullable=False),
        sa.Column("kids", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_ring_holders")),
    )
    op.create_index(
        op.f("ix_key_ring_holders_seen_at"), "key_ring_holders", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_key_ring_holders_seen_at"), table_name="key_ring_holders")
    op.drop_table("key_ring_holders")
