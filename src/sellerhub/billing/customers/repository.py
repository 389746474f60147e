"""Every SQL statement of the Stripe customers and their cards."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import LiteralString

from sqlalchemy import func, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.customers.models import StripeCustomer, StripePaymentMethod
from sellerhub.core.ids import uuid7
from sellerhub.db.tenancy import system_context

# The live cards for a page (a ``db.reads.Read``: the default first, then the newest).
CARDS_SQL: LiteralString = (
    "SELECT coalesce(json_agg(json_build_object('id', id, 'brand', brand, 'last4', last4,"
    " 'exp_month', exp_month, 'exp_year', exp_year, 'is_default', is_default)"
    " ORDER BY is_default DESC, set_up_at DESC, id DESC), '[]'::json)"
    " FROM stripe_payment_methods"
    " WHERE organization_id = %(organization_id)s AND removed_at IS NULL"
)


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_organization(self, organization_id: uuid.UUID) -> StripeCustomer | None:
        query = select(StripeCustomer).where(StripeCustomer.organization_id == organization_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def insert_once(self, organization_id: uuid.UUID, stripe_customer_id: str) -> None:
        """The organization's customer, unless it has one already (UNIQUE organization): of two
        requests racing, both created the same customer at Stripe (one Idempotency-Key)."""
        await self.session.execute(
            insert(StripeCustomer)
            .values(
                id=uuid7(),
                organization_id=organization_id,
                stripe_customer_id=stripe_customer_id,
            )
            .on_conflict_do_nothing(index_elements=["organization_id"])
        )

    async def owner_of(self, stripe_customer_id: str) -> uuid.UUID | None:
        """The organization of a Stripe customer, before any tenant is known (a webhook)."""
        with system_context(self.session, "billing: the organization of a Stripe customer"):
            query = select(StripeCustomer.organization_id).where(
                StripeCustomer.stripe_customer_id == stripe_customer_id
            )
            return (await self.session.execute(query)).scalar_one_or_none()


class PaymentMethodRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def live(self, organization_id: uuid.UUID) -> Sequence[StripePaymentMethod]:
        """The cards not removed, the newest set up first."""
        query = (
            select(StripePaymentMethod)
            .where(
                StripePaymentMethod.organization_id == organization_id,
                StripePaymentMethod.removed_at.is_(None),
            )
            .order_by(StripePaymentMethod.set_up_at.desc(), StripePaymentMethod.id.desc())
        )
        return (await self.session.execute(query)).scalars().all()

    async def get(
        self, organization_id: uuid.UUID, row_id: uuid.UUID, *, lock: bool = False
    ) -> StripePaymentMethod | None:
        query = select(StripePaymentMethod).where(
            StripePaymentMethod.organization_id == organization_id,
            StripePaymentMethod.id == row_id,
        )
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_stripe_id(self, stripe_payment_method_id: str) -> StripePaymentMethod | None:
        query = select(StripePaymentMethod).where(
            StripePaymentMethod.stripe_payment_method_id == stripe_payment_method_id
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def insert_once(self, values: dict[str, object]) -> bool:
        """Insert the card unless it is known (UNIQUE Stripe id); True when this inserted it."""
        inserted = await self.session.execute(
            insert(StripePaymentMethod)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["stripe_payment_method_id"])
            .returning(StripePaymentMethod.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def default(self, organization_id: uuid.UUID) -> StripePaymentMethod | None:
        query = select(StripePaymentMethod).where(
            StripePaymentMethod.organization_id == organization_id,
            StripePaymentMethod.is_default.is_(True),
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def lock_organization(self, organization_id: uuid.UUID) -> None:
        """Serialise changes of one organization's cards (the default moves between rows): a
        transaction-scoped advisory lock on the organization."""
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"cards:{organization_id}", 0)))
        )

    async def make_default(self, organization_id: uuid.UUID, row_id: uuid.UUID | None) -> None:
        """``row_id`` becomes the one default (None: no default), in two statements so the
        partial unique index never sees two."""
        await self.session.execute(
            update(StripePaymentMethod)
            .where(
                StripePaymentMethod.organization_id == organization_id,
                StripePaymentMethod.is_default.is_(True),
                StripePaymentMethod.id != row_id if row_id is not None else true(),
            )
            .values(is_default=False)
            .execution_options(synchronize_session="fetch")
        )
        if row_id is not None:
            await self.session.execute(
                update(StripePaymentMethod)
                .where(
                    StripePaymentMethod.organization_id == organization_id,
                    StripePaymentMethod.id == row_id,
                )
                .values(is_default=True)
                .execution_options(synchronize_session="fetch")
            )

    async def mark_removed(self, row: StripePaymentMethod, now: datetime) -> None:
        row.is_default = False
        row.removed_at = now
        await self.session.flush()
