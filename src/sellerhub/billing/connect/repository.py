"""Every SQL statement of the sellers' Connect accounts."""

from __future__ import annotations

import uuid
from typing import LiteralString

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.connect.models import StripeAccount
from sellerhub.db.tenancy import system_context

# The organization's account for a page (a ``db.reads.Read``; NULL when there is none).
ACCOUNT_SQL: LiteralString = (
    "SELECT json_build_object('stripe_account_id', stripe_account_id, 'country', country,"
    " 'charges_enabled', charges_enabled, 'payouts_enabled', payouts_enabled,"
    " 'details_submitted', details_submitted, 'requirements_due', requirements_due,"
    " 'disabled_reason', disabled_reason, 'updated_at', stripe_state_at)"
    " FROM stripe_accounts WHERE organization_id = %(organization_id)s"
)


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_organization(
        self, organization_id: uuid.UUID, *, lock: bool = False
    ) -> StripeAccount | None:
        query = select(StripeAccount).where(StripeAccount.organization_id == organization_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def insert_once(self, values: dict[str, object]) -> bool:
        """The organization's row unless it has one (UNIQUE organization); True when inserted."""
        inserted = await self.session.execute(
            insert(StripeAccount)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["organization_id"])
            .returning(StripeAccount.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def owner_of(self, stripe_account_id: str) -> uuid.UUID | None:
        """The organization of a connected account, before any tenant is known (a webhook)."""
        with system_context(self.session, "billing: the organization of a Connect account"):
            query = select(StripeAccount.organization_id).where(
                StripeAccount.stripe_account_id == stripe_account_id
            )
            return (await self.session.execute(query)).scalar_one_or_none()

    async def awaiting_creation(self, limit: int) -> list[uuid.UUID]:
        """Organizations whose account Stripe has not given us yet (every organization)."""
        with system_context(self.session, "billing: Connect accounts still to create"):
            query = (
                select(StripeAccount.organization_id)
                .where(StripeAccount.stripe_account_id.is_(None))
                .order_by(StripeAccount.created_at)
                .limit(limit)
            )
            return list((await self.session.execute(query)).scalars().all())

    async def set_account_id(self, organization_id: uuid.UUID, stripe_account_id: str) -> None:
        """Record the account Stripe made, unless one is recorded already."""
        await self.session.execute(
            update(StripeAccount)
            .where(
                StripeAccount.organization_id == organization_id,
                StripeAccount.stripe_account_id.is_(None),
            )
            .values(stripe_account_id=stripe_account_id)
            .execution_options(synchronize_session="fetch")
        )
