"""The one redirect URI registered at Amazon, ``/api/auth/amazon/callback``, and the table of
its purposes (a composition module, like ``api.py`` and ``jobs/registry.py``): Login with Amazon
(``login``), SP-API consent (``spapi:<region>``) and Ads consent (``ads:<region>``). The state
is used up first, in its own transaction, whatever happens next; then its purpose says which
flow's handler ends the callback. A new purpose is added to ``PURPOSES`` here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from sellerhub.connections.endpoints import amazon as amazon_consent
from sellerhub.connections.flows import amazon_ads, amazon_sp
from sellerhub.core.errors import DomainError, ValidationFailed
from sellerhub.core.openapi import HTML_CONTENT as HTML
from sellerhub.deps import runtime_of
from sellerhub.identity.amazon import endpoints as amazon_login
from sellerhub.identity.oauth_states.responses import error_response
from sellerhub.identity.oauth_states.service import (
    BROWSER_COOKIE,
    ConsumedState,
    consume_committed,
)

CallbackHandler = Callable[[Request, ConsumedState], Awaitable[Response]]

PURPOSES: dict[str, CallbackHandler] = {
    amazon_login.LOGIN: amazon_login.finish_login,
    **{f"{amazon_sp.PURPOSE}:{r}": amazon_consent.spapi_callback for r in amazon_sp.REGIONS},
    **{f"{amazon_ads.PURPOSE}:{r}": amazon_consent.ads_callback for r in amazon_ads.REGIONS},
}

router = APIRouter(prefix="/api/auth/amazon", tags=["login with amazon"])


@router.get(
    "/callback",
    response_class=RedirectResponse,
    status_code=302,
    responses={
        # Browsers (Accept: text/html) get a page, everything else problem+json.
        400: {"description": "the state, or Amazon's answer, is not valid", "content": HTML},
        401: {"description": "the account cannot sign in to its organization", "content": HTML},
        409: {
            "description": "the email or Amazon account belongs to another user",
            "content": HTML,
        },
        422: {"description": "Amazon's answer lacks what the flow needs", "content": HTML},
        502: {"description": "Amazon did not answer as expected", "content": HTML},
        503: {"description": "Amazon or the database is unavailable", "content": HTML},
    },
)
async def callback(
    request: Request,
    state: str = Query(""),
    code: str | None = Query(None, max_length=2000),
    error: str | None = Query(None, max_length=200),
    error_description: str | None = Query(None, max_length=2000),
) -> Response:
    """Amazon's redirect back: Login with Amazon, or (by the state's purpose) SP-API / Ads
    consent. The state is used up first, in its own transaction, whatever happens next."""
    runtime = runtime_of(request)
    try:
        consumed = await consume_committed(
            runtime.sessionmaker,
            runtime.keyring,
            state=state,
            browser_token=request.cookies.get(BROWSER_COOKIE),
        )
    except DomainError as exc:
        return error_response(request, exc)
    handler = PURPOSES.get(consumed.purpose)
    if handler is None:
        return error_response(request, ValidationFailed("unknown sign-in purpose"))
    return await handler(request, consumed)
