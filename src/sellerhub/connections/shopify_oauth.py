"""Shopify OAuth (seed paths, providers.md §4.1): install validates the shop and sends the browser
to the shop's consent page with a state; the callback verifies the query HMAC (constant time),
the state (single-use, 10 minutes, same browser), the shop and the timestamp window, exchanges
the code for an expiring offline token, registers the webhooks the platform needs and saves the
connection."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from sellerhub.connections import vault
from sellerhub.connections.models import ConnectionStatus
from sellerhub.connections.providers.base import RefreshFailed, TokenGrant
from sellerhub.connections.providers.shopify.adapter import (
    ShopifyProvider,
    valid_shop,
    verify_query_hmac,
)
from sellerhub.connections.service import activate, record_connected, request_first_sync
from sellerhub.core.errors import DomainError, Unauthenticated, ValidationFailed
from sellerhub.core.logging import get_logger
from sellerhub.core.openapi import HTML_CONTENT as HTML
from sellerhub.db.session import commit, unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import AdminPrincipal, SessionDep
from sellerhub.identity.amazon.endpoints import error_response
from sellerhub.identity.amazon.states import (
    ConsumedState,
    StateWrongBrowser,
    begin_consent,
    consume_state,
)

router = APIRouter(prefix="/api/v1/auth/shopify", tags=["shopify"])
log = get_logger(__name__)
PROVIDER = ShopifyProvider()
PURPOSE = "shopify"
BROWSER_COOKIE = "sh_oauth_shopify"
COOKIE_PATH = "/api/v1/auth/shopify"
TIMESTAMP_WINDOW = 90  # seconds either way (the official JS library's window)
WEBHOOK_TOPICS = ("orders/create", "orders/updated", "app/uninstalled")


class InvalidShop(ValidationFailed):
    status = 400
    code = "invalid-shop"
    title = "That is not a Shopify shop address"


class ShopifyCallbackRejected(Unauthenticated):
    code = "shopify-callback-rejected"
    title = "The Shopify callback could not be verified"


class ShopifyConnectFailed(DomainError):
    status = 400
    code = "shopify-connect-failed"
    title = "The shop was not connected"


def _shop(raw: str | None) -> str:
    shop = (raw or "").strip().lower().rstrip("/")
    if not shop:
        raise InvalidShop("the shop parameter is missing (e.g. shop=your-store.myshopify.com)")
    if not valid_shop(shop):
        raise InvalidShop(f"{shop[:100]!r} is not a shop domain like your-store.myshopify.com")
    return shop


@router.get(
    "/install",
    status_code=302,
    response_class=RedirectResponse,
    responses={400: {"description": "invalid-shop: not a shop domain like x.myshopify.com"}},
)
async def install(
    request: Request,
    session: SessionDep,
    principal: AdminPrincipal,
    shop: str | None = Query(None, description="your-store.myshopify.com"),
    next: str | None = Query(None, description="where to land afterwards (allow-listed)"),
) -> Response:
    """Send the browser to the shop's app-install consent page."""
    settings = request.app.state.settings
    domain = _shop(shop)
    redirect_uri = settings.public_url + COOKIE_PATH + "/callback"
    started = await begin_consent(
        request,
        session,
        purpose=PURPOSE,
        next_url=next,
        redirect_uri=redirect_uri,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
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
    response = RedirectResponse(
        f"{settings.shopify_shop_url(domain)}/admin/oauth/authorize?{query}", status_code=302
    )
    return started.bind(response, request)


def _verify_callback(request: Request) -> str:
    """The verified shop domain; raises before anything is looked up otherwise."""
    params = list(request.query_params.multi_items())
    given = request.query_params.get("hmac", "")
    secret = request.app.state.settings.shopify_client_secret.get_secret_value()
    if not given or not verify_query_hmac(params, secret, given):
        log.warning("shopify.callback_hmac_rejected")
        raise ShopifyCallbackRejected("the callback's HMAC does not match")
    shop = _shop(request.query_params.get("shop"))
    try:
        timestamp = int(request.query_params.get("timestamp", ""))
    except ValueError:
        raise ShopifyCallbackRejected("the callback has no valid timestamp") from None
    if abs(time.time() - timestamp) > TIMESTAMP_WINDOW:
        raise ShopifyCallbackRejected("the callback's timestamp is too old or in the future")
    return shop


@router.get(
    "/callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        # Browsers (Accept: text/html) get a page, everything else problem+json.
        400: {
            "description": "the shop, the state or Shopify's answer is not valid",
            "content": HTML,
        },
        401: {
            "description": "the HMAC, timestamp or shop of the callback is wrong",
            "content": HTML,
        },
        503: {"description": "the database is unavailable", "content": HTML},
    },
)
async def callback(request: Request) -> Response:
    runtime = request.app.state.runtime
    try:
        shop = _verify_callback(request)
    except DomainError as exc:
        return error_response(request, exc)
    async with runtime.sessionmaker() as session:
        try:
            consumed = await consume_state(
                session,
                runtime.keyring,
                state=request.query_params.get("state", ""),
                browser_token=request.cookies.get(BROWSER_COOKIE),
            )
        except StateWrongBrowser as exc:
            await commit(session)
            return error_response(request, exc)
        except DomainError as exc:
            return error_response(request, exc)
        await commit(session)
    try:
        if consumed.purpose != PURPOSE or consumed.subject != shop:
            raise ShopifyCallbackRejected("the callback is for another shop than the one started")
        return await _finish(request, consumed, shop)
    except DomainError as exc:
        return error_response(request, exc)


async def _register_webhooks(
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


async def _finish(request: Request, consumed: ConsumedState, shop: str) -> Response:
    runtime = request.app.state.runtime
    settings = runtime.settings
    code = request.query_params.get("code")
    if not code:
        raise ShopifyConnectFailed("Shopify's answer carried no code")
    try:
        grant: TokenGrant = await PROVIDER.exchange_code(runtime.http, settings, shop, code)
    except RefreshFailed as exc:
        raise ShopifyConnectFailed(f"the shop was not connected: {exc.reason}") from None
    base = PROVIDER.api_base(settings, "production", {"shop": shop})
    failed = await _register_webhooks(
        runtime.http, base, grant.access_token, settings.public_url + "/webhooks/shopify"
    )
    organization_id = consumed.organization_id
    assert organization_id is not None
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        connection, _ = await activate(
            session,
            organization_id=organization_id,
            provider=PROVIDER.name,
            account=shop,
            display_name=shop,
        )
        if failed:
            connection.status = ConnectionStatus.ERROR.value
            connection.status_reason = f"webhook subscriptions failed for {', '.join(failed)}"
        connection.details = {"shop": shop, "webhooks_failed": failed}
        vault.store_tokens(runtime.keyring, connection, grant)
        await record_connected(
            session,
            connection,
            actor_user_id=consumed.user_id,
            data={"account": shop, "expiring": bool(grant.expires_at)},
        )
        await request_first_sync(session, organization_id, connection.id)
    response = RedirectResponse(consumed.next_url, status_code=302)
    response.delete_cookie(BROWSER_COOKIE, path=COOKIE_PATH)
    return response
