from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.webhooks.models import WebhookEvent

_INSERT_SQL = (
    "INSERT INTO webhook_events (id, source, external_id, topic, organization_id,"
    " connection_id, account, payload, headers, status, attempts)"
    " VALUES (%(id)s, %(source)s, %(external_id)s, %(topic)s, %(organization_id)s,"
    " %(connection_id)s, %(account)s, %(payload)s, %(headers)s, 'pending', 0)"
    " ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
)


async def insert_committed(pool: AsyncConnectionPool, values: dict[str, Any]) -> bool:
    """The ingress hot path: one autocommit round trip. True when the event is new; when this
    returns, the row is committed (so the 2xx that follows is safe)."""
    params = {
        **values,
        "payload": Jsonb(values["payload"]),
        "headers": Jsonb(values["headers"]),
    }
    async with pool.connection() as conn:
        cursor = await conn.execute(_INSERT_SQL, params)
        return await cursor.fetchone() is not None


class WebhookEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_update(self, event_id: uuid.UUID) -> WebhookEvent | None:
        return await self.session.scalar(
            select(WebhookEvent).where(WebhookEvent.id == event_id).with_for_update()
        )

    async def fresh_ids_for_update(self, *, limit: int) -> Sequence[uuid.UUID]:
        rows = await self.session.execute(
            select(WebhookEvent.id)
            .where(WebhookEvent.status == "pending", WebhookEvent.attempts == 0)
            .order_by(WebhookEvent.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return rows.scalars().all()

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
