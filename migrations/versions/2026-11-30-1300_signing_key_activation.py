"""signing_keys.activates_at: the time a key starts signing, stored with the key; and
platform_audit_events, the append-only trail of the platform's own acts (signing-key
rotations, platform admins managing apps)

Every process used to derive the signing key from its own last reload (created_at + 90 s, or
the oldest key when none was that old), so processes that reloaded at different times signed
with different keys. The activation time is now a column that every process compares with the
clock. Existing keys: the first one signed from its creation; each later one from 90 seconds
after its creation, the rule that created it.

Revision ID: 2026_11_30_key_activation
Revises: 2026_11_30_orders_by_connection
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '2026_11_30_key_activation'
down_revision: str | None = '2026_11_30_orders_by_connection'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE FUNCTION platform_audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'platform_audit_events is append-only (% refused)', TG_OP;
END;
$$;
CREATE TRIGGER platform_audit_events_append_only BEFORE UPDATE OR DELETE
    ON platform_audit_events FOR EACH ROW EXECUTE FUNCTION platform_audit_events_append_only();
"""


def upgrade() -> None:
    op.add_column(
        'signing_keys',
        sa.Column('activates_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    )
    op.execute(
        "UPDATE signing_keys k SET activates_at = CASE WHEN EXISTS ("
        " SELECT 1 FROM signing_keys o WHERE (o.created_at, o.id) < (k.created_at, k.id))"
        " THEN k.created_at + interval '90 seconds' ELSE k.created_at END"
    )
    op.create_table('platform_audit_events',
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('actor_user_id', sa.Uuid(), nullable=True),
    sa.Column('actor_type', sa.String(length=20), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=100), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_audit_events'))
    )
    op.create_index(op.f('ix_platform_audit_events_action'), 'platform_audit_events', ['action'], unique=False)
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS platform_audit_events_append_only ON platform_audit_events")
    op.execute("DROP FUNCTION IF EXISTS platform_audit_events_append_only()")
    op.drop_index(op.f('ix_platform_audit_events_action'), table_name='platform_audit_events')
    op.drop_table('platform_audit_events')
    op.drop_column('signing_keys', 'activates_at')
