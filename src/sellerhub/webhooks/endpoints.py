"""The webhook routes as documented in the OpenAPI description. Deliveries are served by the
ingress lane (``webhooks/ingress.IngressLane``) before they reach these routes; both run the
same functions, so these answer identically where the lane is not installed."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sellerhub.webhooks import ingress

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_DELIVERY: dict[int | str, dict[str, Any]] = {
    400: {"description": "malformed-webhook: not a JSON object, or required headers missing"},
    401: {"description": "invalid-signature: the signature is missing or wrong"},
    413: {"description": "the body is larger than webhook bodies may be"},
    503: {"description": "the database is unavailable; the provider delivers again"},
}


async def _delivery(request: Request) -> ingress.Delivery:
    limit = request.app.state.settings.webhook_max_body_bytes
    body = await ingress.read_body(request.receive, limit, request.headers.get("content-length"))
    return ingress.Delivery({k.lower(): v for k, v in request.headers.items()}, body)


@router.post("/shopify", responses=_DELIVERY)
async def shopify(request: Request) -> JSONResponse:
    """Shopify deliveries, compliance topics included; the shop comes from
    ``X-Shopify-Shop-Domain``; ``X-Shopify-Hmac-Sha256`` over the raw body."""
    answer = await ingress.shopify(request.app.state.runtime, await _delivery(request))
    return JSONResponse(answer)


@router.post("/woocommerce/{connection_id}", responses=_DELIVERY)
async def woocommerce(connection_id: uuid.UUID, request: Request) -> JSONResponse:
    """WooCommerce deliveries, signed with this connection's webhook secret
    (``X-WC-Webhook-Signature``); the ``webhook_id=<id>`` creation ping is answered 200."""
    runtime = request.app.state.runtime
    return JSONResponse(await ingress.woocommerce(runtime, connection_id, await _delivery(request)))


@router.post("/stripe", responses=_DELIVERY)
async def stripe(request: Request) -> JSONResponse:
    """Stripe events (``Stripe-Signature``, 300 s tolerance, any matching ``v1``). Handling
    comes with billing; events are stored and acknowledged now."""
    answer = await ingress.stripe(request.app.state.runtime, await _delivery(request))
    return JSONResponse(answer)
