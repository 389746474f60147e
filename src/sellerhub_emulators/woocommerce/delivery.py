"""Webhook pings and deliveries, as ``WC_Webhook::deliver_ping`` and ``WC_Webhook::deliver`` send
them (providers.md §5.3).

A delivery is a POST of the JSON payload (encoded like ``wp_json_encode``: compact, ``/``
escaped, non-ASCII as ``\\uXXXX``) with ``Content-Type: application/json``, the Hookshot
``User-Agent`` and the ``X-WC-Webhook-*`` headers; ``X-WC-Webhook-Signature`` is
``base64(HMAC-SHA256(secret, body))``. ``X-WC-Webhook-Delivery-ID`` is a new 32-hex id per
delivery (``wp_hash(id . time)`` in WooCommerce). A delivery succeeds on 2xx, 301 or 302; after
more than 5 consecutive failures the webhook is set to ``disabled``.

The ping sent on creation is a form body ``webhook_id=<id>`` without signature headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import httpx

from sellerhub_emulators.woocommerce import constants as c
from sellerhub_emulators.woocommerce.state import Delivery, Webhook, WooCommerceEmulator


def wp_json_encode(payload: Any) -> bytes:
    return (
        json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()
    )


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def build_delivery(webhook: Webhook, payload: Any, source: str) -> Delivery:
    body = wp_json_encode(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": c.USER_AGENT,
        "X-WC-Webhook-Source": source,
        "X-WC-Webhook-Topic": webhook.topic,
        "X-WC-Webhook-Resource": webhook.resource,
        "X-WC-Webhook-Event": webhook.event,
        "X-WC-Webhook-Signature": signature(webhook.secret, body),
        "X-WC-Webhook-ID": str(webhook.id),
        "X-WC-Webhook-Delivery-ID": secrets.token_hex(16),
    }
    return Delivery(webhook.id, webhook.delivery_url, headers, body)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=c.OUTBOUND_TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    )


async def send(
    emulator: WooCommerceEmulator, webhook: Webhook, delivery: Delivery
) -> dict[str, Any]:
    """POST one delivery; counts failures and disables the webhook after too many."""
    result: dict[str, Any] = {
        "webhook_id": delivery.webhook_id,
        "delivery_url": delivery.delivery_url,
        "delivery_id": delivery.headers["X-WC-Webhook-Delivery-ID"],
        "status": None,
        "error": None,
    }
    try:
        async with _client() as client:
            response = await client.post(
                delivery.delivery_url, content=delivery.body, headers=delivery.headers
            )
        result["status"] = response.status_code
        ok = 200 <= response.status_code < 300 or response.status_code in (301, 302)
    except httpx.HTTPError as exc:
        result["error"] = str(exc) or type(exc).__name__
        ok = False
    with emulator.lock:
        if ok:
            webhook.failures = 0
        else:
            webhook.failures += 1
            if webhook.failures > c.MAX_DELIVERY_FAILURES:
                webhook.status = "disabled"
    result["ok"] = ok
    return result


async def ping(webhook: Webhook) -> int | None:
    """The creation ping; its outcome does not change the webhook (the REST API ignores it)."""
    try:
        async with _client() as client:
            response = await client.post(
                webhook.delivery_url,
                content=f"webhook_id={webhook.id}".encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "User-Agent": c.USER_AGENT,
                },
            )
    except httpx.HTTPError:
        return None
    return response.status_code
