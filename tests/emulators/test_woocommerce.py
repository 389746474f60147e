"""The WooCommerce emulator (providers.md §5): app authentication with a real key POST to a
local receiver, REST orders / system_status with key auth (HTTP Basic or key query parameters
over https, OAuth 1.0a signatures over plain http), and the control surface. The OAuth 1.0a
checks themselves are in ``tests/test_woocommerce_oauth1.py``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from sellerhub.connections.providers.woocommerce.adapter import OAuth1Signer, basic_credential

STORE = "/woocommerce/stores/demo"
ADMIN = "/woocommerce/_admin"
AUTHORIZE = f"{STORE}/wc-auth/v1/authorize"
ORDERS = f"{STORE}/wp-json/wc/v3/orders"
STATUS = f"{STORE}/wp-json/wc/v3/system_status"
WEBHOOKS = f"{STORE}/wp-json/wc/v3/webhooks"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server on 127.0.0.1 that records requests and answers ``status``."""

    status: int = 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(method, path, headers, body))
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@dataclass
class StoreKey(httpx.Auth):
    """A key pair that authenticates the way WooCommerce clients must: HTTP Basic over https,
    an OAuth 1.0a signature (``OAuth1Signer``) over plain http, where Basic is refused."""

    consumer_key: str
    consumer_secret: str

    @property
    def basic(self) -> tuple[str, str]:
        return self.consumer_key, self.consumer_secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.url.scheme == "https":
            credential = basic_credential(self.consumer_key, self.consumer_secret)
            request.headers["Authorization"] = f"Basic {credential}"
            yield request
        else:
            yield from OAuth1Signer(self.consumer_key, self.consumer_secret).auth_flow(request)


