"""Webhook ingress (seed paths). No session auth: the signature over the raw body is the
authentication. 2xx only after the event is committed; a duplicate gets 200 and changes
nothing; 401 for a bad or missing signature (the reason is logged, not returned); 400 for a
malformed body; 413 above the size limit.

The deliveries are the hottest path of the platform, so they are served by ``IngressLane``, an
ASGI layer just inside the request-context middleware (request id, metrics, security headers
and log context stay): it reads the body under the size limit and calls the same functions as
the documented FastAPI routes (``webhooks/endpoints.py``), without the framework's routing,
dependency and exception machinery (skipping them took ``webhooks.ingress.events_per_s`` from
1,616 to 2,723 in the same session)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Receive, Scope, Send

from sellerhub.connections import vault
from sellerhub.connections.service import find_for_webhook
from sellerhub.core.errors import (
    PROBLEM_CONTENT_TYPE,
    DomainError,
    PayloadTooLarge,
    Unauthenticated,
    ValidationFailed,
)
from sellerhub.core.inputs import json_problem
from sellerhub.core.logging import get_logger
from sellerhub.core.problems import DATABASE_UNAVAILABLE
from sellerhub.webhooks import service
from sellerhub.webhooks.verification import SignatureInvalid, verify_base64_hmac, verify_stripe

if TYPE_CHECKING:  # the runtime composes this module; it is only handed in
    from sellerhub.runtime import Runtime

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


class DatabaseUnavailable(DomainError):
    status = 503
    code = "database-unavailable"
    title = "The database is unavailable"


class SignatureRejected(Unauthenticated):
    code = "invalid-signature"
    title = "The webhook signature is missing or wrong"


@dataclass(frozen=True)
class Delivery:
    """A delivery as received: header names lower-case, the raw body."""

    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def kept_headers(self) -> dict[str, str]:
        return {k: v for k, v in self.headers.items() if k in _KEPT_HEADERS}


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"webhook bodies are limited to {limit} bytes")


def _json(body: bytes) -> dict[str, Any]:
    # Valid JSON can still be refused: a NUL or a lone surrogate (PostgreSQL's jsonb cannot hold
    # either) or nesting past the policy's depth (core.inputs, the rule of every other route).
    problem = json_problem(body)
    if problem:
        raise MalformedDelivery(f"the webhook body {problem}")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedDelivery("the webhook body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise MalformedDelivery("the webhook body is not a JSON object")
    return payload


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
_resolving: dict[tuple[str, str], asyncio.Future[_Resolved]] = {}


async def _resolve(
    runtime: Runtime,
    provider: str,
    *,
    account: str | None = None,
    connection_id: uuid.UUID | None = None,
) -> _Resolved:
    """The connection a delivery belongs to, cached for a few seconds per process (a disconnect
    reaches every process within that time). Single flight: a burst of deliveries for one shop
    that finds the cache empty makes one lookup, which the others await, instead of one each
    (300 at once used to queue for the pool's connections until some gave up with 503)."""
    key = (provider, account or str(connection_id))
    hit = _resolved.get(key)
    if hit is not None and time.monotonic() - hit[0] < _RESOLVE_SECONDS:
        return hit[1]
    pending = _resolving.get(key)
    if pending is not None:
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            if not pending.cancelled():
                raise  # this request was cancelled, not the lookup
        return await _look_up(runtime, provider, account, connection_id)  # its leader was
    future: asyncio.Future[_Resolved] = asyncio.get_running_loop().create_future()
    _resolving[key] = future
    try:
        resolved = await _look_up(runtime, provider, account, connection_id)
    except Exception as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: the waiters, if any, raise it themselves
        raise
    except BaseException:
        future.cancel()
        raise
    else:
        future.set_result(resolved)
    finally:
        del _resolving[key]
    if resolved.connection_id is not None:  # misses are not cached: a shop may connect any time
        _resolved[key] = (time.monotonic(), resolved)
    return resolved


async def _look_up(
    runtime: Runtime, provider: str, account: str | None, connection_id: uuid.UUID | None
) -> _Resolved:
    async with runtime.sessionmaker() as session:
        connection = await find_for_webhook(
            session, provider=provider, account=account, connection_id=connection_id
        )
        return _Resolved(
            organization_id=connection.organization_id if connection else None,
            connection_id=connection.id if connection else None,
            account=connection.external_account_id if connection else account,
            secret=vault.webhook_secret(runtime.keyring, connection) if connection else None,
        )


def forget_resolved() -> None:
    _resolved.clear()


def _pool(runtime: Runtime) -> AsyncConnectionPool:
    if runtime.ingress_pool is None:
        raise RuntimeError("the runtime is not open")
    return runtime.ingress_pool


def _answer(new: bool) -> dict[str, Any]:
    return {"received": True, "duplicate": not new}


async def shopify(runtime: Runtime, delivery: Delivery) -> dict[str, Any]:
    """Shopify deliveries, compliance topics included; the shop comes from
    ``X-Shopify-Shop-Domain``."""
    secret = runtime.settings.shopify_client_secret.get_secret_value()
    try:
        verify_base64_hmac(secret, delivery.body, delivery.header("x-shopify-hmac-sha256"))
    except SignatureInvalid as exc:
        raise _refuse("shopify", exc) from None
    payload = _json(delivery.body)
    external_id = delivery.header("x-shopify-event-id") or delivery.header("x-shopify-webhook-id")
    topic = delivery.header("x-shopify-topic")
    shop = (delivery.header("x-shopify-shop-domain") or "").lower()
    if not external_id or not topic or not shop:
        raise MalformedDelivery("X-Shopify-Event-Id/Webhook-Id, Topic and Shop-Domain are required")
    owner = await _resolve(runtime, "shopify", account=shop)
    new = await service.receive(
        _pool(runtime),
        source="shopify",
        external_id=external_id,
        topic=topic,
        payload=payload,
        headers=delivery.kept_headers(),
        organization_id=owner.organization_id,
        connection_id=owner.connection_id,
        account=shop,
    )
    return _answer(new)


def is_woocommerce_ping(delivery: Delivery) -> bool:
    """WooCommerce's ``webhook_id=<id>`` ping, sent unsigned when a webhook is created."""
    return delivery.header("x-wc-webhook-signature") is None and delivery.body.startswith(
        b"webhook_id="
    )


async def woocommerce(
    runtime: Runtime, connection_id: uuid.UUID, delivery: Delivery
) -> dict[str, Any]:
    """WooCommerce deliveries, signed with this connection's webhook secret; the creation ping
    is answered 200."""
    if is_woocommerce_ping(delivery):
        return {"ping": True}
    owner = await _resolve(runtime, "woocommerce", connection_id=connection_id)
    try:
        verify_base64_hmac(
            owner.secret or "", delivery.body, delivery.header("x-wc-webhook-signature")
        )
    except SignatureInvalid as exc:
        raise _refuse("woocommerce", exc) from None
    payload = _json(delivery.body)
    delivery_id = delivery.header("x-wc-webhook-delivery-id")
    topic = delivery.header("x-wc-webhook-topic")
    if not delivery_id or not topic:
        raise MalformedDelivery("X-WC-Webhook-Delivery-ID and X-WC-Webhook-Topic are required")
    new = await service.receive(
        _pool(runtime),
        source="woocommerce",
        external_id=f"{connection_id}:{delivery_id}",
        topic=topic,
        payload=payload,
        headers=delivery.kept_headers(),
        organization_id=owner.organization_id,
        connection_id=owner.connection_id,
        account=owner.account,
    )
    return _answer(new)


async def stripe(runtime: Runtime, delivery: Delivery) -> dict[str, Any]:
    """Stripe events (``Stripe-Signature``, 300 s tolerance, any matching ``v1``), signed with
    the platform endpoint's secret or, when set, the Connect endpoint's (connected accounts'
    events); handled from the inbox by the billing rows of ``handlers.py``."""
    settings = runtime.settings
    secrets = [settings.stripe_webhook_secret.get_secret_value()]
    if settings.stripe_connect_webhook_secret is not None:
        secrets.append(settings.stripe_connect_webhook_secret.get_secret_value())
    header = delivery.header("stripe-signature")
    for n, secret in enumerate(secrets, start=1):
        try:
            verify_stripe(secret, delivery.body, header)
            break
        except SignatureInvalid as exc:
            if n == len(secrets):
                raise _refuse("stripe", exc) from None
    payload = _json(delivery.body)
    event_id, topic = payload.get("id"), payload.get("type")
    if not isinstance(event_id, str) or not isinstance(topic, str):
        raise MalformedDelivery("a Stripe event needs an id and a type")
    account = payload.get("account")
    new = await service.receive(
        _pool(runtime),
        source="stripe",
        external_id=event_id,
        topic=topic,
        payload=payload,
        headers={},
        account=account if isinstance(account, str) else None,
    )
    return _answer(new)


# --- the ASGI lane ---------------------------------------------------------------------------

_PREFIX = "/webhooks/"
_WOOCOMMERCE = "/webhooks/woocommerce/"

Handler = Callable[["Runtime", Delivery], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class _Route:
    """A lane route; ``path`` is what the request-context middleware labels its metrics with."""

    path: str
    handler: Handler


_EXACT = {
    r.path: r for r in (_Route("/webhooks/shopify", shopify), _Route("/webhooks/stripe", stripe))
}


def _route_for(path: str) -> _Route | None:
    exact = _EXACT.get(path)
    if exact is not None or not path.startswith(_WOOCOMMERCE):
        return exact
    try:
        connection_id = uuid.UUID(path[len(_WOOCOMMERCE) :])
    except ValueError:
        return None  # the router answers (422 for the path parameter)

    async def handle(runtime: Runtime, delivery: Delivery) -> dict[str, Any]:
        return await woocommerce(runtime, connection_id, delivery)

    return _Route("/webhooks/woocommerce/{connection_id}", handle)


async def read_body(receive: Receive, limit: int, declared: str | None) -> bytes:
    """The raw body, refused (413) above ``limit`` whether declared or streamed."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(
    send: Send, status: int, body: dict[str, Any], content_type: bytes, extra: list[Any]
) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(data)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class IngressLane:
    """Serves ``POST /webhooks/shopify``, ``/webhooks/woocommerce/{id}`` and
    ``/webhooks/stripe`` directly; everything else goes on to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "POST" or not path.startswith(_PREFIX):
            await self.app(scope, receive, send)
            return
        route = _route_for(path)
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        runtime: Runtime = scope["app"].state.runtime
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            try:
                body = await read_body(
                    receive, runtime.settings.webhook_max_body_bytes, headers.get("content-length")
                )
                answer = await route.handler(runtime, Delivery(headers, body))
            except DATABASE_UNAVAILABLE as exc:
                log.warning("http.database_unavailable", error=type(exc).__name__)
                raise DatabaseUnavailable(
                    "the request could not reach the database; retry shortly"
                ) from None
        except DomainError as exc:
            extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
            if isinstance(exc, DatabaseUnavailable):
                extra.append((b"retry-after", b"2"))
            await _send_json(
                send, exc.status, exc.to_problem(path), PROBLEM_CONTENT_TYPE.encode(), extra
            )
            return
        except ConnectionAbortedError:
            return  # nothing was stored; the provider delivers again
        await _send_json(send, 200, answer, b"application/json", [])
