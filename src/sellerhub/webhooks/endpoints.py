"""The webhook routes as documented in the OpenAPI description. Deliveries are served by the
ingress lane (``webhooks/ingress.IngressLane``) before they reach these routes; both run the
same functions, so these answer identically where the lane is not installed. The organization's
view of its stored events (``events_router``) is an ordinary API."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from sellerhub.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    TenantSessionDep,
    runtime_of,
    settings_of,
)
from sellerhub.webhooks import ingress, service
from sellerhub.webhooks.schemas import WebhookEventOut, WebhookEventPage

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_DELIVERY: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed-webhook: not a JSON object, or required headers missing"},
    401: {"description": "invalid-signature: the signature is missing or wrong"},
    413: {"description": "the body is larger than webhook bodies may be"},
    503: {"description": "the database is unavailable; the provider delivers again"},
}


async def _delivery(request: Request) -> ingress.Delivery:
    limit = settings_of(request).webhook_max_body_bytes
    body = await ingress.read_body(request.receive, limit, request.headers.get("content-length"))
    return ingress.Delivery({k.lower(): v for k, v in request.headers.items()}, body)


@router.post("/shopify", responses=_DELIVERY)
async def shopify(request: Request) -> JSONResponse:
    """Shopify deliveries, compliance topics included; the shop comes from
    ``X-Shopify-Shop-Domain``; ``X-Shopify-Hmac-Sha256`` over the raw body."""
    answer = await ingress.shopify(runtime_of(request), await _delivery(request))
    return JSONResponse(answer)


@router.post("/woocommerce/{connection_id}", responses=_DELIVERY)
async def woocommerce(connection_id: uuid.UUID, request: Request) -> JSONResponse:
    """WooCommerce deliveries, signed with this connection's webhook secret
    (``X-WC-Webhook-Signature``); the ``webhook_id=<id>`` creation ping is answered 200."""
    runtime = runtime_of(request)
    return JSONResponse(await ingress.woocommerce(runtime, connection_id, await _delivery(request)))


@router.post("/stripe", responses=_DELIVERY)
async def stripe(request: Request) -> JSONResponse:
    """Stripe events (``Stripe-Signature``, 300 s tolerance, any matching ``v1``). Handling
    comes with billing; events are stored and acknowledged now."""
    answer = await ingress.stripe(runtime_of(request), await _delivery(request))
    return JSONResponse(answer)


# --- the organization's events: what arrived, what failed and why ----------------------------

events_router = APIRouter(prefix="/api/v1/webhook-events", tags=["webhooks"])


@events_router.get("", response_model=WebhookEventPage)
async def list_webhook_events(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    status: Literal["pending", "processed", "failed"] | None = Query(None),
    source: Literal["shopify", "woocommerce", "stripe"] | None = Query(None),
) -> WebhookEventPage:
    """The organization's webhook deliveries, newest first; `status=failed` lists those that
    could not be applied, each with its reason."""
    items, next_cursor = await service.page(
        session, principal.organization_id, limit=limit, before=cursor, status=status, source=source
    )
    return WebhookEventPage(
        items=[WebhookEventOut.model_validate(e) for e in items], next_cursor=next_cursor
    )


@events_router.get("/{event_id}", response_model=WebhookEventOut)
async def get_webhook_event(
    event_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> WebhookEventOut:
    return WebhookEventOut.model_validate(
        await service.get(session, principal.organization_id, event_id)
    )


@events_router.post(
    "/{event_id}/retry",
    response_model=WebhookEventOut,
    status_code=202,
    responses={409: {"description": "the event has not failed"}},
)
async def retry_webhook_event(
    event_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> WebhookEventOut:
    """Process a failed event again (after the cause was fixed); it is pending until then."""
    event = await service.retry(
        session, principal.organization_id, event_id, actor=principal.user_id
    )
    return WebhookEventOut.model_validate(event)
