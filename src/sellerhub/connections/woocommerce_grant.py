"""WooCommerce one-click key grant (providers.md §5.1): ``connect`` checks the store URL with
the SSRF guard and sends the browser to ``{store}/wc-auth/v1/authorize`` with an opaque,
single-use ``user_id``; the store POSTs the keys to ``callback`` (accepted only for a pending
grant, answered exactly 200), which stores them encrypted, verifies them with a REST call and
creates the order webhooks with a per-connection secret; ``return`` shows the outcome."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from sellerhub.connections import vault
from sellerhub.connections.models import ConnectionStatus
from sellerhub.connections.providers.base import TokenGrant
from sellerhub.connections.providers.woocommerce.adapter import basic_credential, rest_auth
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.connections.service import activate, record_connected, request_first_sync
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError, NotFound, ValidationFailed
from sellerhub.core.logging import get_logger
from sellerhub.core.openapi import HTML_CONTENT as HTML
from sellerhub.core.ssrf import check_url, normalize_store_url
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import AdminPrincipal, SessionDep
from sellerhub.identity.amazon.states import (
    begin_consent,
    consume_state,
)

router = APIRouter(prefix="/api/v1/auth/woocommerce", tags=["woocommerce"])
log = get_logger(__name__)
PURPOSE = "woocommerce"
BROWSER_COOKIE = "sh_oauth_woocommerce"
COOKIE_PATH = "/api/v1/auth/woocommerce"
WEBHOOK_TOPICS = ("order.created", "order.updated")


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_url: str = Field(min_length=4, max_length=500)
    next: str | None = Field(None, max_length=2000)


class ConnectStart(BaseModel):
    auth_url: str


class GrantKeys(BaseModel):
    key_id: int | str | None = None
    user_id: str = Field(min_length=10, max_length=200)
    consumer_key: str = Field(pattern=r"^ck_[0-9a-f]{40}$")
    consumer_secret: str = Field(pattern=r"^cs_[0-9a-f]{40}$")
    key_permissions: str | None = None


@router.post(
    "/connect",
    response_model=ConnectStart,
    responses={303: {"description": "to the store's authorization page (Accept: text/html)"}},
)
async def connect(
    body: ConnectRequest, request: Request, session: SessionDep, principal: AdminPrincipal
) -> Response:
    """Start the key grant: answers the store's authorization URL (303 to it for browsers that
    accept HTML)."""
    settings = request.app.state.settings
    store_url = normalize_store_url(body.store_url)
    await check_url(store_url, allow_local=not settings.is_production)
    started = await begin_consent(
        request,
        session,
        purpose=PURPOSE,
        next_url=body.next,
        redirect_uri=store_url,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
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
    auth_url = f"{store_url}/wc-auth/v1/authorize?{httpx.QueryParams(params)}"
    response: Response
    if "text/html" in request.headers.get("accept", ""):
        response = RedirectResponse(auth_url, status_code=303)
    else:
        response = JSONResponse(ConnectStart(auth_url=auth_url).model_dump())
    return started.bind(response, request)


async def _verify_and_subscribe(
    http: httpx.AsyncClient, store_url: str, keys: GrantKeys, webhook_secret: str, address: str
) -> tuple[bool, list[str]]:
    # Basic over https; over plain http (development stores) WooCommerce wants OAuth 1.0a.
    headers, signer = rest_auth(store_url, keys.consumer_key, keys.consumer_secret)
    auth = signer if signer is not None else httpx.USE_CLIENT_DEFAULT
    api = store_url + "/wp-json/wc/v3"
    try:
        check = await http.get(api + "/system_status", headers=headers, auth=auth)
    except httpx.HTTPError:
        return False, list(WEBHOOK_TOPICS)
    if check.status_code != 200:
        return False, list(WEBHOOK_TOPICS)
    failed = []
    for topic in WEBHOOK_TOPICS:
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
    return True, failed


@router.post(
    "/callback",
    responses={
        404: {"description": "no pending key grant for this user_id"},
        503: {"description": "the database is unavailable"},
    },
)
async def callback(keys: GrantKeys, request: Request) -> Response:
    """The store's POST of the generated keys. Accepted only for a pending grant; answers 200
    (WooCommerce requires exactly 200) once the keys are stored."""
    runtime = request.app.state.runtime
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            grant = await consume_state(
                session,
                runtime.keyring,
                state=keys.user_id,
                browser_token=None,
                check_browser=False,
            )
    except DomainError as exc:
        log.warning("woocommerce.callback_refused", code=exc.code)
        raise NotFound("no pending WooCommerce key grant for this user_id") from None
    if grant.purpose != PURPOSE or grant.organization_id is None or not grant.subject:
        raise NotFound("no pending WooCommerce key grant for this user_id")
    store_url = grant.subject
    webhook_secret = secrets.token_urlsafe(32)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, grant.organization_id)
        connection, _ = await activate(
            session,
            organization_id=grant.organization_id,
            provider="woocommerce",
            account=store_url,
            display_name=f"WooCommerce {store_url.split('://', 1)[1]}",
            scopes=["read_write"],
        )
        connection.status_reason = "checking the keys"
        connection.details = {"store_url": store_url, "source": "key_grant", "next": grant.next_url}
        vault.store_client_secret(
            runtime.keyring, connection, keys.consumer_key, keys.consumer_secret
        )
        vault.store_tokens(
            runtime.keyring,
            connection,
            TokenGrant(basic_credential(keys.consumer_key, keys.consumer_secret), None),
        )
        vault.store_webhook_secret(runtime.keyring, connection, webhook_secret)
        connection_id, organization_id = connection.id, connection.organization_id
    # The keys are committed; now check them and subscribe to the order webhooks.
    address = f"{runtime.settings.public_url}/webhooks/woocommerce/{connection_id}"
    ok, failed = await _verify_and_subscribe(runtime.http, store_url, keys, webhook_secret, address)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        checked = await ConnectionRepository(session).get(connection_id, lock=True)
        if checked is not None:
            if not ok:
                checked.status = ConnectionStatus.ERROR.value
                checked.status_reason = "the store refused the new keys on a REST call"
            else:
                checked.status = (
                    ConnectionStatus.ERROR.value if failed else ConnectionStatus.CONNECTED.value
                )
                checked.status_reason = (
                    f"webhook creation failed for {', '.join(failed)}" if failed else None
                )
            checked.last_refreshed_at = utcnow()
            await record_connected(
                session,
                checked,
                actor_user_id=grant.user_id,
                data={"account": store_url, "verified": ok},
            )
            if ok:
                await request_first_sync(session, organization_id, connection_id)
    return JSONResponse({"ok": True}, status_code=200)


@router.get(
    "/return",
    response_model=None,
    responses={
        200: {"description": "connected", "content": {"application/json": {}, **HTML}},
        400: {"description": "not connected (a page, for browsers)", "content": HTML},
        422: {"description": "not connected: the store did not grant access"},
    },
)
async def return_page(
    request: Request,
    success: str = Query("0"),
    user_id: str = Query("", max_length=200),
) -> Response:
    """Where the store sends the browser back: success, or ``success=0`` (denied or failed)."""
    if success != "1":
        error = ValidationFailed("WooCommerce was not connected: the store did not grant access")
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(
                "<!doctype html><html><body><h1>WooCommerce was not connected</h1>"
                "<p>The store did not grant access.</p></body></html>",
                status_code=400,
            )
        raise error
    body: dict[str, Any] = {"connected": True}
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(
            "<!doctype html><html><body><h1>WooCommerce connected</h1></body></html>"
        )
    return JSONResponse(body)
