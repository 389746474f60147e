"""Orders: normalised from Shopify and WooCommerce, idempotent per (organization, connection,
external id) — the connection is the store, so two stores' order 1 are two orders — applied in
the order of the provider's ``updated_at``."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.orders import mapping
from sellerhub.commerce.orders.repository import OrderRepository
from sellerhub.db.reads import Read, TenantReader
from sellerhub.db.tenancy import set_tenant


async def count(session: AsyncSession) -> int:
    """How many orders the session's organization has (all stores)."""
    return await OrderRepository(session).count()


def count_read() -> Read[int]:
    """How many orders the reader's organization has (all stores): a read for
    ``TenantReader`` (no ORM session)."""
    return OrderRepository.count_read()


def rows_read(
    *, limit: int, before: uuid.UUID | None, channel: str | None, status: str | None
) -> Read[str]:
    """The orders ``page_json`` lists, as the orders page shows them: only the columns it
    shows, each order an array (``repository.ORDER_ROW``, its lines ``LINE_ROW``), and the
    next cursor: JSON text ``[[order, …], next_cursor]``, to combine in one round trip."""
    return OrderRepository.rows_read(limit=limit, before=before, channel=channel, status=status)


async def page_json(
    reader: TenantReader,
    *,
    limit: int,
    before: uuid.UUID | None,
    channel: str | None,
    status: str | None,
) -> str:
    """One page of the reader's organization's orders, newest first, with their lines, as the
    JSON ``GET /api/v1/orders`` answers (``OrderPage``), rendered by PostgreSQL in one round
    trip."""
    return await OrderRepository.page_json(
        reader, limit=limit, before=before, channel=channel, status=status
    )


async def apply(
    session: AsyncSession,
    organization_id: uuid.UUID,
    channel: str,
    connection_id: uuid.UUID,
    order: mapping.NormalisedOrder,
) -> bool:
    """The order of the store ``connection_id``: True when it was created or updated; False
    for an older or equal version."""
    return await upsert(session, organization_id, channel, connection_id, order) is not None


async def upsert_many(
    session: AsyncSession,
    organization_id: uuid.UUID,
    orders: list[tuple[str, uuid.UUID, mapping.NormalisedOrder]],
) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
    """``upsert`` for a batch of (channel, connection, order), one version per store and
    external id: the id of each order created or updated, by (connection, external id). The
    rows stay locked to the end of the transaction, as with ``upsert``."""
    set_tenant(session, organization_id)
    return await OrderRepository(session).upsert_many(organization_id, orders)


async def upsert(
    session: AsyncSession,
    organization_id: uuid.UUID,
    channel: str,
    connection_id: uuid.UUID,
    order: mapping.NormalisedOrder,
) -> uuid.UUID | None:
    """``apply``, answering the order's id when it was created or updated (None for an older
    or equal version). The order's row stays locked to the end of the transaction, so what
    follows from it (``commerce.flows``: the stock it reserves) is serialised per order."""
    set_tenant(session, organization_id)
    return await OrderRepository(session).upsert(organization_id, channel, connection_id, order)
