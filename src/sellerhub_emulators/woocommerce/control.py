"""WooCommerce additions to ``_admin`` (api-contract.md §4):

- ``POST _admin/emit`` ``{"store","topic","payload"?,"duplicate"?}`` delivers ``topic`` to every
  active webhook of the store with that topic and answers ``{"deliveries": [...]}`` (one entry
  per webhook: ``webhook_id``, ``delivery_url``, ``delivery_id``, ``status``, ``ok``,
  ``error``). Without ``payload``, ``order.created`` adds a new order, ``order.updated`` touches
  the newest order and ``order.deleted`` removes it (payload ``{"id": <id>}``); other topics
  need a ``payload``. ``duplicate: true`` resends the previous deliveries of that store and topic
  byte for byte, same ``X-WC-Webhook-Delivery-ID`` (404 when there is none).
- ``POST _admin/keys`` ``{"store","permissions"?}`` issues a key pair directly, like a shop
  manager creating one under WooCommerce > Settings > Advanced > REST API.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.responses import JSONResponse

from sellerhub_emulators.woocommerce import constants as c
from sellerhub_emulators.woocommerce.delivery import build_delivery, send
from sellerhub_emulators.woocommerce.rest import valid_topic
from sellerhub_emulators.woocommerce.state import WooCommerceEmulator, make_order, wc_date
from sellerhub_emulators.woocommerce.stores import checked_store, store_url


class EmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    store: str
    topic: str
    payload: Any = None
    duplicate: bool = False


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    store: str
    permissions: str = "read_write"


def _invalid(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=422)


def default_payload(emulator: WooCommerceEmulator, store: str, topic: str) -> Any:
    shop = emulator.store(store)
    now = datetime.now(UTC)
    with emulator.lock:
        if topic == "order.created":
            order = make_order(
                shop.next_order_id,
                now,
                now,
                "processing",
                random.Random(shop.next_order_id),  # noqa: S311
            )
            shop.next_order_id += 1
            shop.orders.append(order)
            return order
        if not shop.orders:
            return None
        newest = max(shop.orders, key=lambda item: item["id"])
        if topic == "order.updated":
            newest["date_modified"] = newest["date_modified_gmt"] = wc_date(now)
            return dict(newest)
        if topic == "order.deleted":
            shop.orders.remove(newest)
            return {"id": newest["id"]}
    return None


def build_control_router(emulator: WooCommerceEmulator) -> APIRouter:
    router = APIRouter(prefix="/_admin", tags=["woocommerce emulator control"])

    @router.post("/emit")
    async def emit(request: Request) -> JSONResponse:
        try:
            spec = EmitRequest.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            return _invalid(str(exc.errors(include_url=False)[0]["msg"]))
        if checked_store(spec.store) is None:
            return _invalid("invalid store name")
        if not valid_topic(spec.topic):
            return _invalid(f"unknown topic {spec.topic!r}")
        shop = emulator.store(spec.store)
        if spec.duplicate:
            with emulator.lock:
                previous = list(shop.last_deliveries.get(spec.topic, []))
            if not previous:
                return JSONResponse({"detail": "no previous delivery to resend"}, 404)
            results = []
            for delivery in previous:
                webhook = shop.webhooks.get(delivery.webhook_id)
                if webhook is not None:
                    results.append(await send(emulator, webhook, delivery))
            return JSONResponse({"deliveries": results})
        payload = spec.payload
        if payload is None:
            payload = default_payload(emulator, spec.store, spec.topic)
            if payload is None:
                return _invalid(f"topic {spec.topic!r} needs a payload")
        source = store_url(request, spec.store) + "/"
        with emulator.lock:
            targets = [
                hook
                for hook in sorted(shop.webhooks.values(), key=lambda h: h.id)
                if hook.topic == spec.topic and hook.status == "active"
            ]
        deliveries = [build_delivery(hook, payload, source) for hook in targets]
        with emulator.lock:
            shop.last_deliveries[spec.topic] = deliveries
        results = [
            await send(emulator, hook, delivery)
            for hook, delivery in zip(targets, deliveries, strict=True)
        ]
        return JSONResponse({"deliveries": results})

    @router.post("/keys")
    async def keys(request: Request) -> JSONResponse:
        try:
            spec = KeyRequest.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            return _invalid(str(exc.errors(include_url=False)[0]["msg"]))
        if checked_store(spec.store) is None or spec.permissions not in c.SCOPES:
            return _invalid("invalid store name or permissions")
        emulator.store(spec.store)
        key = emulator.issue_key(
            spec.store, app_name="_admin", user_id="admin", permissions=spec.permissions
        )
        return JSONResponse(
            {
                "key_id": key.key_id,
                "consumer_key": key.consumer_key,
                "consumer_secret": key.consumer_secret,
                "key_permissions": key.permissions,
            }
        )

    return router
