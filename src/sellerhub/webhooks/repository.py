from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.logging import get_logger
from sellerhub.webhooks.models import WebhookEvent

log = get_logger(__name__)

_INSERT_SQL = (
    "INSERT INTO webhook_events (id, source, external_id, topic, organization_id,"
    " connection_id, account, payload, headers, status, attempts)"
    " VALUES (%(id)s, %(source)s, %(external_id)s, %(topic)s, %(organization_id)s,"
    " %(connection_id)s, %(account)s, %(payload)s, %(headers)s, 'pending', 0)"
    " ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
)
# The same for many rows in one statement (one plan whatever the batch size).
_INSERT_MANY_SQL = (
    "INSERT INTO webhook_events (id, source, external_id, topic, organization_id,"
    " connection_id, account, payload, headers, status, attempts)"
    " SELECT id, source, external_id, topic, organization_id, connection_id, account,"
    " payload, headers, 'pending', 0 FROM unnest(%s::uuid[], %s::text[], %s::text[],"
    " %s::text[], %s::uuid[], %s::uuid[], %s::text[], %s::jsonb[], %s::jsonb[])"
    " AS t(id, source, external_id, topic, organization_id, connection_id, account, payload,"
    " headers)"
    " ON CONFLICT (source, external_id) DO NOTHING RETURNING id"
)
_COLUMNS = ("id", "source", "external_id", "topic", "organization_id", "connection_id", "account")
MAX_BATCH = 200
MAX_IN_FLIGHT = 4


class InboxWriter:
    """Group commit for the ingress hot path. Each delivery waits for the commit of the
    statement that carries it, so the 2xx still follows the commit; but deliveries that arrive
    while earlier ones are being written share one multi-row ``INSERT … ON CONFLICT DO
    NOTHING`` and one commit. An idle server writes each delivery at once (up to
    ``MAX_IN_FLIGHT`` statements run side by side); a busy one forms batches by itself. If a
    batch fails for a reason other than the database being unreachable, its rows are written
    one by one, so a single bad delivery fails alone."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        # The flush tasks running now. The event loop keeps only weak references to tasks, so
        # this set is what keeps a flush alive until it ends (a task nobody references can be
        # garbage-collected mid-statement, and its callers would wait forever).
        self.flushing: set[asyncio.Task[None]] = set()

    async def insert(self, values: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting.append((values, future))
        if len(self.flushing) < MAX_IN_FLIGHT:
            flush = asyncio.get_running_loop().create_task(self._flush())
            self.flushing.add(flush)
            flush.add_done_callback(self._flushed)
        return await asyncio.shield(future)  # a client hanging up does not cancel the write

    def _flushed(self, flush: asyncio.Task[None]) -> None:
        self.flushing.discard(flush)
        if not flush.cancelled() and (exc := flush.exception()) is not None:  # retrieved
            log.error("webhook.inbox_flush_failed", error=type(exc).__name__)

    async def _flush(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            try:
                await self._write(batch)
            except asyncio.CancelledError:  # shutting down: its callers stop waiting too
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # ``_write`` settles what it can; no caller waits forever
                log.error("webhook.inbox_write_failed", error=type(exc).__name__)
                for _, future in batch:
                    _settle(future, exc)

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        if len(batch) == 1:
            values, future = batch[0]
            try:
                outcome = await _insert_one(self.pool, values)
            except Exception as exc:
                _settle(future, exc)
            else:
                _settle(future, outcome)
            return
        try:
            inserted = await _insert_many(self.pool, [values for values, _ in batch])
        except psycopg.OperationalError as exc:  # the database is unreachable: all fail
            for _, future in batch:
                _settle(future, exc)
            return
        except psycopg.Error:
            for item in batch:  # isolate the row that cannot be stored
                await self._write([item])
            return
        for values, future in batch:
            _settle(future, values["id"] in inserted)


def _settle(future: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


async def _insert_one(pool: AsyncConnectionPool, values: dict[str, Any]) -> bool:
    params = {**values, "payload": Jsonb(values["payload"]), "headers": Jsonb(values["headers"])}
    async with pool.connection() as conn:
        cursor = await conn.execute(_INSERT_SQL, params)
        return await cursor.fetchone() is not None


async def _insert_many(pool: AsyncConnectionPool, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Ids of the rows inserted (a duplicate, in the table or earlier in ``rows``, is not)."""
    params: list[Any] = [[row[name] for row in rows] for name in _COLUMNS]
    params.append([Jsonb(row["payload"]) for row in rows])
    params.append([Jsonb(row["headers"]) for row in rows])
    async with pool.connection() as conn:
        cursor = await conn.execute(_INSERT_MANY_SQL, params)
        return {row[0] for row in await cursor.fetchall()}


