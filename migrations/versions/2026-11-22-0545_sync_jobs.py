"""sync jobs: tracked, resumable order pulls of a channel

Revision ID: 2026_11_22_sync_jobs
Revises: 2026_11_22_orders
Create Date: 2026-11-22 05:45:45.468472
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_11_22_sync_jobs'
down_revision: str | None = '2026_11_22_orders'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sync_jobs',
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('resource', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('cursor', sa.String(length=2000), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('fetched', sa.Integer(), nullable=False),
    sa.Column('changed', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('throttled', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('lease', sa.Uuid(), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("mode IN ('full', 'incremental')", name=op.f('ck_sync_jobs_mode')),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name=op.f('ck_sync_jobs_status')),
    sa.CheckConstraint('pages >= 0 AND fetched >= 0 AND changed >= 0', name=op.f('ck_sync_jobs_counts')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sync_jobs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_jobs'))
    )
    op.create_index('ix_sync_jobs_heartbeat', 'sync_jobs', ['heartbeat_at'], unique=False, postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_index('ix_sync_jobs_org_id', 'sync_jobs', ['organization_id', 'id'], unique=False)
    op.create_index(op.f('ix_sync_jobs_organization_id'), 'sync_jobs', ['organization_id'], unique=False)
    op.create_index('uq_sync_jobs_active', 'sync_jobs', ['organization_id', 'connection_id', 'resource'], unique=True, postgresql_where=sa.text("status IN ('queued', 'running')"))


def downgrade() -> None:
    op.drop_index('uq_sync_jobs_active', table_name='sync_jobs', postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.drop_index(op.f('ix_sync_jobs_organization_id'), table_name='sync_jobs')
    op.drop_index('ix_sync_jobs_org_id', table_name='sync_jobs')
    op.drop_index('ix_sync_jobs_heartbeat', table_name='sync_jobs', postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.drop_table('sync_jobs')
