from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.webhooks.models import WebhookEvent


class WebhookEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_if_new(self, values: dict[str, Any]) -> uuid.UUID | None:
        """The new row's id, or None when (source, external_id) was already stored."""
        stmt = (
            insert(WebhookEvent)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(WebhookEvent.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_for_update(self, event_id: uuid.UUID) -> WebhookEvent | None:
        return await self.session.scalar(
            select(WebhookEvent).where(WebhookEvent.id == event_id).with_for_update()
        )

    async def pending_ids(self, *, received_before: datetime, limit: int) -> Sequence[uuid.UUID]:
        rows = await self.session.execute(
            select(WebhookEvent.id)
            .where(WebhookEvent.status == "pending", WebhookEvent.received_at <= received_before)
            .order_by(WebhookEvent.received_at)
            .limit(limit)
        )
        return rows.scalars().all()

    async def redact_account(self, source: str, account: str) -> None:
        await self.session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.source == source, WebhookEvent.account == account)
            .values(payload={"redacted": True}, headers={})
        )

    async def redact_customer(
        self, source: str, account: str, customer_id: str | None, email: str | None
    ) -> None:
        """Replace the stored payloads that carry this customer (by id or email)."""
        conditions = []
        if customer_id:
            conditions.append(WebhookEvent.payload["customer"]["id"].astext == customer_id)
        if email:
            conditions.append(WebhookEvent.payload["email"].astext == email)
            conditions.append(WebhookEvent.payload["customer"]["email"].astext == email)
        if not conditions:
            return
        await self.session.execute(
            update(WebhookEvent)
            .where(
                WebhookEvent.source == source,
                WebhookEvent.account == account,
                or_(*conditions),
            )
            .values(payload={"redacted": True}, headers={})
        )