_writers: weakref.WeakKeyDictionary[AsyncConnectionPool, InboxWriter] = weakref.WeakKeyDictionary()


async def insert_committed(pool: AsyncConnectionPool, values: dict[str, Any]) -> bool:
    """The ingress hot path: True when the event is new. When this returns the row is
    committed (autocommit statements, grouped by ``InboxWriter``), so the 2xx that follows is
    safe."""
    writer = _writers.get(pool)
    if writer is None:
        writer = _writers[pool] = InboxWriter(pool)
    return await writer.insert(values)


class WebhookEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_update(self, event_id: uuid.UUID) -> WebhookEvent | None:
        return await self.session.scalar(
            select(WebhookEvent).where(WebhookEvent.id == event_id).with_for_update()
        )

    async def fresh(self, *, limit: int) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
        """(id, organization id) of events never attempted, oldest first, skipping those another
        drain holds right now (the caller's transaction ends at once; the processing locks
        each group again with ``SKIP LOCKED``)."""
        rows = await self.session.execute(
            select(WebhookEvent.id, WebhookEvent.organization_id)
            .where(WebhookEvent.status == "pending", WebhookEvent.attempts == 0)
            .order_by(WebhookEvent.received_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [(event_id, org) for event_id, org in rows.all()]

    async def lock_pending(self, ids: Sequence[uuid.UUID]) -> Sequence[WebhookEvent]:
        """Those of ``ids`` still pending and not being processed elsewhere, locked, in arrival
        order."""
        rows = await self.session.execute(
            select(WebhookEvent)
            .where(WebhookEvent.id.in_(ids), WebhookEvent.status == "pending")
            .order_by(WebhookEvent.received_at)
            .with_for_update(skip_locked=True)
        )
        return rows.scalars().all()

    async def mark_processed(self, ids: Sequence[uuid.UUID]) -> None:
        if ids:
            await self.session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id.in_(ids))
                .values(
                    status="processed",
                    processed_at=func.now(),
                    attempts=WebhookEvent.attempts + 1,
                )
                .execution_options(synchronize_session=False)
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

    async def page(
        self,
        organization_id: uuid.UUID,
        *,
        limit: int,
        before: uuid.UUID | None,
        status: str | None,
        source: str | None,
    ) -> Sequence[WebhookEvent]:
        """One organization's events, newest first (UUIDv7 ids sort by arrival); ``limit + 1``
        rows so the caller knows whether there is a next page."""
        query = select(WebhookEvent).where(WebhookEvent.organization_id == organization_id)
        if before is not None:
            query = query.where(WebhookEvent.id < before)
        if status is not None:
            query = query.where(WebhookEvent.status == status)
        if source is not None:
            query = query.where(WebhookEvent.source == source)
        rows = await self.session.scalars(query.order_by(WebhookEvent.id.desc()).limit(limit + 1))
        return rows.all()

    async def get_of(
        self, organization_id: uuid.UUID, event_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEvent | None:
        query = select(WebhookEvent).where(
            WebhookEvent.id == event_id, WebhookEvent.organization_id == organization_id
        )
        return await self.session.scalar(query.with_for_update() if for_update else query)
