"""Shopify OAuth (seed paths): install sends the browser to the shop's consent page; the
callback (``connections/flows/shopify.py``) verifies and saves the connection."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from sellerhub.connections.endpoints.context import flow_context
from sellerhub.connections.endpoints.failures import failed, shopify_code
from sellerhub.connections.flows import shopify
from sellerhub.core.errors import DomainError
from sellerhub.core.openapi import HTML_CONTENT as HTML
from sellerhub.deps import AdminPrincipal, SessionDep, runtime_of, settings_of
from sellerhub.identity.oauth_states.responses import bind_browser

router = APIRouter(prefix=shopify.COOKIE_PATH, tags=["shopify"])


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
    settings = settings_of(request)
    url, started = await shopify.begin(
        session,
        runtime_of(request).keyring,
        settings,
        cookies=request.cookies,
        shop=shop,
        next_url=next,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
    )
    response = RedirectResponse(url, status_code=302)
    return bind_browser(response, started, secure=settings.cookie_secure)


@router.get(
    "/callback",
    status_code=302,
    response_class=RedirectResponse,
    responses={
        # Browsers (Accept: text/html) go back to /connections?failed=<code> (303);
        # everything else gets problem+json.
        303: {"description": "a failure, for browsers: to the connections page"},
        400: {"description": "the shop, the state or Shopify's answer is not valid"},
        401: {"description": "the HMAC, timestamp or shop of the callback is wrong"},
        503: {"description": "the database is unavailable", "content": HTML},
    },
)
async def callback(request: Request) -> Response:
    try:
        next_url = await shopify.complete(
            flow_context(request),
            list(request.query_params.multi_items()),
            request.cookies.get(shopify.BROWSER_COOKIE),
        )
    except DomainError as exc:  # a browser goes back to the connections page, in words
        return failed(request, exc, shopify_code(exc))
    response = RedirectResponse(next_url, status_code=302)
    response.delete_cookie(shopify.BROWSER_COOKIE, path=shopify.COOKIE_PATH)
    return response
