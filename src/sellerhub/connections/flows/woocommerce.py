"""WooCommerce (providers.md §5.1): the one-click key grant, and the store's order webhooks
that every WooCommerce connection gets (by the grant, or from manually entered keys).

The grant: ``begin`` checks the store URL with the SSRF guard and builds the store's
``/wc-auth/v1/authorize`` URL with an opaque, single-use ``user_id``; the store POSTs the keys
(``receive_keys``: accepted only for a pending grant), which are stored encrypted, then verified
with a REST call, and the order webhooks are created with a per-connection secret."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.config import Settings
from sellerhub.connections import vault
from sellerhub.connections.errors import CarrierUnavailable, CredentialsRejected
from sellerhub.connections.flows.base import FlowContext
from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.connections.providers.base import TokenGrant
from sellerhub.connections.providers.woocommerce.adapter import basic_credential, rest_auth
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.connections.service import activate, record_connected, request_first_sync
from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import DomainError, NotFound
from sellerhub.core.logging import get_logger
from sellerhub.core.ssrf import check_url, normalize_store_url
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.oauth_states import service as oauth_states
from sellerhub.identity.oauth_states.service import ConsentStart

log = get_logger(__name__)
PROVIDER = "woocommerce"
PURPOSE = "woocommerce"
BROWSER_COOKIE = "sh_oauth_woocommerce"
COOKIE_PATH = "/api/v1/auth/woocommerce"
WEBHOOK_TOPICS = ("order.created", "order.updated")


# --- the store's REST API and webhooks (shared by the grant and manual keys) ---------------


async def keys_accepted(http: httpx.AsyncClient, store_url: str, key: str, secret: str) -> bool:
    """``GET /wp-json/wc/v3/system_status`` with the keys: True on 200; raises
    ``CredentialsRejected`` for 401/403 and ``CarrierUnavailable`` otherwise."""
    # Basic over https; over plain http (development stores) WooCommerce wants OAuth 1.0a.
    headers, signer = rest_auth(store_url, key, secret)
    try:
        response = await http.get(
            store_url + "/wp-json/wc/v3/system_status",
            headers=headers,
            auth=signer if signer is not None else httpx.USE_CLIENT_DEFAULT,
        )
    except httpx.HTTPError:
        raise CarrierUnavailable("the store did not answer; check the address") from None
    if response.status_code in (401, 403):
        raise CredentialsRejected("the store refused these keys (read access is required)")
    if response.status_code != 200:
        raise CarrierUnavailable(f"the store answered HTTP {response.status_code}")
    return True


def webhook_address(settings: Settings, connection_id: uuid.UUID) -> str:
    return f"{settings.public_url}/webhooks/woocommerce/{connection_id}"


async def _subscribed_topics(
    http: httpx.AsyncClient,
    api: str,
    headers: dict[str, str],
    signer: httpx.Auth | None,
    address: str,
) -> set[str]:
    """Topics with an active webhook at ``address`` already (none when the list is refused)."""
    try:
        response = await http.get(
            api + "/webhooks",
            params={"per_page": "100"},
            headers=headers,
            auth=signer if signer is not None else httpx.USE_CLIENT_DEFAULT,
        )
        hooks = response.json() if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        return set()
    if not isinstance(hooks, list):
        return set()
    return {
        str(hook.get("topic"))
        for hook in hooks
        if isinstance(hook, dict)
        and hook.get("delivery_url") == address
        and hook.get("status") == "active"
    }


async def create_webhooks(
    http: httpx.AsyncClient,
    store_url: str,
    key: str,
    secret: str,
    *,
    webhook_secret: str,
    address: str,
    keep_existing: bool = False,
) -> list[str]:
    """Create the order webhooks at the store, signed with ``webhook_secret`` and delivered to
    ``address``; returns the topics that failed. ``keep_existing`` (the secret is the one the
    connection had): topics already subscribed at ``address`` are not created twice."""
    headers, signer = rest_auth(store_url, key, secret)
    auth = signer if signer is not None else httpx.USE_CLIENT_DEFAULT
    api = store_url + "/wp-json/wc/v3"
    existing = (
        await _subscribed_topics(http, api, headers, signer, address) if keep_existing else set()
    )
    failed = []
    for topic in WEBHOOK_TOPICS:
        if topic in existing:
            continue
        try:
            created = await http.post(
                api + "/webhooks",
                json={
                    "name": f"sellerhub {topic}",
                    "topic": topic,
                    "delivery_url": address,
                    "secret": webhook_secret,
                },
                headers=headers,
                auth=auth,
            )
            ok = created.status_code in (200, 201)
        except httpx.HTTPError:
            ok = False
        if not ok:
            failed.append(topic)
    return failed


def store_keys(ring: KeyRing, connection: Connection, key: str, secret: str) -> None:
    vault.store_client_secret(ring, connection, key, secret)
    vault.store_tokens(ring, connection, TokenGrant(basic_credential(key, secret), None))


def webhooks_outcome(connection: Connection, failed: list[str]) -> None:
    """The connection's status after its webhooks were created (``error`` naming the failed
    topics: the store's events would not reach us)."""
    connection.status = ConnectionStatus.ERROR if failed else ConnectionStatus.CONNECTED
    connection.status_reason = (
        f"webhook creation failed for {', '.join(failed)}" if failed else None
    )


