"""Every SQL statement of commissions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions.models import Commission, CommissionRate
from sellerhub.billing.commissions.rules import CommissionState
from sellerhub.billing.customers.models import StripePaymentMethod


class CommissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_once(self, values: dict[str, object]) -> bool:
        """Insert unless the recovery has its commission already (UNIQUE recovery_id); True
        when this call inserted it. The caller scopes ``values`` to the session's tenant."""
        inserted = await self.session.execute(
            insert(Commission)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["recovery_id"])
            .returning(Commission.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def get(self, commission_id: uuid.UUID, *, lock: bool = False) -> Commission | None:
        query = select(Commission).where(Commission.id == commission_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_recovery(self, recovery_id: uuid.UUID, *, lock: bool = False) -> Commission | None:
        query = select(Commission).where(Commission.recovery_id == recovery_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_payment_intent(self, intent_id: str, *, lock: bool = False) -> Commission | None:
        query = select(Commission).where(Commission.payment_intent_id == intent_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_charge(self, charge_id: str, *, lock: bool = False) -> Commission | None:
        query = select(Commission).where(Commission.charge_id == charge_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def start_attempt(
        self,
        commission_id: uuid.UUID,
        *,
        customer_id: str,
        payment_method_id: str,
        now: datetime,
        recheck_at: datetime,
    ) -> int | None:
        """Take the next attempt: one conditional UPDATE, so of two workers racing for the
        same commission one gets the attempt number and the other None. Only a commission
        waiting to be charged (pending, no card, or failed and due) can start one."""
        moved = await self.session.execute(
            update(Commission)
            .where(
                Commission.id == commission_id,
                or_(
                    Commission.state.in_([CommissionState.PENDING, CommissionState.NO_CARD]),
                    (Commission.state == CommissionState.FAILED)
                    & (Commission.next_attempt_at.is_not(None))
                    & (Commission.next_attempt_at <= now),
                ),
            )
            .values(
                state=CommissionState.PROCESSING,
                attempt=Commission.attempt + 1,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
                attempt_sent_at=now,
                next_attempt_at=recheck_at,
                payment_intent_id=None,
                stripe_status=None,
                last_event_created=None,
                reason=None,
            )
            .returning(Commission.attempt)
            .execution_options(synchronize_session=False)
        )
        return moved.scalar_one_or_none()

    async def due(self, now: datetime, limit: int) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """(organization, commission) of the commissions the periodic job should move on, at
        most ``limit`` of each kind: those whose time came (a retry after a decline, the
        re-check of an open attempt), the soonest first; then those waiting to be sent
        (pending, or waiting for a card whose organization now has a default card). Any
        organization: the caller is a system job. A crowd of commissions waiting for cards
        never holds back the due ones."""
        overdue = await self.session.execute(
            select(Commission.organization_id, Commission.id)
            .where(
                Commission.state.in_([CommissionState.PROCESSING, CommissionState.FAILED]),
                Commission.next_attempt_at.is_not(None),
                Commission.next_attempt_at <= now,
            )
            .order_by(Commission.next_attempt_at, Commission.id)
            .limit(limit)
        )
        card_saved = exists(
            select(StripePaymentMethod.id).where(
                StripePaymentMethod.organization_id == Commission.organization_id,
                StripePaymentMethod.is_default.is_(True),
                StripePaymentMethod.removed_at.is_(None),
            )
        )
        waiting = await self.session.execute(
            select(Commission.organization_id, Commission.id)
            .where(
                or_(
                    Commission.state == CommissionState.PENDING,
                    (Commission.state == CommissionState.NO_CARD) & card_saved,
                )
            )
            .order_by(Commission.id)
            .limit(limit)
        )
        return [(org, ident) for org, ident in [*overdue.all(), *waiting.all()]]

    async def page(
        self, *, limit: int, before: uuid.UUID | None, state: str | None
    ) -> Sequence[Commission]:
        query = select(Commission).order_by(Commission.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(Commission.id < before)
        if state is not None:
            query = query.where(Commission.state == state)
        return (await self.session.execute(query)).scalars().all()

    async def rate(self) -> int | None:
        """The session's organization's own rate, if it has one."""
        found = await self.session.execute(select(CommissionRate.rate_bps))
        return found.scalar_one_or_none()

    async def set_rate(self, organization_id: uuid.UUID, rate_bps: int | None) -> None:
        existing = (await self.session.execute(select(CommissionRate))).scalar_one_or_none()
        if rate_bps is None:
            if existing is not None:
                await self.session.delete(existing)
            return
        if existing is None:
            self.session.add(CommissionRate(organization_id=organization_id, rate_bps=rate_bps))
        else:
            existing.rate_bps = rate_bps
