"""Shopify emulator: Admin REST orders, auth errors and the leaky bucket (providers.md §4.3-4.4)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from sellerhub_emulators.app import create_emulators_app

from .conftest import FakeClock
from .test_shopify_helpers import (
    ADMIN,
    OTHER_SHOP,
    SHOP,
    VERSION,
    auth,
    base,
    install,
    orders_url,
    query,
)

INVALID = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
ORDER_KEYS = {
    "id",
    "name",
    "email",
    "created_at",
    "updated_at",
    "currency",
    "total_price",
    "financial_status",
    "fulfillment_status",
    "line_items",
    "customer",
}


async def token(http: httpx.AsyncClient, **kwargs: Any) -> str:
    value: str = (await install(http, **kwargs))["access_token"]
    return value


def links(response: httpx.Response) -> dict[str, str]:
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


async def test_orders_default_open_and_status_any(http: httpx.AsyncClient) -> None:
    access = await token(http)
    response = await http.get(orders_url(), headers=auth(access))
    assert response.status_code == 200
    assert response.headers["x-shopify-shop-api-call-limit"] == "1/40"
    orders = response.json()["orders"]
    assert orders
    assert all(o["closed_at"] is None and o["cancelled_at"] is None for o in orders)
    first = orders[0]
    assert set(first) >= ORDER_KEYS
    assert set(first["customer"]) >= {"id", "email"}
    assert {"id", "sku", "title", "quantity", "price"} <= set(first["line_items"][0])
    everything = (
        await http.get(orders_url(), params={"status": "any"}, headers=auth(access))
    ).json()["orders"]
    assert len(everything) == 30
    assert len(everything) > len(orders)
    ids = [o["id"] for o in everything]
    assert ids == sorted(ids)


async def test_orders_are_deterministic_per_shop(clock: FakeClock) -> None:
    async def ids(app: FastAPI, shop: str) -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            access = await token(client, shop=shop)
            response = await client.get(
                orders_url(shop), params={"status": "any"}, headers=auth(access)
            )
            return [o["id"] for o in response.json()["orders"]]

    one = await ids(create_emulators_app(clock=clock), SHOP)
    two = await ids(create_emulators_app(clock=clock), SHOP)
    other = await ids(create_emulators_app(clock=clock), OTHER_SHOP)
    assert one == two
    assert one != other


async def test_cursor_pagination_with_link_header(http: httpx.AsyncClient) -> None:
    access = await token(http)
    first = await http.get(
        orders_url(), params={"status": "any", "limit": "12"}, headers=auth(access)
    )
    assert len(first.json()["orders"]) == 12
    assert set(links(first)) == {"next"}
    next_url = links(first)["next"]
    assert urlsplit(next_url).path == orders_url()
    assert set(query(next_url)) == {"limit", "page_info"}
    second = await http.get(next_url, headers=auth(access))
    assert second.status_code == 200, second.text
    assert set(links(second)) == {"previous", "next"}
    third = await http.get(links(second)["next"], headers=auth(access))
    assert len(third.json()["orders"]) == 6
    assert set(links(third)) == {"previous"}
    back = await http.get(links(third)["previous"], headers=auth(access))
    assert back.json()["orders"] == second.json()["orders"]
    seen = [o["id"] for r in (first, second, third) for o in r.json()["orders"]]
    assert len(set(seen)) == 30
    mixed = await http.get(
        orders_url(),
        params={"page_info": query(next_url)["page_info"], "status": "any"},
        headers=auth(access),
    )
    assert mixed.status_code == 400
    assert "page_info" in mixed.json()["errors"]
    garbage = await http.get(orders_url(), params={"page_info": "!!"}, headers=auth(access))
    assert garbage.status_code == 400


async def test_filters_and_limits(http: httpx.AsyncClient) -> None:
    access = await token(http)
    everything = (
        await http.get(orders_url(), params={"status": "any"}, headers=auth(access))
    ).json()["orders"]
    pivot = everything[9]
    since = (
        await http.get(
            orders_url(),
            params={"status": "any", "since_id": str(pivot["id"])},
            headers=auth(access),
        )
    ).json()["orders"]
    assert [o["id"] for o in since] == [o["id"] for o in everything[10:]]
    newest = max(o["updated_at"] for o in everything)
    recent = (
        await http.get(
            orders_url(), params={"status": "any", "updated_at_min": newest}, headers=auth(access)
        )
    ).json()["orders"]
    assert [o["updated_at"] for o in recent] == [newest]
    too_many = await http.get(orders_url(), params={"limit": "251"}, headers=auth(access))
    assert too_many.status_code == 400
    assert "limit" in too_many.json()["errors"]
    bad_status = await http.get(orders_url(), params={"status": "weird"}, headers=auth(access))
    assert bad_status.status_code == 400
    count = await http.get(
        f"{base()}/admin/api/{VERSION}/orders/count.json",
        params={"status": "any"},
        headers=auth(access),
    )
    assert count.json() == {"count": 30}
    one = await http.get(
        f"{base()}/admin/api/{VERSION}/orders/{pivot['id']}.json", headers=auth(access)
    )
    assert one.json()["order"]["id"] == pivot["id"]
    missing = await http.get(f"{base()}/admin/api/{VERSION}/orders/1.json", headers=auth(access))
    assert missing.status_code == 404
    assert missing.json() == {"errors": "Not Found"}


async def test_auth_errors(http: httpx.AsyncClient) -> None:
    access = await token(http)
    no_token = await http.get(orders_url())
    assert no_token.status_code == 401
    assert no_token.json() == INVALID
    wrong = await http.get(orders_url(), headers=auth("shpat_nope"))
    assert wrong.json() == INVALID
    other_shop = await http.get(orders_url(OTHER_SHOP), headers=auth(access))
    assert other_shop.status_code == 401
    bad_version = await http.get(f"{base()}/admin/api/latest/orders.json", headers=auth(access))
    assert bad_version.status_code == 404
    no_scope = await token(http, scope="read_products")
    forbidden = await http.get(orders_url(), headers=auth(no_scope))
    assert forbidden.status_code == 403
    assert "read_orders" in forbidden.json()["errors"]


async def test_expire_and_revoke(http: httpx.AsyncClient) -> None:
    offline = await token(http)
    expiring = await install(http, expiring=True)
    assert (await http.post(f"{ADMIN}/expire")).status_code == 200
    for value in (offline, expiring["access_token"]):
        response = await http.get(orders_url(), headers=auth(value))
        assert response.status_code == 401
        assert response.json() == INVALID
    fresh = await http.post(
        f"{base()}/admin/oauth/access_token",
        json={
            "client_id": "shopify-emulator-client",
            "client_secret": "shopify-emulator-secret",
            "grant_type": "refresh_token",
            "refresh_token": expiring["refresh_token"],
        },
    )
    assert fresh.status_code == 200
    assert (await http.post(f"{ADMIN}/revoke")).status_code == 200
    revoked = await http.get(orders_url(), headers=auth(fresh.json()["access_token"]))
    assert revoked.status_code == 401
    again = await http.post(
        f"{base()}/admin/oauth/access_token",
        json={
            "client_id": "shopify-emulator-client",
            "client_secret": "shopify-emulator-secret",
            "grant_type": "refresh_token",
            "refresh_token": fresh.json()["refresh_token"],
        },
    )
    assert again.json()["error"] == "invalid_grant"
    # Tokens issued after the switch work normally.
    new = await token(http)
    assert (await http.get(orders_url(), headers=auth(new))).status_code == 200


async def test_leaky_bucket(http: httpx.AsyncClient, clock: FakeClock) -> None:
    access = await token(http)
    for n in range(1, 41):
        response = await http.get(orders_url(), headers=auth(access))
        assert response.status_code == 200
        assert response.headers["x-shopify-shop-api-call-limit"] == f"{n}/40"
    throttled = await http.get(orders_url(), headers=auth(access))
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert throttled.headers["x-shopify-shop-api-call-limit"] == "40/40"
    assert "Exceeded 2 calls per second" in throttled.json()["errors"]
    # Another shop has its own bucket.
    other = await token(http, shop=OTHER_SHOP)
    assert (await http.get(orders_url(OTHER_SHOP), headers=auth(other))).status_code == 200
    clock.advance(1)  # leaks 2
    response = await http.get(orders_url(), headers=auth(access))
    assert response.status_code == 200
    assert response.headers["x-shopify-shop-api-call-limit"] == "39/40"
    await http.post(f"{ADMIN}/config", json={"rest_bucket_size": 2, "rest_leak_per_second": 1})
    assert (await http.get(orders_url(), headers=auth(access))).status_code == 200
    limited = await http.get(orders_url(), headers=auth(access))
    assert limited.headers["x-shopify-shop-api-call-limit"] == "2/2"
    assert (await http.get(orders_url(), headers=auth(access))).status_code == 429


async def test_admin_order_edit_shows_in_updated_at_min(http: httpx.AsyncClient) -> None:
    access = await token(http)
    listed = (await http.get(f"{ADMIN}/orders", params={"shop": SHOP})).json()["orders"]
    target = listed[0]
    edited = await http.post(
        f"{ADMIN}/orders",
        json={"shop": SHOP, "order": {"id": target["id"], "financial_status": "refunded"}},
    )
    assert edited.status_code == 200
    order = edited.json()["order"]
    assert order["financial_status"] == "refunded"
    assert order["updated_at"] > target["updated_at"]
    recent = (
        await http.get(
            orders_url(),
            params={"status": "any", "updated_at_min": order["updated_at"]},
            headers=auth(access),
        )
    ).json()["orders"]
    assert [o["id"] for o in recent] == [target["id"]]
    created = (await http.post(f"{ADMIN}/orders", json={"shop": SHOP, "order": {}})).json()
    assert created["order"]["id"] > max(o["id"] for o in listed)
    assert created["order"]["name"] == "#1031"
    bad = await http.post(f"{ADMIN}/orders", json={"shop": "localhost", "order": {}})
    assert bad.status_code == 422


async def test_stats_fail_injection_and_reset(http: httpx.AsyncClient) -> None:
    access = await token(http)
    config = await http.post(
        f"{ADMIN}/config", json={"fail": {"endpoint": "orders", "status": 503, "count": 1}}
    )
    assert config.status_code == 200
    failed = await http.get(orders_url(), headers=auth(access))
    assert failed.status_code == 503
    assert failed.json() == {"errors": "Service Unavailable"}
    assert (await http.get(orders_url(), headers=auth(access))).status_code == 200
    await http.post(
        f"{ADMIN}/config", json={"fail": {"endpoint": "token", "status": 500, "count": 1}}
    )
    token_fail = await http.post(f"{base()}/admin/oauth/access_token", json={})
    assert token_fail.status_code == 500
    assert token_fail.json()["error"] == "server_error"
    unknown = await http.post(f"{ADMIN}/config", json={"fail": {"endpoint": "nope", "status": 500}})
    assert unknown.status_code == 422
    stats = (await http.get(f"{ADMIN}/stats")).json()["requests"]
    assert stats == {"authorize": 1, "token": 2, "orders": 2, "webhooks": 0, "shop": 0}
    assert (await http.post(f"{ADMIN}/reset")).json() == {"reset": True}
    assert (await http.get(orders_url(), headers=auth(access))).status_code == 401
    assert (await http.get(f"{ADMIN}/stats")).json()["requests"]["orders"] == 1


async def test_shop_json_needs_a_valid_token_of_that_shop_and_no_scope(
    http: httpx.AsyncClient,
) -> None:
    url = f"{base()}/admin/api/{VERSION}/shop.json"
    access = await token(http, scope="read_products")  # no order scope: the shop is still readable
    response = await http.get(url, headers=auth(access))
    assert response.status_code == 200, response.text
    shop = response.json()["shop"]
    assert shop["myshopify_domain"] == SHOP and isinstance(shop["id"], int)
    assert {"name", "email", "currency", "iana_timezone", "plan_name", "created_at"} <= set(shop)
    assert response.headers["x-shopify-shop-api-call-limit"] == "1/40"
    narrowed = await http.get(url, params={"fields": "id,name"}, headers=auth(access))
    assert set(narrowed.json()["shop"]) == {"id", "name"}
    other_url = f"{base(OTHER_SHOP)}/admin/api/{VERSION}/shop.json"
    other = await http.get(other_url, headers=auth(access))
    assert other.status_code == 401 and other.json() == INVALID
    assert (await http.get(url)).json() == INVALID
    assert (await http.post(f"{ADMIN}/revoke")).status_code == 200
    revoked = await http.get(url, headers=auth(access))
    assert revoked.status_code == 401 and revoked.json() == INVALID
    await http.post(f"{ADMIN}/config", json={"fail": {"endpoint": "shop", "status": 503}})
    failing = await http.get(url, headers=auth(await token(http)))
    assert failing.status_code == 503 and failing.json() == {"errors": "Service Unavailable"}
