"""connections: per-organization provider accounts with encrypted secrets and refresh state

Revision ID: 2026_11_22_connections
Revises: 2026_11_22_apps
Create Date: 2026-11-22 04:24:04.159012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2026_11_22_connections'
down_revision: str | None = '2026_11_22_apps'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('connections',
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('external_account_id', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=20), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('scopes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('status_reason', sa.String(length=500), nullable=True),
    sa.Column('client_id', sa.String(length=300), nullable=True),
    sa.Column('client_secret', sa.Text(), nullable=True),
    sa.Column('access_token', sa.Text(), nullable=True),
    sa.Column('refresh_token', sa.Text(), nullable=True),
    sa.Column('access_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_failures', sa.Integer(), nullable=False),
    sa.Column('next_refresh_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('disconnected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("environment IN ('production', 'sandbox')", name=op.f('ck_connections_environment')),
    sa.CheckConstraint("status IN ('connected', 'error', 'needs_reauth', 'disconnected')", name=op.f('ck_connections_status')),
    sa.CheckConstraint('refresh_failures >= 0', name=op.f('ck_connections_refresh_failures')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_connections'))
    )
    op.create_index(op.f('ix_connections_organization_id'), 'connections', ['organization_id'], unique=False)
    op.create_index('ix_connections_refresh_due', 'connections', ['access_expires_at'], unique=False, postgresql_where=sa.text("status IN ('connected', 'error')"))
    op.create_index('uq_connections_active_account', 'connections', ['organization_id', 'provider', 'external_account_id'], unique=True, postgresql_where=sa.text("status <> 'disconnected'"))



def downgrade() -> None:

    op.drop_index('uq_connections_active_account', table_name='connections', postgresql_where=sa.text("status <> 'disconnected'"))
    op.drop_index('ix_connections_refresh_due', table_name='connections', postgresql_where=sa.text("status IN ('connected', 'error')"))
    op.drop_index(op.f('ix_connections_organization_id'), table_name='connections')
    op.drop_table('connections')

