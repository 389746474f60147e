"""Amazon SP-API and Ads consent: the authorize endpoints (JSON, they set the browser-binding
cookie), and the callback handlers of purposes ``spapi:<region>`` and ``ads:<region>``, which
the one Amazon redirect URI (``sellerhub.callbacks``) dispatches to."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from sellerhub.connections.endpoints.context import flow_context
from sellerhub.connections.endpoints.failures import amazon_code, failed
from sellerhub.connections.flows import amazon_ads, amazon_sp
from sellerhub.core.errors import DomainError
from sellerhub.deps import AdminPrincipal, SessionDep, runtime_of, settings_of
from sellerhub.identity.oauth_states.responses import bind_browser
from sellerhub.identity.oauth_states.schemas import AuthStart
from sellerhub.identity.oauth_states.service import ConsumedState

router = APIRouter(prefix="/api/v1/connections", tags=["connections"])


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
    settings = settings_of(request)
    url, started = await amazon_sp.begin(
        session,
        runtime_of(request).keyring,
        settings,
        cookies=request.cookies,
        region=region,
        next_url=next,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
    )
    body = AuthStart(auth_url=url, state=started.state)
    return bind_browser(JSONResponse(body.model_dump()), started, secure=settings.cookie_secure)


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
    settings = settings_of(request)
    url, started = await amazon_ads.begin(
        session,
        runtime_of(request).keyring,
        settings,
        cookies=request.cookies,
        region=region,
        next_url=next,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
    )
    response = JSONResponse(AuthStart(auth_url=url, state=started.state).model_dump())
    return bind_browser(response, started, secure=settings.cookie_secure)


async def spapi_callback(request: Request, consumed: ConsumedState) -> Response:
    """``/api/auth/amazon/callback`` for a state of purpose ``spapi:<region>``."""
    try:
        next_url = await amazon_sp.complete(flow_context(request), consumed, request.query_params)
    except DomainError as exc:  # a browser goes back to the connections page, in words
        return failed(request, exc, amazon_code("amazon", exc, request.query_params))
    return RedirectResponse(next_url, status_code=302)


async def ads_callback(request: Request, consumed: ConsumedState) -> Response:
    """``/api/auth/amazon/callback`` for a state of purpose ``ads:<region>``."""
    try:
        next_url = await amazon_ads.complete(flow_context(request), consumed, request.query_params)
    except DomainError as exc:  # a browser goes back to the connections page, in words
        return failed(request, exc, amazon_code("ads", exc, request.query_params))
    return RedirectResponse(next_url, status_code=302)
