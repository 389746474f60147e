"""Every SQL statement of commissions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import LiteralString

from sqlalchemy import exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions.models import (
    Commission,
    CommissionNotice,
    CommissionRate,
    CommissionRefund,
)
from sellerhub.billing.commissions.rules import CommissionState
from sellerhub.billing.customers.models import StripePaymentMethod
from sellerhub.commerce.claims.models import Recovery
from sellerhub.core.ids import uuid7


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


class ReversalRepository:
    """The statements of reversals' refunds and of the seller's notices."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def original_of(self, reimbursement_id: str) -> Recovery | None:
        """The session's organization's recovery of the reimbursement a reversal names."""
        found = await self.session.execute(
            select(Recovery).where(
                Recovery.reimbursement_id == reimbursement_id, Recovery.kind == "reimbursement"
            )
        )
        return found.scalar_one_or_none()

    async def insert_refund_once(self, values: dict[str, object]) -> bool:
        """Insert the reversal's row unless it exists (UNIQUE reversal_id); True when this
        call inserted it."""
        inserted = await self.session.execute(
            insert(CommissionRefund)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["reversal_id"])
            .returning(CommissionRefund.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def refund_of(
        self, reversal_id: uuid.UUID, *, lock: bool = False
    ) -> CommissionRefund | None:
        query = select(CommissionRefund).where(CommissionRefund.reversal_id == reversal_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def refunds_of(self, commission_id: uuid.UUID) -> Sequence[CommissionRefund]:
        found = await self.session.execute(
            select(CommissionRefund)
            .where(CommissionRefund.commission_id == commission_id)
            .order_by(CommissionRefund.id)
        )
        return found.scalars().all()

    async def due_refunds(self, now: datetime, limit: int) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """(organization, reversal) of the refunds to move on: waiting for the charge's
        outcome, or sent with their outcome overdue. Any organization (a system job)."""
        found = await self.session.execute(
            select(CommissionRefund.organization_id, CommissionRefund.reversal_id)
            .where(
                CommissionRefund.state.in_(["waiting", "processing"]),
                CommissionRefund.next_attempt_at.is_not(None),
                CommissionRefund.next_attempt_at <= now,
            )
            .order_by(CommissionRefund.next_attempt_at, CommissionRefund.id)
            .limit(limit)
        )
        return [(org, ident) for org, ident in found.all()]

    async def decide_notice(
        self, organization_id: uuid.UUID, commission_id: uuid.UUID, attempt: int, kind: str
    ) -> bool:
        """Record the decision to send a notice; True when none was decided before for the
        commission, attempt and kind (UNIQUE)."""
        inserted = await self.session.execute(
            insert(CommissionNotice)
            .values(
                id=uuid7(),
                organization_id=organization_id,
                commission_id=commission_id,
                attempt=attempt,
                kind=kind,
            )
            .on_conflict_do_nothing(index_elements=["commission_id", "attempt", "kind"])
            .returning(CommissionNotice.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def mark_notice_sent(
        self,
        organization_id: uuid.UUID,
        commission_id: uuid.UUID,
        attempt: int,
        kind: str,
        now: datetime,
    ) -> bool:
        """Mark the notice sent; True when this call did (not sent before). The row lock
        makes a second delivery running at the same time wait, then find it sent."""
        marked = await self.session.execute(
            insert(CommissionNotice)
            .values(
                id=uuid7(),
                organization_id=organization_id,
                commission_id=commission_id,
                attempt=attempt,
                kind=kind,
                sent_at=now,
            )
            .on_conflict_do_update(
                index_elements=["commission_id", "attempt", "kind"],
                set_={"sent_at": now},
                where=CommissionNotice.sent_at.is_(None),
            )
            .returning(CommissionNotice.id)
        )
        return marked.scalar_one_or_none() is not None


# A page of the organization's commissions for the billing page (a ``db.reads.Read``): newest
# first, at most ``commissions_limit`` + 1 rows (the extra one says there is a next page), each
# with its claim's kind and SKU when it came from a claim.
COMMISSIONS_PAGE_SQL: LiteralString = (
    "SELECT coalesce(json_agg(p ORDER BY p.id DESC), '[]'::json) FROM ("
    "SELECT c.id, c.recovery_id, c.state, c.reason, c.amount_minor, c.currency,"
    " c.paid_to_platform, c.failure_code, c.decline_code, c.next_attempt_at, c.succeeded_at,"
    " c.refunded_minor, c.receipt_url, c.created_at, cl.kind AS claim_kind, cl.sku AS claim_sku"
    " FROM commissions c"
    " LEFT JOIN claims cl ON cl.id = c.claim_id AND cl.organization_id = c.organization_id"
    " WHERE c.organization_id = %(organization_id)s"
    " AND (%(commissions_before)s::uuid IS NULL OR c.id < %(commissions_before)s::uuid)"
    " ORDER BY c.id DESC LIMIT %(commissions_limit)s) p"
)

# The dashboard's billing figures: per currency, what was charged and what is still open.
COMMISSION_TOTALS_SQL: LiteralString = (
    "SELECT coalesce(json_agg(t ORDER BY t.currency), '[]'::json) FROM ("
    "SELECT currency,"
    " coalesce(sum(amount_minor - refunded_minor) FILTER (WHERE state IN"
    " ('succeeded', 'refunded', 'disputed', 'withheld')), 0) AS charged_minor,"
    " coalesce(sum(amount_minor) FILTER (WHERE state IN"
    " ('pending', 'processing', 'requires_action', 'failed', 'no_card')), 0) AS open_minor,"
    " count(*) FILTER (WHERE state = 'requires_action') AS to_confirm,"
    " count(*) FILTER (WHERE state = 'failed') AS declined"
    " FROM commissions WHERE organization_id = %(organization_id)s GROUP BY currency) t"
)
