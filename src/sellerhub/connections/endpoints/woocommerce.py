"""WooCommerce one-click key grant (seed paths): ``connect`` answers the store's authorization
URL; the store POSTs the keys to ``callback`` (answered exactly 200); ``return`` shows the
outcome. The flow is ``connections/flows/woocommerce.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from sellerhub.connections.endpoints.context import flow_context
from sellerhub.connections.endpoints.failures import CONNECTIONS_PAGE
from sellerhub.connections.flows import woocommerce
from sellerhub.connections.schemas import ConnectRequest, ConnectStart, GrantKeys
from sellerhub.core.errors import ValidationFailed
from sellerhub.deps import AdminPrincipal, SessionDep, runtime_of, settings_of
from sellerhub.identity.oauth_states.responses import bind_browser, error_response, wants_html

router = APIRouter(prefix=woocommerce.COOKIE_PATH, tags=["woocommerce"])


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
    settings = settings_of(request)
    auth_url, started = await woocommerce.begin(
        session,
        runtime_of(request).keyring,
        settings,
        cookies=request.cookies,
        store_url=body.store_url,
        next_url=body.next,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
    )
    response: Response
    if wants_html(request):
        response = RedirectResponse(auth_url, status_code=303)
    else:
        response = JSONResponse(ConnectStart(auth_url=auth_url).model_dump())
    return bind_browser(response, started, secure=settings.cookie_secure)


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
    await woocommerce.receive_keys(
        flow_context(request),
        user_id=keys.user_id,
        key=keys.consumer_key,
        secret=keys.consumer_secret,
    )
    return JSONResponse({"ok": True}, status_code=200)


@router.get(
    "/return",
    response_model=None,
    responses={
        200: {"description": "connected", "content": {"application/json": {}}},
        303: {
            "description": "browsers (Accept: text/html): to the connections page, "
            "?connected=woocommerce or ?failed=woocommerce-denied"
        },
        422: {"description": "not connected: the store did not grant access"},
    },
)
async def return_page(
    request: Request,
    success: str = Query("0"),
    user_id: str = Query("", max_length=200),
) -> Response:
    """Where the store sends the browser back: success, or ``success=0`` (denied or failed).
    The keys, when granted, arrived at ``callback`` before: the connection's status (checked
    keys, webhooks) is on the connections page a browser is sent to."""
    if success != "1":
        error = ValidationFailed("WooCommerce was not connected: the store did not grant access")
        if wants_html(request):
            return error_response(
                request, error, browser_to=f"{CONNECTIONS_PAGE}?failed=woocommerce-denied"
            )
        raise error
    if wants_html(request):
        return RedirectResponse(f"{CONNECTIONS_PAGE}?connected=woocommerce", status_code=303)
    body: dict[str, Any] = {"connected": True}
    return JSONResponse(body)
