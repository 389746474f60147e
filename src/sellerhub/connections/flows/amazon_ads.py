"""Amazon Ads consent (providers.md §3): the region's Login with Amazon consent URL (scope
``advertising::campaign_management``, PKCE S256), and the end of the callback (purpose
``ads:<region>``): the code exchanged at the region's token URL, ``GET /v2/profiles`` stored on
the connection (the first is the default profile)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.config import Settings
from sellerhub.connections import vault
from sellerhub.connections.errors import AmazonCheckFailed, AmazonConsentFailed
from sellerhub.connections.flows.amazon_sp import CONSENT_ERRORS
from sellerhub.connections.flows.base import (
    FlowContext,
    begin_amazon_consent,
    record_connect_failure,
)
from sellerhub.connections.providers.amazon_ads.adapter import SCOPE as ADS_SCOPE
from sellerhub.connections.providers.amazon_ads.adapter import AmazonAdsProvider
from sellerhub.connections.providers.base import RefreshFailed
from sellerhub.connections.service import activate, record_connected
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.oauth_states.service import ConsentStart, ConsumedState

PURPOSE = "ads"
REGIONS = ("na", "eu", "fe")
PROVIDER = AmazonAdsProvider()


async def begin(
    session: AsyncSession,
    ring: KeyRing,
    settings: Settings,
    *,
    cookies: Mapping[str, str],
    region: str,
    next_url: str | None,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
) -> tuple[str, ConsentStart]:
    """The consent URL for Amazon Ads in ``region``, and the started state."""
    redirect_uri, started = await begin_amazon_consent(
        session,
        ring,
        settings,
        purpose=f"{PURPOSE}:{region}",
        cookies=cookies,
        next_url=next_url,
        organization_id=organization_id,
        user_id=user_id,
        pkce=True,
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
    return f"{settings.ads_region_url('authorize', region)}?{urlencode(params)}", started


async def fetch_profiles(
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


async def complete(ctx: FlowContext, consumed: ConsumedState, query: Mapping[str, str]) -> str:
    """The callback for a state of purpose ``ads:<region>``; answers where to send the browser.
    A failure is audited in the organization, then raised."""
    try:
        await _finish(ctx, consumed, query)
    except DomainError as exc:
        await record_connect_failure(ctx, consumed, exc.detail, PROVIDER.name)
        raise
    return consumed.next_url


async def _finish(ctx: FlowContext, consumed: ConsumedState, query: Mapping[str, str]) -> None:
    settings = ctx.settings
    region = consumed.purpose.partition(":")[2] or "na"
    if query.get("error"):
        reason = CONSENT_ERRORS.get(str(query["error"]), f"Amazon answered {query['error']!r}")
        raise AmazonConsentFailed(f"Amazon Ads was not connected: {reason}")
    code = query.get("code")
    if not code:
        raise ValidationFailed("Amazon's answer carried no authorization code")
    try:
        grant = await PROVIDER.exchange_code(
            ctx.http,
            settings,
            region=region,
            code=code,
            redirect_uri=consumed.redirect_uri,
            code_verifier=consumed.code_verifier,
        )
    except RefreshFailed as exc:
        raise AmazonConsentFailed(f"Amazon Ads was not connected: {exc.reason}") from None
    profiles = await fetch_profiles(
        ctx.http,
        settings.ads_region_url("api", region),
        grant.access_token,
        settings.ads_client_id,
    )
    if not profiles:
        raise AmazonConsentFailed("Amazon Ads was not connected: the account has no profiles")
    account = profiles[0]["account_id"] or profiles[0]["profile_id"]
    organization_id = consumed.organization_id
    assert organization_id is not None
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        connection, _ = await activate(
            session,
            organization_id=organization_id,
            provider=PROVIDER.name,
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
        vault.store_tokens(ctx.keyring, connection, grant)
        await record_connected(
            session,
            connection,
            actor_user_id=consumed.user_id,
            data={"account": account, "profiles": len(profiles)},
        )
