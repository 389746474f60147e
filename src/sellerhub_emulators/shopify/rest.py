"""Admin REST API (providers.md §4.3, §4.4, §4.2), per shop and API version:

- ``GET /{shop}/admin/api/{version}/orders.json`` (+ ``orders/count.json``, ``orders/{id}.json``)
- ``POST|GET /{shop}/admin/api/{version}/webhooks.json``, ``DELETE .../webhooks/{id}.json``
- ``GET /{shop}/admin/api/{version}/shop.json`` (the Shop resource, no scope needed; see ``shop``)

Every call needs ``X-Shopify-Access-Token`` (401 ``{"errors": "[API] Invalid API key or access
token ..."}`` otherwise, also for a token of another shop) and passes the leaky bucket of its app
on that shop (40 calls, 2 per second by default): the answer carries
``X-Shopify-Shop-Api-Call-Limit: used/size``; a full bucket answers 429 with ``Retry-After``
(whole seconds until a call fits; Shopify's exact value is [unconfirmed]).

Orders are sorted by ascending id ([unconfirmed]: Shopify's default order is not in
providers.md). ``page_info`` is an opaque cursor carrying the filters and a position; with it
only ``limit`` and ``fields`` may be given (400 otherwise, [unconfirmed] message).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.common.httputil import is_absolute_http_url
from sellerhub_emulators.common.tokens import TokenKind, TokenRecord
from sellerhub_emulators.shopify import constants as c
from sellerhub_emulators.shopify import errors as e
from sellerhub_emulators.shopify.orders import (
    FILTER_FIELDS,
    FilterError,
    matches,
    now_stamp,
    validate,
)
from sellerhub_emulators.shopify.shop import shop_resource
from sellerhub_emulators.shopify.signing import normalize_shop
from sellerhub_emulators.shopify.state import ShopifyEmulator


class RestError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__("rest error")
        self.response = response


def _filter_error(field: str, message: str) -> RestError:
    return RestError(e.rest_error(400, {field: [message]}))


def _encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(value: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data: Any = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _filter_error("page_info", "Invalid value.") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("f"), dict)
        or data.get("d") not in ("next", "prev")
        or not isinstance(data.get("id"), int)
    ):
        raise _filter_error("page_info", "Invalid value.")
    return data


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw is None:
        return c.DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= c.MAX_LIMIT:
        raise _filter_error("limit", f"must be an integer between 1 and {c.MAX_LIMIT}")
    return int(raw)


def _fields(order: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return order
    wanted = {f.strip() for f in fields.split(",")}
    return {k: v for k, v in order.items() if k in wanted}


def list_orders(
    orders: list[dict[str, Any]], params: dict[str, str], page_url: str
) -> tuple[list[dict[str, Any]], str | None]:
    """The page of orders and the ``Link`` header value (None without links)."""
    limit = _limit(params)
    cursor = params.get("page_info")
    if cursor is not None:
        extra = sorted(k for k in params if k not in ("page_info", "limit", "fields"))
        if extra:
            raise _filter_error(
                "page_info", f"cannot be combined with other parameters: {', '.join(extra)}"
            )
        data = _decode_cursor(cursor)
        filters = {str(k): str(v) for k, v in data["f"].items()}
    else:
        filters = {k: params[k] for k in FILTER_FIELDS if k in params}
    try:
        validate(filters)
        selected = sorted((o for o in orders if matches(o, filters)), key=lambda o: int(o["id"]))
    except FilterError as exc:
        raise _filter_error(exc.field, exc.message) from None
    if cursor is None:
        page = selected[:limit]
        has_prev = False
        has_next = len(selected) > limit
    elif data["d"] == "next":
        after = [o for o in selected if int(o["id"]) > data["id"]]
        page = after[:limit]
        has_next = len(after) > limit
        has_prev = bool(page) and any(int(o["id"]) < int(page[0]["id"]) for o in selected)
    else:
        before = [o for o in selected if int(o["id"]) < data["id"]]
        page = before[-limit:]
        has_prev = len(before) > limit
        has_next = bool(page) and any(int(o["id"]) > int(page[-1]["id"]) for o in selected)
    links = []

    def link(direction: str, position: int, rel: str) -> str:
        token = _encode_cursor({"f": filters, "d": direction, "id": position})
        query = f"limit={limit}"
        if params.get("fields"):
            query += f"&fields={params['fields']}"
        return f'<{page_url}?{query}&page_info={token}>; rel="{rel}"'

    if page and has_prev:
        links.append(link("prev", int(page[0]["id"]), "previous"))
    if page and has_next:
        links.append(link("next", int(page[-1]["id"]), "next"))
    shaped = [_fields(o, params.get("fields")) for o in page]
    return shaped, ", ".join(links) or None


def add_rest_routes(router: APIRouter, emulator: ShopifyEmulator) -> None:
    async def gate(
        endpoint: str,
        shop: str,
        version: str,
        request: Request,
        handler: Callable[[str, TokenRecord], Response],
        *,
        scope: str | None = None,
    ) -> Response:
        blocked = await emulator.enter(endpoint)
        if blocked is not None:
            return blocked
        domain = normalize_shop(shop)
        if domain is None or not c.API_VERSION_RE.fullmatch(version):
            return e.not_found()
        token = request.headers.get("x-shopify-access-token", "")
        found = emulator.tokens.lookup(token, TokenKind.ACCESS) if token else None
        record = found.record if found is not None and found.valid else None
        if record is None or record.extra.get("shop") != domain:
            return e.invalid_token()
        allowed, call_limit, wait = emulator.take_call(domain, record.client_id)
        headers = {"X-Shopify-Shop-Api-Call-Limit": call_limit, "X-Shopify-API-Version": version}
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return e.rest_error(429, e.THROTTLED, headers=headers)
        if scope is not None and not {f"read_{scope}", f"write_{scope}"} & set(record.scopes):
            response: Response = e.rest_error(
                403, f"[API] This action requires merchant approval for read_{scope} scope."
            )
        else:
            try:
                response = handler(domain, record)
            except RestError as exc:
                response = exc.response
        response.headers.update(headers)
        return response

    def page_url(request: Request) -> str:
        return str(request.url.replace(query=""))

    @router.get("/{shop}/admin/api/{version}/orders.json")
    async def orders(shop: str, version: str, request: Request) -> Response:
        """List orders (default only open ones; ``status=any`` for all)."""

        def handle(domain: str, _: TokenRecord) -> Response:
            params = dict(request.query_params)
            rows = list(emulator.shop(domain).orders.values())
            page, link = list_orders(rows, params, page_url(request))
            response = JSONResponse({"orders": page})
            if link is not None:
                response.headers["Link"] = link
            return response

        return await gate(c.ENDPOINT_ORDERS, shop, version, request, handle, scope="orders")

    @router.get("/{shop}/admin/api/{version}/orders/count.json")
    async def orders_count(shop: str, version: str, request: Request) -> Response:
        """How many orders match the filters."""

        def handle(domain: str, _: TokenRecord) -> Response:
            filters = {k: v for k, v in request.query_params.items() if k in FILTER_FIELDS}
            try:
                validate(filters)
                rows = emulator.shop(domain).orders.values()
                count = sum(1 for o in rows if matches(o, filters))
            except FilterError as exc:
                raise _filter_error(exc.field, exc.message) from None
            return JSONResponse({"count": count})

        return await gate(c.ENDPOINT_ORDERS, shop, version, request, handle, scope="orders")

    @router.get("/{shop}/admin/api/{version}/orders/{order_id}.json")
    async def order(shop: str, version: str, order_id: str, request: Request) -> Response:
        """One order by id."""

        def handle(domain: str, _: TokenRecord) -> Response:
            found = emulator.shop(domain).orders.get(int(order_id)) if order_id.isdigit() else None
            if found is None:
                return e.not_found()
            return JSONResponse({"order": _fields(found, request.query_params.get("fields"))})

        return await gate(c.ENDPOINT_ORDERS, shop, version, request, handle, scope="orders")

    @router.get("/{shop}/admin/api/{version}/shop.json")
    async def shop_json(shop: str, version: str, request: Request) -> Response:
        """The shop the token belongs to (any valid token of the shop; no scope needed)."""

        def handle(domain: str, _: TokenRecord) -> Response:
            resource = shop_resource(emulator.shop(domain))
            return JSONResponse({"shop": _fields(resource, request.query_params.get("fields"))})

        return await gate(c.ENDPOINT_SHOP, shop, version, request, handle)

    @router.post("/{shop}/admin/api/{version}/webhooks.json")
    async def create_webhook(shop: str, version: str, request: Request) -> Response:
        """Subscribe ``address`` to ``topic`` for the calling app on this shop."""
        raw = await request.body()

        def handle(domain: str, record: TokenRecord) -> Response:
            try:
                data: Any = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                return e.rest_error(400, "Bad Request")
            webhook = data.get("webhook") if isinstance(data, dict) else None
            if not isinstance(webhook, dict):
                return e.rest_error(400, {"webhook": "Required parameter missing or invalid"})
            topic = webhook.get("topic")
            address = webhook.get("address")
            fmt = webhook.get("format", "json")
            problems: dict[str, list[str]] = {}
            if not isinstance(topic, str) or topic not in c.TOPICS:
                problems["topic"] = [f"Invalid topic specified: {topic}"]
            if not isinstance(address, str) or not is_absolute_http_url(address):
                problems["address"] = ["is invalid"]
            if fmt != "json":
                problems["format"] = ["is not included in the list"]
            shop_state = emulator.shop(domain)
            if not problems and any(
                w["topic"] == topic and w["address"] == address and w["_client"] == record.client_id
                for w in shop_state.webhooks.values()
            ):
                problems["address"] = ["for this topic has already been taken"]
            if problems:
                return e.rest_error(422, problems)
            now = now_stamp()
            stored: dict[str, Any] = {
                "id": emulator.next_id(),
                "address": address,
                "topic": topic,
                "created_at": now,
                "updated_at": now,
                "format": "json",
                "fields": [],
                "metafield_namespaces": [],
                "api_version": version,
                "private_metafield_namespaces": [],
                "_client": record.client_id,
            }
            shop_state.webhooks[int(stored["id"])] = stored
            return JSONResponse({"webhook": public_webhook(stored)}, status_code=201)

        return await gate(c.ENDPOINT_WEBHOOKS, shop, version, request, handle)

    @router.get("/{shop}/admin/api/{version}/webhooks.json")
    async def list_webhooks(shop: str, version: str, request: Request) -> Response:
        """The calling app's subscriptions on this shop (``topic``/``address`` filters)."""

        def handle(domain: str, record: TokenRecord) -> Response:
            topic = request.query_params.get("topic")
            address = request.query_params.get("address")
            rows = [
                public_webhook(w)
                for w in sorted(emulator.shop(domain).webhooks.values(), key=lambda w: w["id"])
                if w["_client"] == record.client_id
                and (topic is None or w["topic"] == topic)
                and (address is None or w["address"] == address)
            ]
            return JSONResponse({"webhooks": rows})

        return await gate(c.ENDPOINT_WEBHOOKS, shop, version, request, handle)

    @router.delete("/{shop}/admin/api/{version}/webhooks/{webhook_id}.json")
    async def delete_webhook(
        shop: str, version: str, webhook_id: str, request: Request
    ) -> Response:
        """Remove one of the calling app's subscriptions; 200 ``{}``."""

        def handle(domain: str, record: TokenRecord) -> Response:
            hooks = emulator.shop(domain).webhooks
            found = hooks.get(int(webhook_id)) if webhook_id.isdigit() else None
            if found is None or found["_client"] != record.client_id:
                return e.not_found()
            del hooks[int(webhook_id)]
            return JSONResponse({})

        return await gate(c.ENDPOINT_WEBHOOKS, shop, version, request, handle)


def public_webhook(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if not k.startswith("_")}
