"""identity: one-time authorization codes of the embedded login (/embed/login)

Revision ID: 2026_12_03_app_auth_codes
Revises: 2026_12_03_commission_receipts
Create Date: 2026-12-01 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2026_12_03_app_auth_codes"
down_revision: str | None = "2026_12_03_commission_receipts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_auth_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("code_challenge", sa.String(length=43), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("family_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"],
            ["apps.app_id"],
            name=op.f("fk_app_auth_codes_app_id_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_app_auth_codes_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_app_auth_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_auth_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_app_auth_codes_code_hash")),
    )
    op.create_index(op.f("ix_app_auth_codes_app_id"), "app_auth_codes", ["app_id"], unique=False)
    op.create_index(op.f("ix_app_auth_codes_user_id"), "app_auth_codes", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_app_auth_codes_user_id"), table_name="app_auth_codes")
    op.drop_index(op.f("ix_app_auth_codes_app_id"), table_name="app_auth_codes")
    op.drop_table("app_auth_codes")
