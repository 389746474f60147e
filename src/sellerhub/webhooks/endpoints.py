"""Webhook ingress (seed paths). No session auth: the signature over the raw body is the
authentication. 2xx only after the event is committed; a duplicate gets 200 and changes
nothing; 401 for a bad or missing signature (the reason is logged, not returned); 400 for a
malformed body; 413 above the size limit."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sellerhub.connections import vault
from sellerhub.connections.repository import find_for_webhook
from sellerhub.core.errors import PayloadTooLarge, Unauthenticated, ValidationFailed
from sellerhub.core.logging import get_logger
from sellerhub.webhooks import service
from sellerhub.webhooks.verification import SignatureInvalid, verify_base64_hmac, verify_stripe

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
log = get_logger(__name__)
_KEPT_HEADERS = (
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-triggered-at",
    "x-wc-webhook-source",
    "x-wc-webhook-topic",
    "x-wc-webhook-resource",
    "x-wc-webhook-event",
    "x-wc-webhook-id",
    "x-wc-webhook-delivery-id",
)


class MalformedDelivery(ValidationFailed):
    status = 400
    code = "malformed-webhook"
    title = "The webhook delivery is malformed"


class SignatureRejected(Unauthenticated):
    code = "invalid-signature"
    title = "The webhook signature is missing or wrong"


async def _body(request: Request) -> bytes:
    limit = request.app.state.settings.webhook_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> dict[str, Any]:
    if b"\\u0000" in body:  # valid JSON, but PostgreSQL's jsonb cannot hold it
        raise MalformedDelivery("the webhook body contains a NUL character (\\u0000)")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery("the webhook body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery("the webhook body is not a JSON object")
    return payload


def _kept(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() in _KEPT_HEADERS}


def _refuse(source: str, exc: SignatureInvalid) -> SignatureRejected:
    log.warning("webhook.signature_rejected", source=source, reason=str(exc))
    return SignatureRejected("the delivery's signature could not be verified")


@dataclass(frozen=True)
class _Resolved:
    organization_id: uuid.UUID | None
    connection_id: uuid.UUID | None
    account: str | None
    secret: str | None


_RESOLVE_SECONDS = 5.0
_resolved: dict[tuple[str, str], tuple[float, _Resolved]] = {}


async def _resolve(
    request: Request,
    provider: str,
    *,
    account: str | None = None,
    connection_id: uuid.UUID | None = None,
) -> _Resolved:
    """The connection a delivery belongs to, cached for a few seconds per process (a disconnect
    reaches every process within that time)."""
    key = (provider, account or str(connection_id))
    hit = _resolved.get(key)
    if hit is not None and time.monotonic() - hit[0] < _RESOLVE_SECONDS:
        return hit[1]
    runtime = request.app.state.runtime
    async with runtime.sessionmaker() as session:
        connection = await find_for_webhook(
            session, provider=provider, account=account, connection_id=connection_id
        )
        resolved = _Resolved(
            organization_id=connection.organization_id if connection else None,
            connection_id=connection.id if connection else None,
            account=connection.external_account_id if connection else account,
            secret=vault.webhook_secret(runtime.keyring, connection) if connection else None,
        )
    if resolved.connection_id is not None:  # misses are not cached: a shop may connect any time
        _resolved[key] = (time.monotonic(), resolved)
    return resolved


def forget_resolved() -> None:
    _resolved.clear()


def _answer(new: bool) -> JSONResponse:
    return JSONResponse({"received": True, "duplicate": not new}, status_code=200)


@router.post("/shopify")
async def shopify(request: Request) -> JSONResponse:
    """Shopify deliveries, compliance topics included; the shop comes from
    ``X-Shopify-Shop-Domain``."""
    body = await _body(request)
    secret = request.app.state.settings.shopify_client_secret.get_secret_value()
    try:
        verify_base64_hmac(secret, body, request.headers.get("x-shopify-hmac-sha256"))
    except SignatureInvalid as exc:
        raise _refuse("shopify", exc) from None
    payload = _json(body)
    external_id = request.headers.get("x-shopify-event-id") or request.headers.get(
        "x-shopify-webhook-id"
    )
    topic = request.headers.get("x-shopify-topic")
    shop = (request.headers.get("x-shopify-shop-domain") or "").lower()
    if not external_id or not topic or not shop:
        raise MalformedDelivery("X-Shopify-Event-Id/Webhook-Id, Topic and Shop-Domain are required")
    owner = await _resolve(request, "shopify", account=shop)
    new = await service.receive(
        request.app.state.runtime.ingress_pool,
        source="shopify",
        external_id=external_id,
        topic=topic,
        payload=payload,
        headers=_kept(request),
        organization_id=owner.organization_id,
        connection_id=owner.connection_id,
        account=shop,
    )
    return _answer(new)


@router.post("/woocommerce/{connection_id}")
async def woocommerce(connection_id: uuid.UUID, request: Request) -> JSONResponse:
    """WooCommerce deliveries, signed with this connection's webhook secret. WooCommerce's
    ``webhook_id=<id>`` ping (sent when the webhook is created) is answered 200."""
    body = await _body(request)
    signature = request.headers.get("x-wc-webhook-signature")
    if signature is None and body.startswith(b"webhook_id="):
        return JSONResponse({"ping": True})
    owner = await _resolve(request, "woocommerce", connection_id=connection_id)
    try:
        verify_base64_hmac(owner.secret or "", body, signature)
    except SignatureInvalid as exc:
        raise _refuse("woocommerce", exc) from None
    payload = _json(body)
    delivery = request.headers.get("x-wc-webhook-delivery-id")
    topic = request.headers.get("x-wc-webhook-topic")
    if not delivery or not topic:
        raise MalformedDelivery("X-WC-Webhook-Delivery-ID and X-WC-Webhook-Topic are required")
    new = await service.receive(
        request.app.state.runtime.ingress_pool,
        source="woocommerce",
        external_id=f"{connection_id}:{delivery}",
        topic=topic,
        payload=payload,
        headers=_kept(request),
        organization_id=owner.organization_id,
        connection_id=owner.connection_id,
        account=owner.account,
    )
    return _answer(new)


@router.post("/stripe")
async def stripe(request: Request) -> JSONResponse:
    """Stripe events (``Stripe-Signature``, 300 s tolerance, any matching ``v1``). Handling
    comes with billing; events are stored and acknowledged now."""
    body = await _body(request)
    secret = request.app.state.settings.stripe_webhook_secret.get_secret_value()
    try:
        verify_stripe(secret, body, request.headers.get("stripe-signature"))
    except SignatureInvalid as exc:
        raise _refuse("stripe", exc) from None
    payload = _json(body)
    event_id, topic = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not isinstance(topic, str):
        raise MalformedDelivery("a Stripe event needs an id and a type")
    account = payload.get("account")
    new = await service.receive(
        request.app.state.runtime.ingress_pool,
        source="stripe",
        external_id=event_id,
        topic=topic,
        payload=payload,
        headers={},
        account=account if isinstance(account, str) else None,
    )
    return _answer(new)