# --- the key grant ---------------------------------------------------------------------------


async def begin(
    session: AsyncSession,
    ring: KeyRing,
    settings: Settings,
    *,
    cookies: Mapping[str, str],
    store_url: str,
    next_url: str | None,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> tuple[str, ConsentStart]:
    """The store's authorization URL for a key grant, and the started state (its ``user_id``)."""
    store_url = normalize_store_url(store_url)
    await check_url(store_url, allow_local=not settings.is_production)
    started = await oauth_states.begin(
        session,
        ring,
        cookies=cookies,
        allowed_origins=settings.auth_allowed_redirect_origins,
        purpose=PURPOSE,
        next_url=next_url,
        redirect_uri=store_url,
        organization_id=organization_id,
        user_id=user_id,
        pkce=False,
        subject=store_url[:255],
        cookie=BROWSER_COOKIE,
        path=COOKIE_PATH,
    )
    base = settings.public_url + COOKIE_PATH
    params = {
        "app_name": "sellerhub",
        "scope": "read_write",
        "user_id": started.state,  # opaque and single-use, never an internal id
        "return_url": f"{base}/return",
        "callback_url": f"{base}/callback",
    }
    return f"{store_url}/wc-auth/v1/authorize?{httpx.QueryParams(params)}", started


async def receive_keys(ctx: FlowContext, *, user_id: str, key: str, secret: str) -> None:
    """The store's POST of the generated keys, for the pending grant ``user_id`` (``NotFound``
    otherwise). The keys are committed first; then checked, and the webhooks created."""
    try:
        async with unit_of_work(ctx.sessionmaker) as session:
            grant = await oauth_states.consume_state(
                session, ctx.keyring, state=user_id, browser_token=None, check_browser=False
            )
    except DomainError as exc:
        log.warning("woocommerce.callback_refused", code=exc.code)
        raise NotFound("no pending WooCommerce key grant for this user_id") from None
    if grant.purpose != PURPOSE or grant.organization_id is None or not grant.subject:
        raise NotFound("no pending WooCommerce key grant for this user_id")
    store_url = grant.subject
    webhook_secret = secrets.token_urlsafe(32)
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, grant.organization_id)
        connection, _ = await activate(
            session,
            organization_id=grant.organization_id,
            provider=PROVIDER,
            account=store_url,
            display_name=f"WooCommerce {store_url.split('://', 1)[1]}",
            scopes=["read_write"],
        )
        connection.status_reason = "checking the keys"
        connection.details = {"store_url": store_url, "source": "key_grant", "next": grant.next_url}
        store_keys(ctx.keyring, connection, key, secret)
        vault.store_webhook_secret(ctx.keyring, connection, webhook_secret)
        connection_id, organization_id = connection.id, connection.organization_id
    # The keys are committed; now check them and subscribe to the order webhooks.
    try:
        ok = await keys_accepted(ctx.http, store_url, key, secret)
    except DomainError:
        ok = False
    failed = (
        await create_webhooks(
            ctx.http,
            store_url,
            key,
            secret,
            webhook_secret=webhook_secret,
            address=webhook_address(ctx.settings, connection_id),
        )
        if ok
        else list(WEBHOOK_TOPICS)
    )
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        checked = await ConnectionRepository(session).get(connection_id, lock=True)
        if checked is None:
            return
        if not ok:
            checked.status = ConnectionStatus.ERROR
            checked.status_reason = "the store refused the new keys on a REST call"
        else:
            webhooks_outcome(checked, failed)
        checked.last_refreshed_at = utcnow()
        await record_connected(
            session,
            checked,
            actor_user_id=grant.user_id,
            data={"account": store_url, "verified": ok},
        )
        if ok:
            await request_first_sync(session, organization_id, connection_id)
