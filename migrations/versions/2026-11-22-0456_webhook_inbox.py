"""webhooks: the inbox (unique per source and provider event id); connections.webhook_secret

Revision ID: 2026_11_22_webhooks
Revises: 2026_11_22_connections
Create Date: 2026-11-22 04:56:25.704261
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2026_11_22_webhooks'
down_revision: str | None = '2026_11_22_connections'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('webhook_events',
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('organization_id', sa.Uuid(), nullable=True),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('account', sa.String(length=255), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'processed', 'failed')", name=op.f('ck_webhook_events_status')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_webhook_events_organization_id_organizations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('source', 'external_id', name=op.f('uq_webhook_events_source_external_id'))
    )
    op.create_index(op.f('ix_webhook_events_organization_id'), 'webhook_events', ['organization_id'], unique=False)
    op.create_index('ix_webhook_events_pending', 'webhook_events', ['received_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.add_column('connections', sa.Column('webhook_secret', sa.Text(), nullable=True))



def downgrade() -> None:

    op.drop_column('connections', 'webhook_secret')
    op.drop_index('ix_webhook_events_pending', table_name='webhook_events', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index(op.f('ix_webhook_events_organization_id'), table_name='webhook_events')
    op.drop_table('webhook_events')

