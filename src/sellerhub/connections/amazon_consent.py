"""Amazon SP-API website authorization (providers.md §1.1): the consent URL, and the callback,
which arrives on the one registered Amazon redirect URI (``/api/auth/amazon/callback``) and is
dispatched here by the state's purpose. After the code exchange, a call to
``/sellers/v1/marketplaceParticipations`` confirms access and records the marketplaces; then the
follow-up jobs later capabilities use are requested in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.connections import vault
from sellerhub.connections.models import Connection
from sellerhub.connections.providers.amazon_ads.adapter import SCOPE as ADS_SCOPE
from sellerhub.connections.providers.amazon_ads.adapter import AmazonAdsProvider
from sellerhub.connections.providers.amazon_spapi.adapter import AmazonSpApiProvider
from sellerhub.connections.providers.base import RefreshFailed, TokenGrant
from sellerhub.connections.service import activate, record_connected
from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import AdminPrincipal, SessionDep
from sellerhub.identity.amazon.endpoints import (
    CALLBACK_HANDLERS,
    CALLBACK_PATH,
    AuthStart,
    error_response,
)
from sellerhub.identity.amazon.states import (
    ConsumedState,
    begin_consent,
)
from sellerhub.jobs.app import enqueue

router = APIRouter(prefix="/api/v1/connections", tags=["connections"])
PURPOSE = "spapi"
PROVIDER = AmazonSpApiProvider()
# Follow-up work after a seller connects Amazon (implemented by later capabilities).
AFTER_CONNECT_JOBS = ("connections.first_inventory_sync", "connections.billing_onboarding")

# Seller Central consent errors (providers.md §1.1), in words a seller understands.
CONSENT_ERRORS = {
    "access_denied": "you declined the authorization on Seller Central",
    "MD1000": "the app is still a draft on Amazon and was authorized without the beta flag",
    "MD5101": "the redirect address is not registered for this app on Amazon",
    "MD5110": "the redirect address is not valid for this app on Amazon",
}


class AmazonConsentFailed(DomainError):
    status = 400
    code = "amazon-consent-failed"
    title = "Amazon was not connected"


class AmazonCheckFailed(DomainError):
    status = 502
    code = "amazon-check-failed"
    title = "Amazon did not confirm the new connection"


@router.get("/amazon-sp/authorize", response_model=AuthStart)
async def authorize(
    request: Request,
    session: SessionDep,
    principal: AdminPrincipal,
    region: Literal["na", "eu", "fe"] = Query("na", description="the seller's SP-API region"),
    next: str | None = Query(None, description="where to land afterwards (allow-listed)"),
) -> Response:
    """The Seller Central consent URL for this organization (call with credentials: it sets
    the browser-binding cookie the callback checks)."""
    settings = request.app.state.settings
    redirect_uri = settings.public_url + CALLBACK_PATH
    started = await begin_consent(
        request,
        session,
        purpose=f"{PURPOSE}:{region}",
        next_url=next,
        redirect_uri=redirect_uri,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        pkce=False,
    )
    params = {
        "application_id": settings.spapi_application_id,
        "state": started.state,
        "redirect_uri": redirect_uri,
    }
    if settings.spapi_draft:
        params["version"] = "beta"
    body = AuthStart(auth_url=f"{settings.spapi_consent}?{urlencode(params)}", state=started.state)
    return started.bind(JSONResponse(body.model_dump()), request)


async def fetch_marketplaces(
    http: httpx.AsyncClient, base: str, token: str
) -> list[dict[str, Any]]:
    try:
        response = await http.get(
            base.rstrip("/") + "/sellers/v1/marketplaceParticipations",
            headers=PROVIDER.auth_headers(token, {}),
        )
    except httpx.HTTPError:
        raise AmazonCheckFailed("the Selling Partner API did not answer; try again") from None
    if response.status_code != 200:
        raise AmazonCheckFailed(
            f"the Selling Partner API refused the new authorization (HTTP {response.status_code})"
        )
    try:
        payload = response.json()["payload"]
        return [
            {
                "id": str(item["marketplace"]["id"]),
                "country_code": item["marketplace"].get("countryCode"),
                "name": item["marketplace"].get("name"),
                "participating": bool(item.get("participation", {}).get("isParticipating")),
            }
            for item in payload
        ]
    except (ValueError, KeyError, TypeError):
        raise AmazonCheckFailed("the Selling Partner API answered unexpectedly") from None


async def _save(
    session: AsyncSession,
    request: Request,
    consumed: ConsumedState,
    *,
    selling_partner_id: str,
    region: str,
    grant: TokenGrant,
    marketplaces: list[dict[str, Any]],
) -> Connection:
    runtime = request.app.state.runtime
    organization_id = consumed.organization_id
    assert organization_id is not None
    set_tenant(session, organization_id)
    connection, _ = await activate(
        session,
        organization_id=organization_id,
        provider=PROVIDER.name,
        account=selling_partner_id,
        display_name=f"Amazon seller {selling_partner_id}",
    )
    connection.environment = "sandbox" if runtime.settings.spapi_sandbox else "production"
    connection.details = {"region": region, "marketplaces": marketplaces}
    vault.store_tokens(runtime.keyring, connection, grant)
    await record_connected(
        session,
        connection,
        actor_user_id=consumed.user_id,
        data={"account": selling_partner_id, "region": region},
    )
    for job in AFTER_CONNECT_JOBS:
        await enqueue(
            session,
            job,
            {"organization_id": str(organization_id), "connection_id": str(connection.id)},
        )
    return connection


async def handle_callback(request: Request, consumed: ConsumedState) -> Response:
    """``/api/auth/amazon/callback`` for a state of purpose ``spapi:<region>``."""
    try:
        return await _finish(request, consumed)
    except DomainError as exc:
        if consumed.organization_id is not None:
            await _record_failure(request, consumed, exc.detail)
        return error_response(request, exc)


async def _finish(request: Request, consumed: ConsumedState) -> Response:
    runtime = request.app.state.runtime
    query = request.query_params
    region = consumed.purpose.partition(":")[2] or "na"
    error = query.get("error") or query.get("error_code")
    if error:
        reason = CONSENT_ERRORS.get(error, f"Amazon ended the authorization with {error!r}")
        raise AmazonConsentFailed(f"Amazon was not connected: {reason}")
    code, partner = query.get("spapi_oauth_code"), query.get("selling_partner_id")
    if not code or not partner or len(partner) > 64:
        raise ValidationFailed("Amazon's answer lacks spapi_oauth_code or selling_partner_id")
    try:
        grant = await PROVIDER.exchange_code(
            runtime.http, runtime.settings, code, consumed.redirect_uri
        )
    except RefreshFailed as exc:
        raise AmazonConsentFailed(f"Amazon was not connected: {exc.reason}") from None
    environment = "sandbox" if runtime.settings.spapi_sandbox else "production"
    base = PROVIDER.api_base(runtime.settings, environment, {"region": region})
    marketplaces = await fetch_marketplaces(runtime.http, base, grant.access_token)
    async with unit_of_work(runtime.sessionmaker) as session:
        await _save(
            session,
            request,
            consumed,
            selling_partner_id=partner,
            region=region,
            grant=grant,
            marketplaces=marketplaces,
        )
    return RedirectResponse(consumed.next_url, status_code=302)


async def _record_failure(
    request: Request, consumed: ConsumedState, reason: str, provider: str = PROVIDER.name
) -> None:
    runtime = request.app.state.runtime
    organization_id: uuid.UUID | None = consumed.organization_id
    assert organization_id is not None
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        await audit.record(
            session,
            organization_id=organization_id,
            action="CHANNEL_CONNECT_FAILED",
            actor_user_id=consumed.user_id,
            target_type="provider",
            target_id=provider,
            data={"reason": reason},
        )


for _region in ("na", "eu", "fe"):
    CALLBACK_HANDLERS[f"{PURPOSE}:{_region}"] = handle_callback


# --- Amazon Ads (providers.md §3) ------------------------------------------------------------

ADS = AmazonAdsProvider()
ADS_PURPOSE = "ads"


@router.get("/amazon-ads/authorize", response_model=AuthStart)
async def authorize_ads(
    request: Request,
    session: SessionDep,
    principal: AdminPrincipal,
    region: Literal["na", "eu", "fe"] = Query("na", description="the advertiser's region"),
    next: str | None = Query(None, description="where to land afterwards (allow-listed)"),
) -> Response:
    """The Login with Amazon consent URL for Amazon Ads in ``region`` (scope
    ``advertising::campaign_management``, PKCE S256)."""
    settings = request.app.state.settings
    redirect_uri = settings.public_url + CALLBACK_PATH
    started = await begin_consent(
        request,
        session,
        purpose=f"{ADS_PURPOSE}:{region}",
        next_url=next,
        redirect_uri=redirect_uri,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
    )
    params = {
        "client_id": settings.ads_client_id,
        "scope": ADS_SCOPE,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "state": started.state,
        "code_challenge": started.code_challenge,
        "code_challenge_method": "S256",
    }
    url = f"{settings.ads_region_url('authorize', region)}?{urlencode(params)}"
    response = JSONResponse(AuthStart(auth_url=url, state=started.state).model_dump())
    return started.bind(response, request)


async def _ads_profiles(
    http: httpx.AsyncClient, base: str, token: str, client_id: str
) -> list[dict[str, Any]]:
    try:
        response = await http.get(
            base.rstrip("/") + "/v2/profiles",
            headers={
                "Authorization": f"Bearer {token}",
                "Amazon-Advertising-API-ClientId": client_id,
            },
        )
    except httpx.HTTPError:
        raise AmazonCheckFailed("the Amazon Ads API did not answer; try again") from None
    if response.status_code != 200:
        raise AmazonCheckFailed(
            f"the Amazon Ads API refused the new authorization (HTTP {response.status_code})"
        )
    try:
        return [
            {
                "profile_id": str(p["profileId"]),
                "country_code": p.get("countryCode"),
                "currency_code": p.get("currencyCode"),
                "account_id": str(p.get("accountInfo", {}).get("id", "")),
                "account_type": p.get("accountInfo", {}).get("type"),
                "name": p.get("accountInfo", {}).get("name"),
            }
            for p in response.json()
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise AmazonCheckFailed("the Amazon Ads API answered unexpectedly") from None


async def handle_ads_callback(request: Request, consumed: ConsumedState) -> Response:
    try:
        return await _finish_ads(request, consumed)
    except DomainError as exc:
        if consumed.organization_id is not None:
            await _record_failure(request, consumed, exc.detail, ADS.name)
        return error_response(request, exc)


async def _finish_ads(request: Request, consumed: ConsumedState) -> Response:
    runtime = request.app.state.runtime
    settings = runtime.settings
    query = request.query_params
    region = consumed.purpose.partition(":")[2] or "na"
    if query.get("error"):
        reason = CONSENT_ERRORS.get(str(query["error"]), f"Amazon answered {query['error']!r}")
        raise AmazonConsentFailed(f"Amazon Ads was not connected: {reason}")
    code = query.get("code")
    if not code:
        raise ValidationFailed("Amazon's answer carried no authorization code")
    try:
        grant = await ADS.exchange_code(
            runtime.http,
            settings,
            region=region,
            code=code,
            redirect_uri=consumed.redirect_uri,
            code_verifier=consumed.code_verifier,
        )
    except RefreshFailed as exc:
        raise AmazonConsentFailed(f"Amazon Ads was not connected: {exc.reason}") from None
    profiles = await _ads_profiles(
        runtime.http,
        settings.ads_region_url("api", region),
        grant.access_token,
        settings.ads_client_id,
    )
    if not profiles:
        raise AmazonConsentFailed("Amazon Ads was not connected: the account has no profiles")
    account = profiles[0]["account_id"] or profiles[0]["profile_id"]
    organization_id = consumed.organization_id
    assert organization_id is not None
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        connection, _ = await activate(
            session,
            organization_id=organization_id,
            provider=ADS.name,
            account=account,
            display_name=f"Amazon Ads {profiles[0].get('name') or account}",
            scopes=[ADS_SCOPE],
        )
        connection.details = {
            "region": region,
            "client_id": settings.ads_client_id,
            "profiles": profiles,
            "default_profile_id": profiles[0]["profile_id"],
        }
        vault.store_tokens(runtime.keyring, connection, grant)
        await record_connected(
            session,
            connection,
            actor_user_id=consumed.user_id,
            data={"account": account, "profiles": len(profiles)},
        )
    return RedirectResponse(consumed.next_url, status_code=302)


for _region in ("na", "eu", "fe"):
    CALLBACK_HANDLERS[f"{ADS_PURPOSE}:{_region}"] = handle_ads_callback
