"""Amazon SP-API website authorization (providers.md §1.1): the consent URL, and the end of the
callback, which arrives on the one registered Amazon redirect URI (``/api/auth/amazon/callback``)
with a state of purpose ``spapi:<region>``. After the code exchange, a call to
``/sellers/v1/marketplaceParticipations`` confirms access and records the marketplaces; then the
follow-up jobs later capabilities use are requested in the same transaction."""

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
from sellerhub.connections.flows.base import (
    FlowContext,
    begin_amazon_consent,
    record_connect_failure,
)
from sellerhub.connections.models import Connection
from sellerhub.connections.providers.amazon_spapi.adapter import AmazonSpApiProvider
from sellerhub.connections.providers.base import RefreshFailed, TokenGrant
from sellerhub.connections.service import activate, record_connected
from sellerhub.core.crypto import KeyRing
from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.oauth_states.service import ConsentStart, ConsumedState
from sellerhub.jobs.app import enqueue

PURPOSE = "spapi"
REGIONS = ("na", "eu", "fe")
PROVIDER = AmazonSpApiProvider()
# Follow-up work after a seller connects Amazon, requested by name (connections does not import
# commerce): the first FBA inventory sync (commerce.inventory.fba.tasks) and billing onboarding.
AFTER_CONNECT_JOBS = ("commerce.fba_sync_after_connect", "connections.billing_onboarding")

# Seller Central consent errors (providers.md §1.1), in words a seller understands.
CONSENT_ERRORS = {
    "access_denied": "you declined the authorization on Seller Central",
    "MD1000": "the app is still a draft on Amazon and was authorized without the beta flag",
    "MD5101": "the redirect address is not registered for this app on Amazon",
    "MD5110": "the redirect address is not valid for this app on Amazon",
}


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
    """The Seller Central consent URL for this organization, and the started state."""
    redirect_uri, started = await begin_amazon_consent(
        session,
        ring,
        settings,
        purpose=f"{PURPOSE}:{region}",
        cookies=cookies,
        next_url=next_url,
        organization_id=organization_id,
        user_id=user_id,
        pkce=False,
    )
    params = {
        "application_id": settings.spapi_application_id,
        "state": started.state,
        "redirect_uri": redirect_uri,
    }
    if settings.spapi_draft:
        params["version"] = "beta"
    return f"{settings.spapi_consent}?{urlencode(params)}", started


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


async def complete(ctx: FlowContext, consumed: ConsumedState, query: Mapping[str, str]) -> str:
    """The callback for a state of purpose ``spapi:<region>``, with Amazon's query parameters;
    answers where to send the browser. A failure is audited in the organization, then raised."""
    try:
        await _finish(ctx, consumed, query)
    except DomainError as exc:
        await record_connect_failure(ctx, consumed, exc.detail, PROVIDER.name)
        raise
    return consumed.next_url


async def _finish(ctx: FlowContext, consumed: ConsumedState, query: Mapping[str, str]) -> None:
    region = consumed.purpose.partition(":")[2] or "na"
    error = query.get("error") or query.get("error_code")
    if error:
        reason = CONSENT_ERRORS.get(error, f"Amazon ended the authorization with {error!r}")
        raise AmazonConsentFailed(f"Amazon was not connected: {reason}")
    code, partner = query.get("spapi_oauth_code"), query.get("selling_partner_id")
    if not code or not partner or len(partner) > 64:
        raise ValidationFailed("Amazon's answer lacks spapi_oauth_code or selling_partner_id")
    try:
        grant = await PROVIDER.exchange_code(ctx.http, ctx.settings, code, consumed.redirect_uri)
    except RefreshFailed as exc:
        raise AmazonConsentFailed(f"Amazon was not connected: {exc.reason}") from None
    environment = "sandbox" if ctx.settings.spapi_sandbox else "production"
    base = PROVIDER.api_base(ctx.settings, environment, {"region": region})
    marketplaces = await fetch_marketplaces(ctx.http, base, grant.access_token)
    async with unit_of_work(ctx.sessionmaker) as session:
        await _save(
            session,
            ctx,
            consumed,
            selling_partner_id=partner,
            region=region,
            grant=grant,
            marketplaces=marketplaces,
        )


async def _save(
    session: AsyncSession,
    ctx: FlowContext,
    consumed: ConsumedState,
    *,
    selling_partner_id: str,
    region: str,
    grant: TokenGrant,
    marketplaces: list[dict[str, Any]],
) -> Connection:
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
    connection.environment = "sandbox" if ctx.settings.spapi_sandbox else "production"
    connection.details = {"region": region, "marketplaces": marketplaces}
    vault.store_tokens(ctx.keyring, connection, grant)
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
