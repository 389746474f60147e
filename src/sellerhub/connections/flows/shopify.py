"""Shopify OAuth (providers.md §4.1): ``begin`` validates the shop and builds the shop's consent
URL with a state bound to the browser and the shop; ``complete`` verifies the callback's query
HMAC (constant time), the timestamp window, the state (single-use, 10 minutes, same browser) and
the shop, exchanges the code for an expiring offline token, registers the webhooks the platform
needs and saves the connection."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.config import Settings
from sellerhub.connections import vault
from sellerhub.connections.errors import (
    InvalidShop,
    ShopifyCallbackRejected,
    ShopifyConnectFailed,
    ShopifyConsentDenied,
)
from sellerhub.connections.flows.base import FlowContext
from sellerhub.connections.models import ConnectionStatus
from sellerhub.connections.providers.base import RefreshFailed, TokenGrant
from sellerhub.connections.providers.shopify.adapter import (
    ShopifyProvider,
    valid_shop,
    verify_query_hmac,
)
from sellerhub.connections.service import activate, record_connected, request_first_sync
from sellerhub.core.crypto import KeyRing
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.oauth_states import service as oauth_states
from sellerhub.identity.oauth_states.service import ConsentStart, ConsumedState

log = get_logger(__name__)
PROVIDER = ShopifyProvider()
PURPOSE = "shopify"
BROWSER_COOKIE = "sh_oauth_shopify"
COOKIE_PATH = "/api/v1/auth/shopify"
TIMESTAMP_WINDOW = 90  # seconds either way (the official JS library's window)
WEBHOOK_TOPICS = ("orders/create", "orders/updated", "app/uninstalled")
Params = list[tuple[str, str]]


def shop_domain(raw: str | None) -> str:
    shop = (raw or "").strip().lower().rstrip("/")
    if not shop:
        raise InvalidShop("the shop parameter is missing (e.g. shop=your-store.myshopify.com)")
    if not valid_shop(shop):
        raise InvalidShop(f"{shop[:100]!r} is not a shop domain like your-store.myshopify.com")
    return shop


async def begin(
    session: AsyncSession,
    ring: KeyRing,
    settings: Settings,
    *,
    cookies: Mapping[str, str],
    shop: str | None,
    next_url: str | None,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> tuple[str, ConsentStart]:
    """The shop's app-install consent URL, and the started state (bound to the shop)."""
    domain = shop_domain(shop)
    redirect_uri = settings.public_url + COOKIE_PATH + "/callback"
    started = await oauth_states.begin(
        session,
        ring,
        cookies=cookies,
        allowed_origins=settings.auth_allowed_redirect_origins,
        purpose=PURPOSE,
        next_url=next_url,
        redirect_uri=redirect_uri,
        organization_id=organization_id,
        user_id=user_id,
        pkce=False,
        subject=domain,
        cookie=BROWSER_COOKIE,
        path=COOKIE_PATH,
    )
    query = urlencode(
        {
            "client_id": settings.shopify_client_id,
            "scope": settings.shopify_scopes,
            "redirect_uri": redirect_uri,
            "state": started.state,
            "grant_options[]": "",
        }
    )
    return f"{settings.shopify_shop_url(domain)}/admin/oauth/authorize?{query}", started


def verify_callback(settings: Settings, params: Params) -> str:
    """The verified shop domain; raises before anything is looked up otherwise."""
    query = dict(params)
    given = query.get("hmac", "")
    secret = settings.shopify_client_secret.get_secret_value()
    if not given or not verify_query_hmac(params, secret, given):
        log.warning("shopify.callback_hmac_rejected")
        raise ShopifyCallbackRejected("the callback's HMAC does not match")
    shop = shop_domain(query.get("shop"))
    try:
        timestamp = int(query.get("timestamp", ""))
    except ValueError:
        raise ShopifyCallbackRejected("the callback has no valid timestamp") from None
    if abs(time.time() - timestamp) > TIMESTAMP_WINDOW:
        raise ShopifyCallbackRejected("the callback's timestamp is too old or in the future")
    return shop


async def complete(ctx: FlowContext, params: Params, browser_token: str | None) -> str:
    """The callback, with its query parameters as they came and the browser's binding cookie;
    answers where to send the browser. The state is used up (committed) whatever happens
    next. A refusal at the shop comes back unsigned (``error=access_denied``, no HMAC): it is
    reported as such, and nothing is looked up or used up for it."""
    query = dict(params)
    if query.get("error") and not query.get("hmac"):
        raise ShopifyConsentDenied("the app was not installed: the installation was cancelled")
    shop = verify_callback(ctx.settings, params)
    consumed = await oauth_states.consume_committed(
        ctx.sessionmaker,
        ctx.keyring,
        state=dict(params).get("state", ""),
        browser_token=browser_token,
    )
    if consumed.purpose != PURPOSE or consumed.subject != shop:
        raise ShopifyCallbackRejected("the callback is for another shop than the one started")
    await _finish(ctx, consumed, shop, dict(params).get("code"))
    return consumed.next_url


async def register_webhooks(
    http: httpx.AsyncClient, base: str, token: str, address: str
) -> list[str]:
    """Subscribe to the topics the platform handles; returns the topics that failed."""
    failed = []
    for topic in WEBHOOK_TOPICS:
        try:
            response = await http.post(
                base + "/webhooks.json",
                json={"webhook": {"topic": topic, "address": address, "format": "json"}},
                headers=PROVIDER.auth_headers(token, {}),
            )
            ok = response.status_code in (200, 201, 422)  # 422: already subscribed
        except httpx.HTTPError:
            ok = False
        if not ok:
            failed.append(topic)
    return failed


async def _finish(ctx: FlowContext, consumed: ConsumedState, shop: str, code: str | None) -> None:
    settings = ctx.settings
    if not code:
        raise ShopifyConnectFailed("Shopify's answer carried no code")
    try:
        grant: TokenGrant = await PROVIDER.exchange_code(ctx.http, settings, shop, code)
    except RefreshFailed as exc:
        raise ShopifyConnectFailed(f"the shop was not connected: {exc.reason}") from None
    base = PROVIDER.api_base(settings, "production", {"shop": shop})
    failed = await register_webhooks(
        ctx.http, base, grant.access_token, settings.public_url + "/webhooks/shopify"
    )
    organization_id = consumed.organization_id
    assert organization_id is not None
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        connection, _ = await activate(
            session,
            organization_id=organization_id,
            provider=PROVIDER.name,
            account=shop,
            display_name=shop,
        )
        if failed:
            connection.status = ConnectionStatus.ERROR
            connection.status_reason = f"webhook subscriptions failed for {', '.join(failed)}"
        connection.details = {"shop": shop, "webhooks_failed": failed}
        vault.store_tokens(ctx.keyring, connection, grant)
        await record_connected(
            session,
            connection,
            actor_user_id=consumed.user_id,
            data={"account": shop, "expiring": bool(grant.expires_at)},
        )
        await request_first_sync(session, organization_id, connection.id)
