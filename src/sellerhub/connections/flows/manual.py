"""Manual credentials: an organization pastes its WooCommerce REST keys or a self-authorized
SP-API refresh token instead of running the consent flow. Each save is validated for shape (the
schemas) and by a live call, stored encrypted on the organization's connection, and audited;
WooCommerce keys also get the connection's own webhook secret and the store's order webhooks,
as the key grant does. Nothing secret is ever returned."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.connections import vault
from sellerhub.connections.errors import (
    AmazonCheckFailed,
    CarrierUnavailable,
    CredentialsRejected,
)
from sellerhub.connections.flows import woocommerce
from sellerhub.connections.flows.amazon_sp import fetch_marketplaces
from sellerhub.connections.flows.base import FlowContext
from sellerhub.connections.models import Connection
from sellerhub.connections.providers.amazon_spapi.adapter import AmazonSpApiProvider
from sellerhub.connections.providers.base import ClientSecrets, RefreshFailed, TokenGrant
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.connections.schemas import AmazonCredentials, WooCommerceCredentials
from sellerhub.connections.service import (
    activate,
    mark_disconnected,
    record_connected,
    request_first_sync,
)
from sellerhub.core.errors import NotFound
from sellerhub.core.ssrf import check_url, normalize_store_url

SPAPI = AmazonSpApiProvider()
# provider → the key of the status answer
PROVIDERS = {"woocommerce": "woocommerce", "amazon_spapi": "amazon"}


async def _save(
    session: AsyncSession,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    provider: str,
    account: str,
    *,
    replace: bool,
    apply: Callable[[Connection, bool], Awaitable[None]],
) -> tuple[Connection, bool]:
    connection, created = await activate(
        session,
        organization_id=organization_id,
        provider=provider,
        account=account,
        must_exist=replace,
    )
    await apply(connection, created)
    await record_connected(
        session,
        connection,
        actor_user_id=user_id,
        data={"account": account, "source": "manual"},
        action="CHANNEL_CONNECTED" if created else "CREDENTIALS_SAVED",
    )
    await session.refresh(connection)  # server-side timestamps, for the answer
    return connection, created


async def save_woocommerce(
    session: AsyncSession,
    ctx: FlowContext,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    body: WooCommerceCredentials,
    replace: bool,
) -> tuple[Connection, bool]:
    """Check the keys at the store, store them, and subscribe to the store's order webhooks
    with the connection's webhook secret (kept when the connection has one: webhooks already
    at our address are then not created twice). Returns (connection, created)."""
    store_url = normalize_store_url(body.store_url)
    await check_url(store_url, allow_local=not ctx.settings.is_production)
    key, secret = body.consumer_key, body.consumer_secret
    await woocommerce.keys_accepted(ctx.http, store_url, key, secret)
    ring = ctx.keyring

    async def apply(connection: Connection, created: bool) -> None:
        connection.display_name = f"WooCommerce {store_url.split('://', 1)[1]}"
        connection.details = {"store_url": store_url, "source": "manual"}
        woocommerce.store_keys(ring, connection, key, secret)
        known = None if created else vault.webhook_secret(ring, connection)
        webhook_secret = known or secrets.token_urlsafe(32)
        vault.store_webhook_secret(ring, connection, webhook_secret)
        failed = await woocommerce.create_webhooks(
            ctx.http,
            store_url,
            key,
            secret,
            webhook_secret=webhook_secret,
            address=woocommerce.webhook_address(ctx.settings, connection.id),
            keep_existing=known is not None,
        )
        woocommerce.webhooks_outcome(connection, failed)

    connection, created = await _save(
        session,
        organization_id,
        user_id,
        woocommerce.PROVIDER,
        store_url,
        replace=replace,
        apply=apply,
    )
    if created:
        await request_first_sync(session, organization_id, connection.id)
    return connection, created


async def _check_amazon(
    ctx: FlowContext, data: AmazonCredentials
) -> tuple[TokenGrant, list[dict[str, Any]]]:
    client = ClientSecrets(
        client_id=data.lwa_client_id or "",
        client_secret=data.lwa_client_secret or "",
        environment="production",
        refresh_token=data.refresh_token,
    )
    try:
        grant = await SPAPI.fetch_token(ctx.http, ctx.settings, client)
    except RefreshFailed as exc:
        if exc.permanent:
            raise CredentialsRejected(exc.reason) from None
        raise CarrierUnavailable(exc.reason) from None
    base = SPAPI.api_base(ctx.settings, "production", {"region": data.region})
    try:
        return grant, await fetch_marketplaces(ctx.http, base, grant.access_token)
    except AmazonCheckFailed as exc:
        raise CredentialsRejected(exc.detail) from None


async def save_amazon(
    session: AsyncSession,
    ctx: FlowContext,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    body: AmazonCredentials,
    replace: bool,
) -> tuple[Connection, bool]:
    """Check a self-authorized refresh token (a refresh at LWA and marketplaceParticipations)
    and store it. Returns (connection, created)."""
    grant, marketplaces = await _check_amazon(ctx, body)
    ring = ctx.keyring

    async def apply(connection: Connection, created: bool) -> None:
        connection.display_name = f"Amazon seller {body.selling_partner_id}"
        connection.details = {
            "region": body.region,
            "marketplaces": marketplaces,
            "source": "manual",
        }
        if body.lwa_client_id and body.lwa_client_secret:
            vault.store_client_secret(ring, connection, body.lwa_client_id, body.lwa_client_secret)
        vault.store_tokens(
            ring,
            connection,
            TokenGrant(
                grant.access_token,
                grant.expires_at,
                refresh_token=grant.refresh_token or body.refresh_token,
            ),
        )

    return await _save(
        session,
        organization_id,
        user_id,
        SPAPI.name,
        body.selling_partner_id,
        replace=replace,
        apply=apply,
    )


async def delete(session: AsyncSession, *, user_id: uuid.UUID | None, provider: str) -> None:
    """Disconnect the organization's manual connections of ``provider`` (404 when none)."""
    repo = ConnectionRepository(session)
    found = [
        c
        for c in await repo.all()
        if c.provider == provider and (c.details or {}).get("source") == "manual"
    ]
    if not found:
        raise NotFound(f"no manual {provider} credentials")
    for connection in found:
        await mark_disconnected(
            session,
            connection,
            reason="credentials deleted",
            actor_user_id=user_id,
            data={"source": "manual"},
        )


async def status(session: AsyncSession) -> dict[str, Any]:
    """Which manual credentials the organization has, and their state (never the secrets)."""
    connections = await ConnectionRepository(session).all()
    result: dict[str, Any] = {}
    for provider, key in PROVIDERS.items():
        mine = [c for c in connections if c.provider == provider]
        result[key] = {
            "configured": bool(mine),
            "connections": [
                {
                    "id": str(c.id),
                    "account": c.external_account_id,
                    "status": c.status,
                    "status_reason": c.status_reason,
                    "source": (c.details or {}).get("source", "consent"),
                }
                for c in mine
            ],
        }
    return result
