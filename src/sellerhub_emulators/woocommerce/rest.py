"""``{store}/wp-json/wc/v3/...``: orders, system_status and webhooks (providers.md §5.2, §5.3).

Authentication follows ``WC_REST_Authentication``, by the scheme of the request as the emulator
sees it (``request.url.scheme``):

- over https, HTTP Basic ``consumer_key:consumer_secret``, or the ``consumer_key`` and
  ``consumer_secret`` query parameters (which win over a Basic header); a wrong secret answers
  401 ``woocommerce_rest_authentication_error`` "Consumer secret is invalid.". When that finds
  no key, OAuth 1.0a is tried as well, as WooCommerce does;
- over plain http, only OAuth 1.0a one-legged (``oauth1``: signature, timestamp window, nonce
  reuse, each failure a 401 ``woocommerce_rest_authentication_error`` with WooCommerce's
  message, or ``..._missing_parameter``). Basic credentials and the key query parameters are
  ignored there, as WooCommerce ignores them.

A request that authenticates no key (none given, an unknown or revoked key over Basic, Basic
over http) is left anonymous, so the endpoint's permission check answers 401
``woocommerce_rest_cannot_view`` (``_create``/``_delete`` for writes); a key without the needed
permission answers 401 ``woocommerce_rest_authentication_error``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from sellerhub_emulators.common.httputil import basic_credentials, read_params
from sellerhub_emulators.woocommerce import constants as c
from sellerhub_emulators.woocommerce import errors as e
from sellerhub_emulators.woocommerce import oauth1
from sellerhub_emulators.woocommerce.delivery import ping
from sellerhub_emulators.woocommerce.state import ApiKey, Webhook, WooCommerceEmulator, rand_hash
from sellerhub_emulators.woocommerce.stores import checked_store, store_url

_READ_METHODS = ("GET", "HEAD")


def _basic(
    emulator: WooCommerceEmulator, store: str, request: Request
) -> tuple[ApiKey | None, Response | None]:
    """``perform_basic_authentication`` (SSL only): the key, or the wrong-secret error."""
    query = request.query_params
    given = (query.get("consumer_key", ""), query.get("consumer_secret", ""))
    credentials: tuple[str, str] | None = given if all(given) else None
    if credentials is None:
        credentials = basic_credentials(request.headers.get("authorization"))
    if credentials is None or not all(credentials):
        return None, None
    key = emulator.find_key(store, credentials[0])
    if key is None:
        return None, None
    if not emulator.secret_matches(key, credentials[1]):
        return None, e.rest_error(401, e.AUTHENTICATION_ERROR, e.SECRET_INVALID_MESSAGE)
    return key, None


async def authenticate(
    emulator: WooCommerceEmulator, store: str, request: Request, denied: tuple[str, str]
) -> ApiKey | Response:
    """The request's API key, or the error response WooCommerce gives."""
    key: ApiKey | None = None
    error: Response | None = None
    if request.url.scheme == "https":
        key, error = _basic(emulator, store, request)
    if key is None:
        signed = await oauth1.authenticate(emulator, store, request)
        if isinstance(signed, oauth1.Failure):
            error = e.rest_error(401, signed.code, signed.message)
        elif signed is not None:
            key = signed  # WooCommerce keeps an earlier Basic error even then
    if error is not None:
        return error
    if key is None:
        return e.rest_error(401, *denied)
    if request.method in _READ_METHODS and key.permissions not in ("read", "read_write"):
        return e.rest_error(401, e.AUTHENTICATION_ERROR, e.NO_READ_MESSAGE)
    if request.method not in _READ_METHODS and key.permissions not in ("write", "read_write"):
        return e.rest_error(401, e.AUTHENTICATION_ERROR, e.NO_WRITE_MESSAGE)
    return key


