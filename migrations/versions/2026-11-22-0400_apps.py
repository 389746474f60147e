"""identity: registered cross-app apps, their users' rotating refresh tokens, app signups

Revision ID: 2026_11_22_apps
Revises: 2026_11_22_accounts
Create Date: 2026-11-22 04:06:05.039205
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2026_11_22_apps'
down_revision: str | None = '2026_11_22_accounts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('apps',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('allowed_origins', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('redirect_urls', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('permissions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('client_secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_user_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("app_id ~ '^[a-z][a-z0-9-]{1,62}[a-z0-9]$'", name=op.f('ck_apps_app_id_format')),
    sa.CheckConstraint("jsonb_typeof(allowed_origins) = 'array'", name=op.f('ck_apps_allowed_origins_array')),
    sa.CheckConstraint("jsonb_typeof(permissions) = 'array'", name=op.f('ck_apps_permissions_array')),
    sa.CheckConstraint("jsonb_typeof(redirect_urls) = 'array'", name=op.f('ck_apps_redirect_urls_array')),
    sa.CheckConstraint("kind IN ('browser', 'service')", name=op.f('ck_apps_kind')),
    sa.ForeignKeyConstraint(['created_by_user_id'], ['users.id'], name=op.f('fk_apps_created_by_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_apps')),
    sa.UniqueConstraint('app_id', name=op.f('uq_apps_app_id'))
    )
    op.create_table('app_refresh_tokens',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('permissions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.app_id'], name=op.f('fk_app_refresh_tokens_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_app_refresh_tokens_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_app_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_app_refresh_tokens_token_hash'))
    )
    op.create_index(op.f('ix_app_refresh_tokens_app_id'), 'app_refresh_tokens', ['app_id'], unique=False)
    op.create_index('ix_app_refresh_tokens_family_id', 'app_refresh_tokens', ['family_id'], unique=False)
    op.create_index(op.f('ix_app_refresh_tokens_user_id'), 'app_refresh_tokens', ['user_id'], unique=False)
    op.create_table('app_signups',
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['apps.app_id'], name=op.f('fk_app_signups_app_id_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_app_signups_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_app_signups_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_signups')),
    sa.UniqueConstraint('app_id', 'user_id', name=op.f('uq_app_signups_app_id_user_id'))
    )
    op.create_index(op.f('ix_app_signups_user_id'), 'app_signups', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_app_signups_user_id'), table_name='app_signups')
    op.drop_table('app_signups')
    op.drop_index(op.f('ix_app_refresh_tokens_user_id'), table_name='app_refresh_tokens')
    op.drop_index('ix_app_refresh_tokens_family_id', table_name='app_refresh_tokens')
    op.drop_index(op.f('ix_app_refresh_tokens_app_id'), table_name='app_refresh_tokens')
    op.drop_table('app_refresh_tokens')
    op.drop_table('apps')
