"""Manual credentials (seed paths): an organization pastes its WooCommerce REST keys or a
self-authorized SP-API refresh token instead of running the consent flow. Each save is
validated for shape and by a live call, stored encrypted on the organization's connection, and
audited; nothing secret is ever returned."""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.connections import vault
from sellerhub.connections.amazon_consent import AmazonCheckFailed, fetch_marketplaces
from sellerhub.connections.models import Connection
from sellerhub.connections.providers.amazon_spapi.adapter import AmazonSpApiProvider
from sellerhub.connections.providers.base import ClientSecrets, RefreshFailed, TokenGrant
from sellerhub.connections.providers.woocommerce.adapter import basic_credential, rest_auth
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.connections.service import (
    CarrierUnavailable,
    CredentialsRejected,
    activate,
    describe,
    mark_disconnected,
    record_connected,
    request_first_sync,
)
from sellerhub.core.errors import NotFound
from sellerhub.core.ssrf import check_url, normalize_store_url
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep
from sellerhub.identity.principal import Principal

router = APIRouter(prefix="/integrations", tags=["manual credentials"])
_WC_KEY = re.compile(r"^ck_[0-9a-f]{40}$")
_WC_SECRET = re.compile(r"^cs_[0-9a-f]{40}$")
SPAPI = AmazonSpApiProvider()


class WooCommerceCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_url: str = Field(min_length=4, max_length=500)
    consumer_key: str = Field(pattern=_WC_KEY.pattern, description="ck_ + 40 hex characters")
    consumer_secret: str = Field(pattern=_WC_SECRET.pattern, description="cs_ + 40 hex characters")


class AmazonCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    selling_partner_id: str = Field(pattern=r"^[A-Z0-9]{8,20}$")
    refresh_token: str = Field(pattern=r"^Atzr\|\S{10,2040}$", description="LWA refresh token")
    region: Literal["na", "eu", "fe"] = "na"
    lwa_client_id: str | None = Field(None, max_length=200)
    lwa_client_secret: str | None = Field(None, max_length=500)


async def _check_woocommerce(
    http: httpx.AsyncClient, store_url: str, key: str, secret: str
) -> None:
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


async def _check_amazon(
    request: Request, data: AmazonCredentials
) -> tuple[TokenGrant, list[dict[str, Any]]]:
    runtime = request.app.state.runtime
    secrets = ClientSecrets(
        client_id=data.lwa_client_id or "",
        client_secret=data.lwa_client_secret or "",
        environment="production",
        refresh_token=data.refresh_token,
    )
    try:
        grant = await SPAPI.fetch_token(runtime.http, runtime.settings, secrets)
    except RefreshFailed as exc:
        if exc.permanent:
            raise CredentialsRejected(exc.reason) from None
        raise CarrierUnavailable(exc.reason) from None
    base = SPAPI.api_base(runtime.settings, "production", {"region": data.region})
    try:
        return grant, await fetch_marketplaces(runtime.http, base, grant.access_token)
    except AmazonCheckFailed as exc:
        raise CredentialsRejected(exc.detail) from None


async def _save(
    session: AsyncSession,
    principal: Principal,
    provider: str,
    account: str,
    *,
    replace: bool,
    apply: Any,
) -> tuple[Connection, bool]:
    connection, created = await activate(
        session,
        organization_id=principal.organization_id,
        provider=provider,
        account=account,
        must_exist=replace,
    )
    apply(connection)
    await record_connected(
        session,
        connection,
        actor_user_id=principal.user_id,
        data={"account": account, "source": "manual"},
        action="CHANNEL_CONNECTED" if created else "CREDENTIALS_SAVED",
    )
    await session.refresh(connection)  # server-side timestamps, for the answer
    return connection, created


