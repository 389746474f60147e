"""Every SQL statement of the money ledger."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import LiteralString

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.customers.models import StripeCustomer
from sellerhub.billing.transactions.models import StripeTransaction, TransactionAudit


class TransactionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_once(self, values: dict[str, object]) -> uuid.UUID | None:
        """Insert the movement unless (stripe_id, kind) is recorded already; its id when this
        call inserted it."""
        inserted = await self.session.execute(
            insert(StripeTransaction)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["stripe_id", "kind"])
            .returning(StripeTransaction.id)
        )
        return inserted.scalar_one_or_none()

    async def find(
        self, stripe_id: str, kind: str, *, lock: bool = False
    ) -> StripeTransaction | None:
        query = select(StripeTransaction).where(
            StripeTransaction.stripe_id == stripe_id, StripeTransaction.kind == kind
        )
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    def add_audit(self, row: TransactionAudit) -> None:
        self.session.add(row)

    async def page(
        self, *, limit: int, before: uuid.UUID | None, kind: str | None
    ) -> Sequence[StripeTransaction]:
        query = select(StripeTransaction).order_by(StripeTransaction.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(StripeTransaction.id < before)
        if kind is not None:
            query = query.where(StripeTransaction.kind == kind)
        return (await self.session.execute(query)).scalars().all()

    async def audit_of(self, transaction_id: uuid.UUID) -> Sequence[TransactionAudit]:
        rows = await self.session.execute(
            select(TransactionAudit)
            .where(TransactionAudit.transaction_id == transaction_id)
            .order_by(TransactionAudit.id)
        )
        return rows.scalars().all()

    async def owner_of_customer(self, customer_id: str) -> uuid.UUID | None:
        """The organization whose Stripe customer this is (our row, not an event's word)."""
        found = await self.session.execute(
            select(StripeCustomer.organization_id).where(
                StripeCustomer.stripe_customer_id == customer_id
            )
        )
        return found.scalar_one_or_none()


# A page of the ledger for the billing page (a ``db.reads.Read``): newest first, at most
# ``transactions_limit`` + 1 rows (the extra one says there is a next page).
TRANSACTIONS_PAGE_SQL: LiteralString = (
    "SELECT coalesce(json_agg(p ORDER BY p.id DESC), '[]'::json) FROM ("
    "SELECT id, kind, stripe_id, amount_minor, currency, status, direction, created_at"
    " FROM stripe_transactions WHERE organization_id = %(organization_id)s"
    " AND (%(transactions_before)s::uuid IS NULL OR id < %(transactions_before)s::uuid)"
    " ORDER BY id DESC LIMIT %(transactions_limit)s) p"
)
