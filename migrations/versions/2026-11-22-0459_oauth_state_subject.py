"""oauth_states.subject: what a flow is about (a Shopify shop domain)

Revision ID: 2026_11_22_state_subject
Revises: 2026_11_22_webhooks
Create Date: 2026-11-22 04:59:19.834478
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '2026_11_22_state_subject'
down_revision: str | None = '2026_11_22_webhooks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.add_column('oauth_states', sa.Column('subject', sa.String(length=255), nullable=True))



def downgrade() -> None:

    op.drop_column('oauth_states', 'subject')