@pytest.fixture
async def https(emulators_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The emulators over ASGI as an https origin (``request.url.scheme == "https"``)."""
    transport = httpx.ASGITransport(app=emulators_app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    rec.port = server.sockets[0].getsockname()[1]
    yield rec
    server.close()
    await server.wait_closed()


def auth_params(callback: str, **overrides: str) -> dict[str, str]:
    params = {
        "app_name": "Sellerhub",
        "scope": "read_write",
        "user_id": "org-42",
        "return_url": "https://app.example/return",
        "callback_url": callback,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v}


async def connect(http: httpx.AsyncClient, receiver: Receiver) -> dict[str, str]:
    """Run the approve flow and return the keys JSON the callback received."""
    params = auth_params(receiver.url)
    response = await http.post(AUTHORIZE, data={**params, "decision": "approve"})
    assert response.status_code == 302, response.text
    keys: dict[str, str] = json.loads(receiver.requests[-1].body)
    return keys


async def admin_key(http: httpx.AsyncClient, permissions: str = "read_write") -> StoreKey:
    """A new key of the demo store, usable as ``auth=`` over http and https alike."""
    response = await http.post(f"{ADMIN}/keys", json={"store": "demo", "permissions": permissions})
    body = response.json()
    return StoreKey(body["consumer_key"], body["consumer_secret"])


async def test_grant_page_has_two_decision_buttons(http: httpx.AsyncClient) -> None:
    response = await http.get(AUTHORIZE, params=auth_params("https://app.example/cb"))
    assert response.status_code == 200
    buttons = re.findall(r'<button[^>]*name="decision" value="(\w+)"', response.text)
    assert buttons == ["approve", "deny"]
    assert 'method="post"' in response.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"app_name": ""}, "Error: Missing parameter app_name."),
        ({"user_id": ""}, "Error: Missing parameter user_id."),
        ({"scope": ""}, "Error: Missing parameter scope."),
        ({"scope": "admin"}, "Error: Invalid scope admin."),
        (
            {"callback_url": "http://app.example/cb"},
            "Error: The callback_url needs to be over SSL.",
        ),
    ],
)
async def test_authorize_validation_errors(
    http: httpx.AsyncClient, overrides: dict[str, str], message: str
) -> None:
    response = await http.get(AUTHORIZE, params=auth_params("https://app.example/cb", **overrides))
    assert response.status_code == 401
    assert message in response.text


async def test_approve_posts_keys_then_redirects(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    params = auth_params(receiver.url)
    response = await http.post(AUTHORIZE, data={**params, "decision": "approve"})

    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert response.headers["location"].startswith("https://app.example/return?")
    assert query == {"success": ["1"], "user_id": ["org-42"]}
    [call] = receiver.requests
    assert call.method == "POST"
    assert call.headers["content-type"] == "application/json;charset=UTF-8"
    keys = json.loads(call.body)
    assert set(keys) == {"key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions"}
    assert keys["user_id"] == "org-42"
    assert keys["key_permissions"] == "read_write"
    assert re.fullmatch(r"ck_[0-9a-f]{40}", keys["consumer_key"])
    assert re.fullmatch(r"cs_[0-9a-f]{40}", keys["consumer_secret"])
    status = await http.get(STATUS, auth=StoreKey(keys["consumer_key"], keys["consumer_secret"]))
    assert status.status_code == 200
    assert status.json()["environment"]["home_url"].endswith(STORE)


async def test_callback_not_200_shows_error_and_deletes_key(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 201
    params = auth_params(receiver.url)
    response = await http.post(AUTHORIZE, data={**params, "decision": "approve"})

    assert response.status_code == 401
    assert "unable to send the consumer data" in response.text
    keys = json.loads(receiver.requests[0].body)
    status = await http.get(STATUS, auth=StoreKey(keys["consumer_key"], keys["consumer_secret"]))
    assert status.status_code == 401
    assert status.json()["message"] == "Consumer key is invalid."


async def test_deny_redirects_with_success_0(http: httpx.AsyncClient, receiver: Receiver) -> None:
    params = auth_params(receiver.url)
    response = await http.post(AUTHORIZE, data={**params, "decision": "deny"})
    assert response.status_code == 302
    assert response.headers["location"] == "https://app.example/return?success=0&user_id=org-42"
    assert receiver.requests == []


async def test_orders_pagination_and_headers(
    http: httpx.AsyncClient, https: httpx.AsyncClient
) -> None:
    key = await admin_key(http)
    first = await http.get(ORDERS, auth=key, params={"per_page": 10})
    assert first.status_code == 200
    total = int(first.headers["X-WP-Total"])
    assert int(first.headers["X-WP-TotalPages"]) == -(-total // 10)
    assert 'rel="next"' in first.headers["Link"]
    assert "page=2" in first.headers["Link"]
    orders = first.json()
    assert len(orders) == 10
    dates = [o["date_created_gmt"] for o in orders]
    assert dates == sorted(dates, reverse=True)
    order = orders[0]
    for name in ("id", "number", "status", "currency", "date_modified_gmt", "total", "billing"):
        assert name in order
    assert {"id", "sku", "name", "quantity", "price"} <= set(order["line_items"][0])
    query_auth = {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret}
    again = await https.get(ORDERS, params=query_auth)
    assert again.json() == orders  # deterministic, query-string auth works too (over https)
    assert (await http.get(ORDERS, params=query_auth)).status_code == 401  # not over http


async def test_orders_filters(http: httpx.AsyncClient) -> None:
    key = await admin_key(http, "read")
    response = await http.get(
        ORDERS,
        auth=key,
        params={"status": "completed", "orderby": "id", "order": "asc", "per_page": 100},
    )
    items = response.json()
    assert items
    assert all(o["status"] == "completed" for o in items)
    assert [o["id"] for o in items] == sorted(o["id"] for o in items)
    cutoff = "2024-01-05T00:00:00"
    recent = await http.get(ORDERS, auth=key, params={"modified_after": cutoff})
    assert all(o["date_modified_gmt"] > cutoff for o in recent.json())


async def test_orders_invalid_params(http: httpx.AsyncClient) -> None:
    key = await admin_key(http)
    response = await http.get(ORDERS, auth=key, params={"per_page": 101})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["status"] == 400
    assert "per_page" in body["data"]["params"]


async def test_rest_auth_errors(http: httpx.AsyncClient, https: httpx.AsyncClient) -> None:
    missing = await http.get(ORDERS)
    assert missing.status_code == 401
    assert missing.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    key = await admin_key(http)
    wrong = await https.get(ORDERS, auth=(key.consumer_key, "cs_" + "0" * 40))
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "woocommerce_rest_authentication_error"
    assert wrong.json()["message"] == "Consumer secret is invalid."
    basic_over_http = await http.get(ORDERS, auth=key.basic)  # WooCommerce ignores it there
    assert basic_over_http.status_code == 401
    assert basic_over_http.json() == missing.json()
    read_key = await admin_key(http, "read")
    write = await http.post(
        WEBHOOKS, auth=read_key, json={"topic": "order.created", "delivery_url": "x"}
    )
    assert write.status_code == 401
    assert write.json()["message"] == "The API key provided does not have write permissions."


async def test_revoke_and_reset(http: httpx.AsyncClient, https: httpx.AsyncClient) -> None:
    key = await admin_key(http)
    assert (await http.post(f"{ADMIN}/expire")).json() == {"expired_access_tokens": 0}
    assert (await https.get(STATUS, auth=key.basic)).status_code == 200
    assert (await http.post(f"{ADMIN}/revoke")).json() == {"revoked_tokens": 1}
    revoked = await https.get(STATUS, auth=key.basic)
    assert revoked.status_code == 401
    assert revoked.json()["code"] == "woocommerce_rest_cannot_view"
    stats = (await http.get(f"{ADMIN}/stats")).json()["requests"]
    assert stats == {"authorize": 0, "orders": 0, "system_status": 2, "webhooks": 0}
    await http.post(f"{ADMIN}/reset")
    assert (await http.get(f"{ADMIN}/stats")).json()["requests"]["system_status"] == 0


async def test_fail_injection_uses_rest_shape(http: httpx.AsyncClient) -> None:
    key = await admin_key(http)
    config = await http.post(
        f"{ADMIN}/config", json={"fail": {"endpoint": "orders", "status": 500, "count": 1}}
    )
    assert config.status_code == 200
    failed = await http.get(ORDERS, auth=key)
    assert failed.status_code == 500
    assert failed.json()["data"] == {"status": 500}
    assert (await http.get(ORDERS, auth=key)).status_code == 200
    bad = await http.post(f"{ADMIN}/config", json={"fail": {"endpoint": "nope", "status": 500}})
    assert bad.status_code == 422
