"""Webhook ingress: store every verified delivery once (the inbox), request its processing in
the same transaction, process it asynchronously and idempotently; re-drive what was never
handled. The handler of each (source, topic) comes from the table composed in
``sellerhub.handlers`` (this module knows none of the domains that handle events)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy.exc
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.audit import service as audit
from sellerhub.connections import service as connections
from sellerhub.connections.service import find_for_webhook
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, NotFound, ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import enqueue, kick
from sellerhub.webhooks.models import EventStatus, WebhookEvent
from sellerhub.webhooks.repository import WebhookEventRepository, insert_committed

log = get_logger(__name__)
MAX_ATTEMPTS = 8
PROCESS_TASK = "webhooks.process"
DRAIN_TASK = "webhooks.drain"

Handler = Callable[[AsyncSession, WebhookEvent], Awaitable[None]]
Handlers = Mapping[tuple[str, str], Handler]
# Handles several events of one organization at once (set-based writes); a batch that fails is
# handled again one event at a time, so one bad event fails alone.
BatchHandler = Callable[[AsyncSession, Sequence[WebhookEvent]], Awaitable[None]]
BatchHandlers = Mapping[tuple[str, str], BatchHandler]


_composed: Handlers | None = None
_batches: BatchHandlers = {}


def use_handlers(table: Handlers, batches: BatchHandlers | None = None) -> None:
    """The composition root (``Runtime.open_queue``, from ``sellerhub.handlers``) hands this
    module the application's ``(source, topic) → handler`` table, and the batch handlers the
    drain may use for some topics: the domains that handle events are above this one, so it
    never imports them (nor the tables)."""
    global _composed, _batches
    _composed = table
    _batches = batches or {}


def _handlers() -> Handlers:
    if _composed is None:
        raise RuntimeError("no webhook handler table: the runtime composes it when it opens")
    return _composed


async def receive(
    pool: AsyncConnectionPool,
    *,
    source: str,
    external_id: str,
    topic: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    organization_id: uuid.UUID | None = None,
    connection_id: uuid.UUID | None = None,
    account: str | None = None,
) -> bool:
    """Store the delivery unless already stored (committed when this returns); True when it is
    new. The row is the durable work request; a worker is only woken up."""
    new = await insert_committed(
        pool,
        {
            "id": uuid7(),
            "source": source,
            "external_id": external_id[:200],
            "topic": topic[:100],
            "payload": payload,
            "headers": headers,
            "organization_id": organization_id,
            "connection_id": connection_id,
            "account": account,
        },
    )
    if not new:
        log.info("webhook.duplicate", source=source, external_id=external_id)
        return False
    kick(DRAIN_TASK, lock="webhooks-drain")
    return True


async def drain(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    limit: int = 200,
    handlers: Handlers | None = None,
    batches: BatchHandlers | None = None,
) -> int:
    """Process fresh events (never attempted) in arrival order, one transaction per
    organization of the batch (a session serves one tenant); returns how many this drain
    took (events another drain held are left to it). Several workers can drain at once: the
    batch skips locked events and each group is locked with ``SKIP LOCKED``."""
    async with sessionmaker() as session:
        fresh = await WebhookEventRepository(session).fresh(limit=limit)
    groups: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for event_id, organization_id in fresh:
        groups.setdefault(organization_id, []).append(event_id)
    table = _handlers() if handlers is None else handlers
    batch_table = _batches if batches is None else batches
    taken = 0
    for organization_id, ids in groups.items():
        async with unit_of_work(sessionmaker) as session:
            if organization_id is not None:
                set_tenant(session, organization_id)
            repo = WebhookEventRepository(session)
            events = await repo.lock_pending(ids)
            taken += len(events)
            handled = await _handle_group(session, events, table, batch_table)
            await repo.mark_processed(handled)
    return taken


async def _handle_group(
    session: AsyncSession,
    events: Sequence[WebhookEvent],
    table: Handlers,
    batches: BatchHandlers,
) -> list[uuid.UUID]:
    """The events of one organization, in the drain's transaction: those whose topic has a
    batch handler together (in a savepoint), the rest one by one; the ids handled. A batch
    whose handler fails is undone and its events handled one by one, in arrival order, so a
    bad event fails alone (recorded on it) and the others are processed."""
    grouped: dict[BatchHandler, list[WebhookEvent]] = {}
    for event in events:
        handler = batches.get((event.source, event.topic))
        if handler is not None:
            grouped.setdefault(handler, []).append(event)
    handled: list[uuid.UUID] = []
    done: set[uuid.UUID] = set()
    for handler, group in grouped.items():
        if len(group) < 2:
            continue
        try:
            async with session.begin_nested():
                await handler(session, group)
        except Exception as exc:
            log.info("webhook.batch_failed", events=len(group), error=type(exc).__name__)
            continue
        handled.extend(e.id for e in group)
        done.update(e.id for e in group)
    for event in events:
        if event.id not in done and await _handle(session, event, table):
            handled.append(event.id)
    return handled


async def process(
    session: AsyncSession, event_id: uuid.UUID, *, handlers: Handlers | None = None
) -> None:
    """Handle one stored event; a no-op when it was handled already (at-least-once delivery)."""
    event = await WebhookEventRepository(session).get_for_update(event_id)
    if event is None or event.status != "pending":
        return
    if await _handle(session, event, _handlers() if handlers is None else handlers):
        event.attempts += 1
        event.status = EventStatus.PROCESSED
        event.processed_at = utcnow()


async def _handle(session: AsyncSession, event: WebhookEvent, handlers: Handlers) -> bool:
    """Run the event's handler in a savepoint. True when it succeeded (the caller marks it
    processed); otherwise the failure is recorded on the event: failed at once for an unusable
    payload, else left pending for the re-drive and failed after ``MAX_ATTEMPTS``."""
    handler = handlers.get((event.source, event.topic))
    if handler is None:  # stored for the record; nothing to do with it
        event.last_error = f"no handler for {event.source} {event.topic}"
        return True
    try:
        async with session.begin_nested():  # a failing handler leaves nothing behind
            await handler(session, event)
    except (ValidationFailed, sqlalchemy.exc.DBAPIError) as exc:
        reason = _unusable(exc)
        if reason is None:
            return _retry_later(event, exc)
        # The payload itself is unusable: retrying the same bytes cannot succeed.
        event.attempts += 1
        event.last_error = f"invalid payload: {reason}"[:500]
        event.status = EventStatus.FAILED
        log.warning("webhook.payload_invalid", event_id=str(event.id), reason=reason)
        return False
    except Exception as exc:
        return _retry_later(event, exc)
    return True


def _unusable(exc: Exception) -> str | None:
    """Why a handler's failure is the payload's fault (so final), or None when it may pass on
    a later attempt. A value the database refuses by type, range, length or CHECK is the
    payload's: the same bytes meet the same refusal; a lost connection, a deadlock or a
    unique-key race is not."""
    if isinstance(exc, ValidationFailed):
        return exc.detail
    cause = getattr(exc, "orig", None)
    if isinstance(
        cause, pg_errors.DataError | pg_errors.CheckViolation | pg_errors.NotNullViolation
    ):
        return f"the database refused a value ({type(cause).__name__})"
    return None


def _retry_later(event: WebhookEvent, exc: Exception) -> bool:
    """Stays pending for the re-drive; failed after ``MAX_ATTEMPTS``."""
    event.attempts += 1
    event.last_error = f"{type(exc).__name__}: handler failed"[:500]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = EventStatus.FAILED
    log.warning("webhook.handler_failed", event_id=str(event.id), attempts=event.attempts)
    return False


# --- the organization's view of its events ---------------------------------------------------


async def page(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    limit: int,
    before: uuid.UUID | None,
    status: str | None = None,
    source: str | None = None,
) -> tuple[Sequence[WebhookEvent], uuid.UUID | None]:
    rows = await WebhookEventRepository(session).page(
        organization_id, limit=limit, before=before, status=status, source=source
    )
    items = rows[:limit]
    return items, (items[-1].id if len(rows) > limit else None)


async def get(
    session: AsyncSession, organization_id: uuid.UUID, event_id: uuid.UUID
) -> WebhookEvent:
    event = await WebhookEventRepository(session).get_of(organization_id, event_id)
    if event is None:
        raise NotFound("no such webhook event")
    return event


async def retry(
    session: AsyncSession, organization_id: uuid.UUID, event_id: uuid.UUID, *, actor: uuid.UUID
) -> WebhookEvent:
    """Process a failed event again (after a fix of ours, or of the data it refers to): it is
    pending again and its processing is requested in this transaction."""
    event = await WebhookEventRepository(session).get_of(organization_id, event_id, for_update=True)
    if event is None:
        raise NotFound("no such webhook event")
    if event.status != "failed":
        raise Conflict(f"only a failed event can be retried; this one is {event.status}")
    event.status = EventStatus.PENDING
    await enqueue(session, PROCESS_TASK, {"event_id": str(event.id)})
    await audit.record(
        session,
        organization_id=organization_id,
        action="WEBHOOK_EVENT_RETRIED",
        actor_user_id=actor,
        target_type="webhook_event",
        target_id=str(event.id),
        data={"source": event.source, "topic": event.topic, "last_error": event.last_error},
    )
    return event


async def redrive(session: AsyncSession, *, older_than: timedelta, limit: int = 500) -> int:
    """Request processing again for events still pending after ``older_than``."""
    ids = await WebhookEventRepository(session).pending_ids(
        received_before=utcnow() - older_than, limit=limit
    )
    for event_id in ids:
        await enqueue(session, PROCESS_TASK, {"event_id": str(event_id)})
    return len(ids)


# --- Shopify lifecycle and compliance topics (providers.md §4.2); listed in sellerhub.handlers


async def shopify_uninstalled(session: AsyncSession, event: WebhookEvent) -> None:
    """``app/uninstalled``: the shop removed the app — disconnect and wipe its secrets."""
    connection = await find_for_webhook(session, provider="shopify", account=event.account)
    if connection is None:
        return
    set_tenant(session, connection.organization_id)
    await connections.mark_disconnected(
        session,
        connection,
        reason="the app was uninstalled from the shop",
        actor_user_id=None,
        actor_type="provider",
        data={"reason": "app/uninstalled"},
    )


async def shopify_customers_redact(session: AsyncSession, event: WebhookEvent) -> None:
    customer = event.payload.get("customer") or {}
    await WebhookEventRepository(session).redact_customer(
        "shopify",
        event.account or "",
        str(customer["id"]) if customer.get("id") is not None else None,
        customer.get("email"),
    )
    event.payload = {"redacted": True, "customer_id": customer.get("id")}


async def shopify_shop_redact(session: AsyncSession, event: WebhookEvent) -> None:
    await WebhookEventRepository(session).redact_account("shopify", event.account or "")
    event.payload = {"redacted": True, "shop_domain": event.account}


async def shopify_data_request(session: AsyncSession, event: WebhookEvent) -> None:
    """The shop owner must hand the customer's data over; record the request for them."""
    if event.organization_id is None:
        return
    set_tenant(session, event.organization_id)
    await audit.record(
        session,
        organization_id=event.organization_id,
        action="CUSTOMER_DATA_REQUESTED",
        actor_type="provider",
        target_type="webhook_event",
        target_id=str(event.id),
        data={"shop": event.account, "customer": (event.payload.get("customer") or {}).get("id")},
    )