def _int_param(value: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ParamError(name, f"{name} is not of type integer.") from None
    if number < low or (high is not None and number > high):
        if high is None:
            raise ParamError(name, f"{name} must be greater than or equal to {low}")
        raise ParamError(name, f"{name} must be between {low} (inclusive) and {high} (inclusive)")
    return number


class ParamError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _one_of(name: str, choices: tuple[str, ...]) -> str:
    listed = ", ".join(choices[:-1]) + f", and {choices[-1]}"
    return f"{name} is not one of {listed}."


def _parse_date(value: str, name: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParamError(name, "Invalid date.") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def list_orders(orders: list[dict[str, Any]], query: dict[str, str]) -> tuple[list[Any], int, int]:
    """``(page of orders, total, total pages)``; raises ``ParamError``."""
    page = _int_param(query.get("page"), "page", 1, 1, None)
    per_page = _int_param(query.get("per_page"), "per_page", c.DEFAULT_PER_PAGE, 1, c.MAX_PER_PAGE)
    statuses = [s for s in query.get("status", "any").split(",") if s] or ["any"]
    for index, status in enumerate(statuses):
        if status != "any" and status not in c.ORDER_STATUSES:
            raise ParamError("status", _one_of(f"status[{index}]", ("any", *c.ORDER_STATUSES)))
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ParamError("order", _one_of("order", ("asc", "desc")))
    orderby = query.get("orderby", "date")
    if orderby not in c.ORDERBY:
        raise ParamError("orderby", _one_of("orderby", c.ORDERBY))
    modified_after = query.get("modified_after")
    after = _parse_date(modified_after, "modified_after") if modified_after else None

    def wanted(item: dict[str, Any]) -> bool:
        if "any" in statuses:
            if item["status"] == "trash":
                return False
        elif item["status"] not in statuses:
            return False
        return after is None or item["date_modified_gmt"] > after

    selected = [item for item in orders if wanted(item)]
    field = {"date": "date_created_gmt", "modified": "date_modified_gmt"}.get(orderby, "id")
    selected.sort(key=lambda item: (item[field], item["id"]), reverse=order == "desc")
    total = len(selected)
    pages = (total + per_page - 1) // per_page
    start = (page - 1) * per_page
    return selected[start : start + per_page], total, pages


def _page_url(request: Request, page: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    params.append(("page", str(page)))
    return str(request.url.replace(query=urlencode(params)))


def pagination_headers(request: Request, total: int, pages: int) -> dict[str, str]:
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    page = int(request.query_params.get("page") or 1)
    links = []
    if page > 1:
        links.append(f'<{_page_url(request, min(page - 1, pages))}>; rel="prev"')
    if page < pages:
        links.append(f'<{_page_url(request, page + 1)}>; rel="next"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def valid_topic(topic: str) -> bool:
    resource, _, event = topic.partition(".")
    if resource == "action":
        return bool(event)
    return resource in c.WEBHOOK_RESOURCES and event in c.WEBHOOK_EVENTS


def _no_store() -> JSONResponse:
    return e.rest_error(404, e.NO_ROUTE, e.NO_ROUTE_MESSAGE)


def add_rest_routes(router: APIRouter, emulator: WooCommerceEmulator) -> None:
    base = c.STORE_PATH

    async def gate(
        endpoint: str, store: str, request: Request, denied: tuple[str, str]
    ) -> ApiKey | Response:
        blocked = await emulator.enter(endpoint)
        if blocked is not None:
            return blocked
        if checked_store(store) is None:
            return _no_store()
        emulator.store(store)
        return await authenticate(emulator, store, request, denied)

    @router.get(base + c.ORDERS_PATH)
    async def orders(store: str, request: Request) -> Response:
        """List orders (``page``, ``per_page``, ``status``, ``modified_after``, ``orderby``,
        ``order``) with ``X-WP-Total``, ``X-WP-TotalPages`` and ``Link``."""
        key = await gate(c.ENDPOINT_ORDERS, store, request, (e.CANNOT_VIEW, e.LIST_MESSAGE))
        if isinstance(key, Response):
            return key
        shop = emulator.store(store)
        with emulator.lock:
            snapshot = list(shop.orders)
        try:
            page, total, pages = list_orders(snapshot, dict(request.query_params))
        except ParamError as exc:
            return e.invalid_params({exc.name: exc.message})
        return JSONResponse(page, headers=pagination_headers(request, total, pages))

    @router.get(base + c.SYSTEM_STATUS_PATH)
    async def system_status(store: str, request: Request) -> Response:
        """A small subset of WooCommerce's system status (enough to validate keys)."""
        key = await gate(c.ENDPOINT_SYSTEM_STATUS, store, request, (e.CANNOT_VIEW, e.LIST_MESSAGE))
        if isinstance(key, Response):
            return key
        url = store_url(request, store)
        return JSONResponse(
            {
                "environment": {
                    "home_url": url,
                    "site_url": url,
                    "version": c.WC_VERSION,
                    "wp_version": c.WP_VERSION,
                    "wp_multisite": False,
                    "language": "en_US",
                    "default_timezone": "UTC",
                },
                "settings": {
                    "api_enabled": True,
                    "currency": c.CURRENCY,
                    "currency_symbol": "&#36;",
                },
            }
        )

    @router.get(base + c.WEBHOOKS_PATH)
    async def list_webhooks(store: str, request: Request) -> Response:
        key = await gate(c.ENDPOINT_WEBHOOKS, store, request, (e.CANNOT_VIEW, e.LIST_MESSAGE))
        if isinstance(key, Response):
            return key
        shop = emulator.store(store)
        url = store_url(request, store) + "/wp-json"
        with emulator.lock:
            items = [
                hook.as_json(url) for hook in sorted(shop.webhooks.values(), key=lambda h: -h.id)
            ]
        return JSONResponse(items, headers={"X-WP-Total": str(len(items)), "X-WP-TotalPages": "1"})

    @router.post(base + c.WEBHOOKS_PATH)
    async def create_webhook(store: str, request: Request) -> Response:
        """Create a webhook (201) and ping its delivery URL (``webhook_id=<id>``)."""
        key = await gate(c.ENDPOINT_WEBHOOKS, store, request, (e.CANNOT_CREATE, e.CREATE_MESSAGE))
        if isinstance(key, Response):
            return key
        params = await read_params(request)
        if params is None:
            return e.rest_error(400, "rest_invalid_json", "Invalid JSON body passed.")
        missing = [name for name in ("topic", "delivery_url") if not params.get(name)]
        if missing:
            return e.rest_error(
                400,
                e.MISSING_PARAM,
                f"Missing parameter(s): {', '.join(missing)}",
                extra={"params": missing},
            )
        topic = params["topic"]
        if not valid_topic(topic):
            return e.rest_error(
                400, e.WEBHOOK_INVALID_TOPIC, "Webhook topic is required and must be valid."
            )
        status = params.get("status") or "active"
        if status not in c.WEBHOOK_STATUSES:
            return e.invalid_params({"status": _one_of("status", c.WEBHOOK_STATUSES)})
        delivery_url = params["delivery_url"]
        if not delivery_url.lower().startswith(("http://", "https://")):
            return e.invalid_params({"delivery_url": "Invalid URL."})
        now = datetime.now(UTC)
        shop = emulator.store(store)
        with emulator.lock:
            webhook = Webhook(
                id=shop.next_webhook_id,
                name=params.get("name")
                or f"Webhook created on {now.strftime('%B %d, %Y @ %I:%M %p')}",
                status=status,
                topic=topic,
                delivery_url=delivery_url,
                secret=params.get("secret") or rand_hash(),
                created=now,
                modified=now,
            )
            shop.webhooks[webhook.id] = webhook
            shop.next_webhook_id += 1
        await ping(webhook)
        with emulator.lock:
            body = webhook.as_json(store_url(request, store) + "/wp-json")
        return JSONResponse(body, status_code=201)

    @router.get(base + c.WEBHOOKS_PATH + "/{webhook_id}")
    async def read_webhook(store: str, webhook_id: str, request: Request) -> Response:
        key = await gate(c.ENDPOINT_WEBHOOKS, store, request, (e.CANNOT_VIEW, e.VIEW_MESSAGE))
        if isinstance(key, Response):
            return key
        webhook = emulator.store(store).webhooks.get(int(webhook_id) if webhook_id.isdigit() else 0)
        if webhook is None:
            return e.rest_error(404, e.WEBHOOK_INVALID_ID, "Invalid ID.")
        return JSONResponse(webhook.as_json(store_url(request, store) + "/wp-json"))

    @router.delete(base + c.WEBHOOKS_PATH + "/{webhook_id}")
    async def delete_webhook(store: str, webhook_id: str, request: Request) -> Response:
        """Delete a webhook; ``force=true`` is required (webhooks cannot be trashed)."""
        key = await gate(c.ENDPOINT_WEBHOOKS, store, request, (e.CANNOT_DELETE, e.DELETE_MESSAGE))
        if isinstance(key, Response):
            return key
        shop = emulator.store(store)
        number = int(webhook_id) if webhook_id.isdigit() else 0
        if number not in shop.webhooks:
            return e.rest_error(404, e.WEBHOOK_INVALID_ID, "Invalid ID.")
        if request.query_params.get("force", "").lower() not in ("true", "1"):
            return e.rest_error(501, e.TRASH_NOT_SUPPORTED, "Webhooks do not support trashing.")
        with emulator.lock:
            webhook = shop.webhooks.pop(number)
        return JSONResponse(webhook.as_json(store_url(request, store) + "/wp-json"))
