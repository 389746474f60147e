"""Webhook delivery and the Shopify-only control endpoints (api-contract.md §4):

- ``POST _admin/emit`` JSON ``{"shop", "topic", "payload"?, "addresses"?, "client_id"?,
  "duplicate"?}``: POSTs the payload to every address subscribed to ``topic`` on ``shop`` (or to
  ``addresses``, signed with ``client_id``'s secret, default the default app) with Shopify's
  headers (providers.md §4.2) and answers the status per address. Without ``payload``:
  ``orders/create`` creates an order, ``orders/updated`` touches the newest one, other order
  topics send the newest one, compliance topics send providers.md's payloads, ``app/uninstalled``
  sends a shop object (a subset of Shopify's, [unconfirmed] fields). ``"duplicate": true``
  resends the previous delivery byte for byte, with the same ids.
- ``GET _admin/orders?shop=`` lists a shop's orders; ``POST _admin/orders`` ``{"shop", "order"}``
  merges ``order`` into the order with its ``id`` (or creates one) and bumps ``updated_at``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from sellerhub_emulators.shopify import constants as c
from sellerhub_emulators.shopify.signing import normalize_shop, webhook_hmac
from sellerhub_emulators.shopify.state import ShopifyEmulator


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=422)


def _newest(emulator: ShopifyEmulator, shop: str) -> dict[str, Any]:
    orders = emulator.shop(shop).orders
    return dict(orders[max(orders)]) if orders else emulator.upsert_order(shop, {})


def default_payload(emulator: ShopifyEmulator, shop: str, topic: str) -> dict[str, Any]:
    state = emulator.shop(shop)
    if topic == "orders/create":
        return emulator.upsert_order(shop, {})
    if topic == "orders/updated":
        return emulator.upsert_order(shop, {"id": int(_newest(emulator, shop)["id"])})
    if topic in c.ORDER_TOPICS:
        return _newest(emulator, shop)
    newest = _newest(emulator, shop)
    customer = {**newest["customer"], "phone": None}
    base: dict[str, Any] = {"shop_id": state.shop_id, "shop_domain": shop}
    if topic == "customers/data_request":
        return {
            **base,
            "orders_requested": [newest["id"]],
            "customer": customer,
            "data_request": {"id": emulator.next_id()},
        }
    if topic == "customers/redact":
        return {**base, "customer": customer, "orders_to_redact": [newest["id"]]}
    if topic == "shop/redact":
        return base
    name = shop.removesuffix(".myshopify.com")
    return {
        "id": state.shop_id,
        "name": name,
        "email": f"owner@{name}.example.com",
        "domain": shop,
        "myshopify_domain": shop,
        "country_code": "US",
        "currency": "USD",
        "iana_timezone": "America/New_York",
    }


async def _post(client: httpx.AsyncClient, target: dict[str, Any], body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = {
        "address": target["address"],
        "webhook_id": target["headers"]["X-Shopify-Webhook-Id"],
    }
    try:
        response = await client.post(target["address"], content=body, headers=target["headers"])
    except httpx.HTTPError as exc:
        result |= {"status": None, "error": f"{type(exc).__name__}: {exc}"}
    else:
        result["status"] = response.status_code
    return result


async def deliver(record: dict[str, Any]) -> list[dict[str, Any]]:
    timeout = httpx.Timeout(c.WEBHOOK_TIMEOUT_SECONDS, connect=c.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
        return list(
            await asyncio.gather(*(_post(client, t, record["body"]) for t in record["targets"]))
        )


def build_delivery(
    emulator: ShopifyEmulator,
    shop: str,
    topic: str,
    payload: dict[str, Any],
    targets: list[tuple[str, str, str]],
) -> dict[str, Any]:
    """``targets``: (address, client id, API version) per delivery."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    event_id = str(uuid.uuid4())
    triggered_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    rows = []
    for address, client_id, version in targets:
        secret = emulator.secret_of(client_id) or ""
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": webhook_hmac(body, secret),
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-API-Version": version,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id,
            "X-Shopify-Triggered-At": triggered_at,
        }
        rows.append({"address": address, "headers": headers})
    return {
        "shop": shop,
        "topic": topic,
        "event_id": event_id,
        "triggered_at": triggered_at,
        "payload": payload,
        "body": body,
        "targets": rows,
    }


def build_control_router(emulator: ShopifyEmulator) -> APIRouter:
    router = APIRouter(prefix="/_admin", tags=["shopify emulator control"])

    @router.post("/emit")
    async def emit(request: Request) -> JSONResponse:
        try:
            data: Any = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _bad("the body must be a JSON object")
        if not isinstance(data, dict):
            return _bad("the body must be a JSON object")
        if data.get("duplicate") is True:
            record = emulator.last_delivery
            if record is None:
                return JSONResponse({"detail": "nothing was delivered yet"}, status_code=409)
        else:
            shop = normalize_shop(str(data.get("shop", "")))
            topic = data.get("topic")
            if shop is None:
                return _bad("shop must be a *.myshopify.com hostname")
            if topic not in c.TOPICS:
                return _bad(f"topic must be one of {', '.join(sorted(c.TOPICS))}")
            addresses = data.get("addresses")
            client_id = data.get("client_id", c.DEFAULT_CLIENT_ID)
            if not isinstance(client_id, str) or emulator.secret_of(client_id) is None:
                return _bad("client_id is not a registered app")
            if addresses is not None:
                if not isinstance(addresses, list) or not all(
                    isinstance(a, str) for a in addresses
                ):
                    return _bad("addresses must be a list of URLs")
                targets = [(a, client_id, c.DEFAULT_API_VERSION) for a in addresses]
            else:
                targets = [
                    (w["address"], w["_client"], w["api_version"])
                    for w in sorted(emulator.shop(shop).webhooks.values(), key=lambda w: w["id"])
                    if w["topic"] == topic
                ]
            payload = data.get("payload")
            if payload is not None and not isinstance(payload, dict):
                return _bad("payload must be a JSON object")
            if payload is None:
                payload = default_payload(emulator, shop, str(topic))
            record = build_delivery(emulator, shop, str(topic), payload, targets)
            emulator.last_delivery = record
        results = await deliver(record)
        return JSONResponse(
            {
                "shop": record["shop"],
                "topic": record["topic"],
                "event_id": record["event_id"],
                "triggered_at": record["triggered_at"],
                "payload": record["payload"],
                "deliveries": results,
            }
        )

    @router.get("/orders")
    async def read_orders(shop: str = "") -> JSONResponse:
        domain = normalize_shop(shop)
        if domain is None:
            return _bad("shop must be a *.myshopify.com hostname")
        rows = sorted(emulator.shop(domain).orders.values(), key=lambda o: int(o["id"]))
        return JSONResponse({"orders": rows})

    @router.post("/orders")
    async def write_order(request: Request) -> JSONResponse:
        try:
            data: Any = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return _bad("the body must be a JSON object")
        if not isinstance(data, dict) or not isinstance(data.get("order", {}), dict):
            return _bad('the body must be {"shop": "...", "order": {...}}')
        domain = normalize_shop(str(data.get("shop", "")))
        if domain is None:
            return _bad("shop must be a *.myshopify.com hostname")
        order_id = data.get("order", {}).get("id")
        if order_id is not None and (isinstance(order_id, bool) or not isinstance(order_id, int)):
            return _bad("order.id must be an integer")
        return JSONResponse({"order": emulator.upsert_order(domain, data.get("order", {}))})

    return router
