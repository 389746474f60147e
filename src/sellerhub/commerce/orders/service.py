"""Orders: normalised from Shopify and WooCommerce, idempotent per (organization, connection,
external id) — the connection is the store, so two stores' order 1 are two orders — applied in
the order of the provider's ``updated_at``."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.orders import mapping
from sellerhub.commerce.orders.repository import OrderRepository
from sellerhub.db.reads import TenantReader
from sellerhub.db.tenancy import set_tenant
from sellerhub.webhooks.models import WebhookEvent


async def count(session: AsyncSession) -> int:
    """How many orders the session's organization has (all stores)."""
    return await OrderRepository(session).count()


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
    set_tenant(session, organization_id)
    changed = await OrderRepository(session).upsert(organization_id, channel, connection_id, order)
    return changed is not None


async def _from_shopify(session: AsyncSession, event: WebhookEvent) -> None:
    if event.organization_id is None or event.connection_id is None:
        return  # a shop no organization has connected: stored, nothing to apply
    await apply(
        session,
        event.organization_id,
        "shopify",
        event.connection_id,
        mapping.shopify(event.payload),
    )


async def _from_woocommerce(session: AsyncSession, event: WebhookEvent) -> None:
    if event.organization_id is None or event.connection_id is None:
        return  # the delivery's connection was unknown: stored, nothing to apply
    await apply(
        session,
        event.organization_id,
        "woocommerce",
        event.connection_id,
        mapping.woocommerce(event.payload),
    )
