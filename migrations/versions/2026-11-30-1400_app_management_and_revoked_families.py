"""Managing apps and revoking sign-ins everywhere: apps keep the secret replaced by the last
rotation with the end of its grace period (``previous_secret_hash``,
``previous_secret_expires_at``, set together), when the secret was rotated and when the app was
last changed; ``revoked_families`` lists the refresh-token families (the ``sid`` of access
tokens) revoked recently, which every process polls to refuse their access tokens.

Revision ID: 2026_11_30_app_management
Revises: 2026_11_30_key_activation
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_11_30_app_management"
down_revision: str | None = "2026_11_30_key_activation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_families",
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_revoked_families")),
    )
    op.create_index(
        op.f("ix_revoked_families_revoked_at"), "revoked_families", ["revoked_at"], unique=False
    )
    op.add_column("apps", sa.Column("previous_secret_hash", sa.String(length=64), nullable=True))
    op.add_column(
        "apps",
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("apps", sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("apps", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_apps_previous_secret_pair"),
        "apps",
        "(previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_apps_previous_secret_pair"), "apps", type_="check")
    op.drop_column("apps", "updated_at")
    op.drop_column("apps", "secret_rotated_at")
    op.drop_column("apps", "previous_secret_expires_at")
    op.drop_column("apps", "previous_secret_hash")
    op.drop_index(op.f("ix_revoked_families_revoked_at"), table_name="revoked_families")
    op.drop_table("revoked_families")