async def _woocommerce(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    body: WooCommerceCredentials,
    replace: bool,
) -> Response:
    runtime = request.app.state.runtime
    store_url = normalize_store_url(body.store_url)
    await check_url(store_url, allow_local=not runtime.settings.is_production)
    await _check_woocommerce(runtime.http, store_url, body.consumer_key, body.consumer_secret)
    ring = runtime.keyring

    def apply(connection: Connection) -> None:
        connection.display_name = f"WooCommerce {store_url.split('://', 1)[1]}"
        connection.details = {"store_url": store_url, "source": "manual"}
        vault.store_client_secret(ring, connection, body.consumer_key, body.consumer_secret)
        vault.store_tokens(
            ring,
            connection,
            TokenGrant(basic_credential(body.consumer_key, body.consumer_secret), None),
        )

    connection, created = await _save(
        session, principal, "woocommerce", store_url, replace=replace, apply=apply
    )
    if created:
        await request_first_sync(session, principal.organization_id, connection.id)
    return JSONResponse(
        describe(connection).model_dump(mode="json"), status_code=201 if created else 200
    )


async def _amazon(
    request: Request,
    session: AsyncSession,
    principal: Principal,
    body: AmazonCredentials,
    replace: bool,
) -> Response:
    runtime = request.app.state.runtime
    grant, marketplaces = await _check_amazon(request, body)
    ring = runtime.keyring

    def apply(connection: Connection) -> None:
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

    connection, created = await _save(
        session, principal, "amazon_spapi", body.selling_partner_id, replace=replace, apply=apply
    )
    return JSONResponse(
        describe(connection).model_dump(mode="json"), status_code=201 if created else 200
    )


_SAVE_ADD: dict[int | str, dict[str, Any]] = {
    409: {"description": "credentials for this account exist already; use PUT to replace"},
    422: {"description": "the address is not usable, or the provider refused the keys"},
    502: {"description": "the provider did not answer"},
}
_SAVE_REPLACE: dict[int | str, dict[str, Any]] = {
    404: {"description": "no connection of this account to replace"},
    422: {"description": "the address is not usable, or the provider refused the keys"},
    502: {"description": "the provider did not answer"},
}
_DELETE: dict[int | str, dict[str, Any]] = {
    404: {"description": "no manual credentials of this provider"}
}


@router.post("/woocommerce/credentials", status_code=status.HTTP_201_CREATED, responses=_SAVE_ADD)
async def add_woocommerce(
    body: WooCommerceCredentials,
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> Response:
    """Store a WooCommerce store's REST keys after checking them against the store."""
    return await _woocommerce(request, session, principal, body, replace=False)


@router.put("/woocommerce/credentials", responses=_SAVE_REPLACE)
async def replace_woocommerce(
    body: WooCommerceCredentials,
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> Response:
    return await _woocommerce(request, session, principal, body, replace=True)


@router.post("/amazon/credentials", status_code=status.HTTP_201_CREATED, responses=_SAVE_ADD)
async def add_amazon(
    body: AmazonCredentials, request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> Response:
    """Store a self-authorized SP-API refresh token after a live check (token refresh and
    marketplaceParticipations)."""
    return await _amazon(request, session, principal, body, replace=False)


@router.put("/amazon/credentials", responses=_SAVE_REPLACE)
async def replace_amazon(
    body: AmazonCredentials, request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> Response:
    return await _amazon(request, session, principal, body, replace=True)


async def _delete(session: AsyncSession, principal: Principal, provider: str) -> None:
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
            actor_user_id=principal.user_id,
            data={"source": "manual"},
        )


@router.delete(
    "/woocommerce/credentials", status_code=status.HTTP_204_NO_CONTENT, responses=_DELETE
)
async def delete_woocommerce(session: TenantSessionDep, principal: AdminPrincipal) -> None:
    await _delete(session, principal, "woocommerce")


@router.delete("/amazon/credentials", status_code=status.HTTP_204_NO_CONTENT, responses=_DELETE)
async def delete_amazon(session: TenantSessionDep, principal: AdminPrincipal) -> None:
    await _delete(session, principal, "amazon_spapi")


@router.get("/credentials/status")
async def credentials_status(
    session: TenantSessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Which manual credentials the organization has, and their state (never the secrets)."""
    connections = await ConnectionRepository(session).all()
    result: dict[str, Any] = {}
    for provider, key in (("woocommerce", "woocommerce"), ("amazon_spapi", "amazon")):
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
