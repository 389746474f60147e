"""Channel orders drive stock: an order created reserves its lines at its store's channel
location, fulfilled commits them (the units ship), cancelled releases them — once per order
line, whatever the order in which the events arrive.

Each order line is named by the idempotency key ``order-line:<order id>:<line id at the
store>``; its reservation carries that key, so a second reserve finds it and does nothing.
A commit that arrives before any reserve ships the units at once (on hand drops) and records
the line's reservation as committed; a release before any reserve records it as released
(nothing moves). Either way the key is taken, and a late reserve does nothing. The order's row
stays locked from its upsert to the commit, so two deliveries of one order take turns, and an
older version of an order changes nothing at all (``orders.service.upsert``).

An order line whose SKU is not in the catalog, or whose units are not available, never fails
the order: the order is stored, and the reason is an audit event
(``inventory.order_line_unreserved`` / ``inventory.order_line_unshipped``) on the order."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.commerce.catalog import service as catalog
from sellerhub.commerce.inventory import batch
from sellerhub.commerce.inventory import service as inventory
from sellerhub.commerce.inventory.models import ReservationStatus
from sellerhub.commerce.inventory.schemas import ReservationIn, ReservationLineIn
from sellerhub.commerce.orders import mapping
from sellerhub.commerce.orders import service as orders
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger
from sellerhub.webhooks.models import WebhookEvent

log = get_logger(__name__)


def line_key(order_id: uuid.UUID, line: mapping.NormalisedLine, index: int) -> str:
    return f"order-line:{order_id}:{line.external_id or f'#{index}'}"


async def apply_order(
    session: AsyncSession,
    organization_id: uuid.UUID,
    channel: str,
    connection_id: uuid.UUID,
    order: mapping.NormalisedOrder,
) -> bool:
    """Store the order (``orders.service.upsert``) and, when it changed, follow it with its
    stock. True when the order was created or updated."""
    order_id = await orders.upsert(session, organization_id, channel, connection_id, order)
    if order_id is None:
        return False
    await follow_order(session, organization_id, channel, connection_id, order_id, order)
    return True


async def follow_order(
    session: AsyncSession,
    organization_id: uuid.UUID,
    channel: str,
    connection_id: uuid.UUID,
    order_id: uuid.UUID,
    order: mapping.NormalisedOrder,
) -> None:
    lines = [(n, line) for n, line in enumerate(order.lines) if line.sku and line.quantity > 0]
    if not lines:
        return
    location_id = await inventory.channel_location(session, organization_id, channel, connection_id)
    code = inventory.channel_location_code(connection_id)
    products = await catalog.ids_by_sku(session, {line.sku for _, line in lines})
    # The fixed lock order of reservations: by product (one location per order).
    for index, line in sorted(lines, key=lambda item: str(products.get(item[1].sku, ""))):
        key = line_key(order_id, line, index)
        product_id = products.get(line.sku)
        if product_id is None:
            if order.stock == "open" and await inventory.reservation_by_key(session, key) is None:
                await _note(
                    session,
                    organization_id,
                    order_id,
                    line,
                    "unreserved",
                    f"no product has the SKU {line.sku!r}",
                )
            continue
        if order.stock == "fulfilled":
            await _commit(session, organization_id, order_id, line, key, product_id, location_id)
        elif order.stock == "cancelled":
            await _release(session, organization_id, order_id, line, key, product_id, location_id)
        else:
            await _reserve(session, organization_id, order_id, line, key, code)


async def _note(
    session: AsyncSession,
    organization_id: uuid.UUID,
    order_id: uuid.UUID,
    line: mapping.NormalisedLine,
    what: str,
    reason: str,
) -> None:
    log.info(f"inventory.order_line_{what}", order_id=str(order_id), reason=reason)
    await audit.record(
        session,
        organization_id=organization_id,
        action=f"inventory.order_line_{what}",
        actor_type="system",
        target_type="order",
        target_id=str(order_id),
        data={
            "line": line.external_id,
            "sku": line.sku,
            "quantity": line.quantity,
            "reason": reason,
        },
    )


async def _reserve(
    session: AsyncSession,
    organization_id: uuid.UUID,
    order_id: uuid.UUID,
    line: mapping.NormalisedLine,
    key: str,
    code: str,
) -> None:
    if await inventory.reservation_by_key(session, key) is not None:
        return  # reserved, shipped or released already: once per line
    body = ReservationIn(
        idempotency_key=key,
        lines=[ReservationLineIn(sku=line.sku, location=code, quantity=line.quantity)],
    )
    try:
        async with session.begin_nested():  # a shortfall undoes this line only
            await inventory.reserve(session, body, source=f"order:{order_id}")
    except DomainError as exc:
        await _note(session, organization_id, order_id, line, "unreserved", exc.detail)


async def _commit(
    session: AsyncSession,
    organization_id: uuid.UUID,
    order_id: uuid.UUID,
    line: mapping.NormalisedLine,
    key: str,
    product_id: uuid.UUID,
    location_id: uuid.UUID,
) -> None:
    if await inventory.close_by_key(session, organization_id, key, commit=True) is not None:
        return  # committed now, or closed before
    # Shipped before anything was reserved: the units leave at once, and the key is taken.
    try:
        async with session.begin_nested():
            taken = await inventory.record_closed(
                session,
                organization_id,
                key=key,
                source=f"order:{order_id}",
                status=ReservationStatus.COMMITTED,
                lines=[(product_id, location_id, line.quantity)],
                digest=_digest(line, location_id),
            )
            if not taken:
                return
            shipped = await inventory.change_level(
                session,
                organization_id=organization_id,
                product_id=product_id,
                location_id=location_id,
                d_on_hand=-line.quantity,
                d_reserved=0,
                reason=inventory.SHIP,
                source=f"order:{order_id}",
                idempotency_key=key,
            )
            if shipped is None:
                raise _Unshipped
    except _Unshipped:
        await _note(
            session,
            organization_id,
            order_id,
            line,
            "unshipped",
            f"{line.sku}: fewer than {line.quantity} units available to ship",
        )


async def _release(
    session: AsyncSession,
    organization_id: uuid.UUID,
    order_id: uuid.UUID,
    line: mapping.NormalisedLine,
    key: str,
    product_id: uuid.UUID,
    location_id: uuid.UUID,
) -> None:
    if await inventory.close_by_key(session, organization_id, key, commit=False) is not None:
        return
    # Cancelled before anything was reserved: nothing moves, and a late reserve finds the key.
    await inventory.record_closed(
        session,
        organization_id,
        key=key,
        source=f"order:{order_id}",
        status=ReservationStatus.RELEASED,
        lines=[(product_id, location_id, line.quantity)],
        digest=_digest(line, location_id),
    )


class _Unshipped(Exception):
    """Not enough available to ship a line that had no reservation: its savepoint is undone."""


def _digest(line: mapping.NormalisedLine, location_id: uuid.UUID) -> str:
    return inventory.request_hash([(line.sku, str(location_id), line.quantity)])


# --- many orders at once (the webhook drain's batches) ---------------------------------------


async def apply_orders(
    session: AsyncSession,
    organization_id: uuid.UUID,
    items: Sequence[tuple[str, uuid.UUID, mapping.NormalisedOrder]],
) -> int:
    """``apply_order`` for a batch of (channel, connection, order) of one organization, with
    set-based writes: the newest version of each order in the batch (by the provider's
    ``updated_at``; of equal ones the first, as one at a time would keep it) upserted in one
    statement, then the stock of every changed order's lines in one
    ``inventory.batch.BatchStock.apply``. The outcome is the one applying the orders one at a
    time would give for the same versions. Returns how many orders changed."""
    newest: dict[tuple[uuid.UUID, str], tuple[str, uuid.UUID, mapping.NormalisedOrder]] = {}
    for channel, connection_id, order in items:
        seen = newest.get((connection_id, order.external_id))
        if seen is None or order.updated_at > seen[2].updated_at:
            newest[(connection_id, order.external_id)] = (channel, connection_id, order)
    changed = await orders.upsert_many(session, organization_id, list(newest.values()))
    followed = [
        (changed[key], channel, connection_id, order)
        for key, (channel, connection_id, order) in newest.items()
        if key in changed
    ]
    wanted = [
        (order_id, channel, connection_id, order, n, line)
        for order_id, channel, connection_id, order in followed
        for n, line in enumerate(order.lines)
        if line.sku and line.quantity > 0
    ]
    if not wanted:
        return len(changed)
    locations: dict[uuid.UUID, uuid.UUID] = {}
    for _, channel, connection_id, _, _, _ in wanted:
        if connection_id not in locations:
            locations[connection_id] = await inventory.channel_location(
                session, organization_id, channel, connection_id
            )
    products = await catalog.ids_by_sku(session, {line.sku for *_, line in wanted})
    requests: list[batch.OrderLineStock] = []
    named: dict[str, tuple[uuid.UUID, mapping.NormalisedLine]] = {}
    for order_id, _, connection_id, order, n, line in wanted:
        key = line_key(order_id, line, n)
        product_id = products.get(line.sku)
        if product_id is None:
            if order.stock == "open" and await inventory.reservation_by_key(session, key) is None:
                reason = f"no product has the SKU {line.sku!r}"
                await _note(session, organization_id, order_id, line, "unreserved", reason)
            continue
        location_id = locations[connection_id]
        code = inventory.channel_location_code(connection_id)
        action = {"fulfilled": batch.COMMIT, "cancelled": batch.RELEASE}.get(
            order.stock, batch.RESERVE
        )
        digest = (
            inventory.request_hash([(line.sku, code, line.quantity)])
            if action == batch.RESERVE
            else _digest(line, location_id)
        )
        named[key] = (order_id, line)
        requests.append(
            batch.OrderLineStock(
                key=key,
                action=action,
                order_id=order_id,
                product_id=product_id,
                location_id=location_id,
                quantity=line.quantity,
                sku=line.sku,
                code=code,
                digest=digest,
            )
        )
    for refusal in await batch.BatchStock(session, organization_id).apply(requests):
        order_id, line = named[refusal.line.key]
        await _note(session, organization_id, order_id, line, refusal.what, refusal.reason)
    return len(changed)


async def orders_from_events(session: AsyncSession, events: Sequence[WebhookEvent]) -> None:
    """The batch handler of order topics (``handlers.WEBHOOK_BATCH_HANDLERS``): the events of
    one organization, mapped and applied with ``apply_orders``. A payload that cannot be
    mapped fails the batch; the drain then handles its events one at a time, so that event
    fails alone."""
    items: list[tuple[str, uuid.UUID, mapping.NormalisedOrder]] = []
    organization_id: uuid.UUID | None = None
    for event in events:
        if event.organization_id is None or event.connection_id is None:
            continue  # nothing to apply (as the one-event handlers)
        if organization_id not in (None, event.organization_id):
            raise ValueError("a batch of order events spans organizations")
        organization_id = event.organization_id
        mapper = _MAPPERS[event.source]
        items.append((event.source, event.connection_id, mapper(event.payload)))
    if organization_id is not None and items:
        await apply_orders(session, organization_id, items)


_MAPPERS = {"shopify": mapping.shopify, "woocommerce": mapping.woocommerce}


# --- the webhook handlers (handlers.py) ------------------------------------------------------


async def order_from_shopify(session: AsyncSession, event: WebhookEvent) -> None:
    if event.organization_id is None or event.connection_id is None:
        return  # a shop no organization has connected: stored, nothing to apply
    await apply_order(
        session,
        event.organization_id,
        "shopify",
        event.connection_id,
        mapping.shopify(event.payload),
    )


async def order_from_woocommerce(session: AsyncSession, event: WebhookEvent) -> None:
    if event.organization_id is None or event.connection_id is None:
        return  # the delivery's connection was unknown: stored, nothing to apply
    await apply_order(
        session,
        event.organization_id,
        "woocommerce",
        event.connection_id,
        mapping.woocommerce(event.payload),
    )
