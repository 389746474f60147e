"""Every SQL statement of seller transfers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import LiteralString

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.connect.models import StripeAccount
from sellerhub.billing.payouts.models import SellerTransfer, TransferReversal, TransferState

WAITING = (TransferState.PENDING, TransferState.WAITING)


class TransferRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_once(self, values: dict[str, object]) -> bool:
        inserted = await self.session.execute(
            insert(SellerTransfer)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["recovery_id"])
            .returning(SellerTransfer.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def get(self, transfer_id: uuid.UUID, *, lock: bool = False) -> SellerTransfer | None:
        query = select(SellerTransfer).where(SellerTransfer.id == transfer_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_recovery(self, recovery_id: uuid.UUID) -> SellerTransfer | None:
        query = select(SellerTransfer).where(SellerTransfer.recovery_id == recovery_id)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def by_stripe_transfer(
        self, stripe_id: str, *, lock: bool = False
    ) -> SellerTransfer | None:
        query = select(SellerTransfer).where(SellerTransfer.transfer_id == stripe_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def start_attempt(
        self, transfer_id: uuid.UUID, *, destination: str, now: datetime, recheck_at: datetime
    ) -> int | None:
        """Take the next attempt (one conditional UPDATE: one of two racing workers gets it)."""
        moved = await self.session.execute(
            update(SellerTransfer)
            .where(
                SellerTransfer.id == transfer_id,
                or_(
                    SellerTransfer.state.in_(WAITING),
                    (SellerTransfer.state == TransferState.FAILED)
                    & (SellerTransfer.next_attempt_at <= now),
                ),
            )
            .values(
                state=TransferState.PROCESSING,
                attempts=SellerTransfer.attempts + 1,
                destination=destination,
                sent_at=now,
                next_attempt_at=recheck_at,
                reason=None,
            )
            .returning(SellerTransfer.attempts)
            .execution_options(synchronize_session=False)
        )
        return moved.scalar_one_or_none()

    async def due(self, now: datetime, limit: int) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        rows = await self.session.execute(
            select(SellerTransfer.organization_id, SellerTransfer.id)
            .where(
                or_(
                    SellerTransfer.state.in_(WAITING),
                    SellerTransfer.state.in_([TransferState.PROCESSING, TransferState.FAILED])
                    & (SellerTransfer.next_attempt_at <= now),
                )
            )
            .order_by(SellerTransfer.id)
            .limit(limit)
        )
        return [(org, ident) for org, ident in rows.all()]

    async def page(
        self, *, limit: int, before: uuid.UUID | None, state: str | None
    ) -> Sequence[SellerTransfer]:
        query = select(SellerTransfer).order_by(SellerTransfer.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(SellerTransfer.id < before)
        if state is not None:
            query = query.where(SellerTransfer.state == state)
        return (await self.session.execute(query)).scalars().all()

    async def insert_reversal_once(self, values: dict[str, object]) -> bool:
        inserted = await self.session.execute(
            insert(TransferReversal)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["reversal_id"])
            .returning(TransferReversal.id)
        )
        return inserted.scalar_one_or_none() is not None

    async def reversal_of(
        self, reversal_id: uuid.UUID, *, lock: bool = False
    ) -> TransferReversal | None:
        query = select(TransferReversal).where(TransferReversal.reversal_id == reversal_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def reversals_of(self, seller_transfer_id: uuid.UUID) -> Sequence[TransferReversal]:
        query = select(TransferReversal).where(
            TransferReversal.seller_transfer_id == seller_transfer_id
        )
        return (await self.session.execute(query)).scalars().all()

    async def due_reversals(
        self, now: datetime, limit: int
    ) -> Sequence[tuple[uuid.UUID, uuid.UUID]]:
        """(organization, reversal) of the reversals waiting for their transfer's outcome or
        whose own outcome is overdue (system context)."""
        rows = await self.session.execute(
            select(TransferReversal.organization_id, TransferReversal.reversal_id)
            .where(
                TransferReversal.state.in_(("waiting", "processing")),
                TransferReversal.next_attempt_at <= now,
            )
            .order_by(TransferReversal.id)
            .limit(limit)
        )
        return [(org, ident) for org, ident in rows.all()]

    async def connected_account(self) -> StripeAccount | None:
        """The session's organization's connected account (created silently after Amazon)."""
        return (await self.session.execute(select(StripeAccount))).scalar_one_or_none()

    async def owner_of_account(self, account_id: str) -> uuid.UUID | None:
        """The organization of a connected account (our row, not an event's word)."""
        found = await self.session.execute(
            select(StripeAccount.organization_id).where(
                StripeAccount.stripe_account_id == account_id
            )
        )
        return found.scalar_one_or_none()


# A page of the seller's transfers for the billing page (a ``db.reads.Read``): newest first, at
# most ``payouts_limit`` + 1 rows (the extra one says there is a next page).
PAYOUTS_PAGE_SQL: LiteralString = (
    "SELECT coalesce(json_agg(p ORDER BY p.id DESC), '[]'::json) FROM ("
    "SELECT id, recovery_id, amount_minor, currency, state, reason, reversed_minor, sent_at,"
    " next_attempt_at, created_at"
    " FROM seller_transfers WHERE organization_id = %(organization_id)s"
    " AND (%(payouts_before)s::uuid IS NULL OR id < %(payouts_before)s::uuid)"
    " ORDER BY id DESC LIMIT %(payouts_limit)s) p"
)
