"""Shopify emulator: webhook subscriptions and signed delivery via ``_admin/emit``
(providers.md §4.2). Deliveries go to a tiny HTTP receiver on 127.0.0.1 run by the test."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from sellerhub_emulators.shopify import DEFAULT_CLIENT_SECRET

from .test_shopify_helpers import (
    ADMIN,
    OTHER_SHOP,
    SHOP,
    VERSION,
    auth,
    base,
    install,
    webhooks_url,
)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str = ""
    status: int = 200
    requests: list[Received] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(Received(head[0].split(" ")[1], headers, body))
        writer.write(
            f"HTTP/1.1 {self.status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    server = await asyncio.start_server(target.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    target.url = f"http://127.0.0.1:{port}"
    async with server:
        yield target
        server.close()


def signature(body: bytes, secret: str = DEFAULT_CLIENT_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def subscribe(
    http: httpx.AsyncClient, token: str, topic: str, address: str
) -> httpx.Response:
    return await http.post(
        webhooks_url(),
        json={"webhook": {"topic": topic, "address": address, "format": "json"}},
        headers=auth(token),
    )


async def test_subscription_crud(http: httpx.AsyncClient) -> None:
    access = (await install(http))["access_token"]
    created = await subscribe(http, access, "orders/create", "https://app.example/hooks")
    assert created.status_code == 201
    webhook = created.json()["webhook"]
    assert webhook["topic"] == "orders/create"
    assert webhook["address"] == "https://app.example/hooks"
    assert webhook["format"] == "json"
    assert webhook["api_version"] == VERSION
    assert isinstance(webhook["id"], int)
    assert created.headers["x-shopify-shop-api-call-limit"] == "1/40"
    duplicate = await subscribe(http, access, "orders/create", "https://app.example/hooks")
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"]["address"] == ["for this topic has already been taken"]
    bad_topic = await subscribe(http, access, "orders/exploded", "https://app.example/hooks")
    assert bad_topic.status_code == 422
    assert "topic" in bad_topic.json()["errors"]
    listed = (await http.get(webhooks_url(), headers=auth(access))).json()["webhooks"]
    assert [w["id"] for w in listed] == [webhook["id"]]
    other_app = (
        await http.post(f"{ADMIN}/config", json={"clients": {"app-2": "secret-2"}})
    ).status_code
    assert other_app == 200
    access_2 = (await install(http, client_id="app-2", client_secret="secret-2"))["access_token"]
    assert (await http.get(webhooks_url(), headers=auth(access_2))).json() == {"webhooks": []}
    delete_url = f"{base()}/admin/api/{VERSION}/webhooks/{webhook['id']}.json"
    assert (await http.delete(delete_url, headers=auth(access_2))).status_code == 404
    deleted = await http.delete(delete_url, headers=auth(access))
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert (await http.delete(delete_url, headers=auth(access))).status_code == 404
    assert (await http.get(webhooks_url(), headers=auth(access))).json() == {"webhooks": []}
    assert (await http.get(webhooks_url())).status_code == 401


async def test_emit_orders_create_signed_delivery(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    access = (await install(http))["access_token"]
    await subscribe(http, access, "orders/create", f"{receiver.url}/hooks/a")
    await subscribe(http, access, "orders/create", f"{receiver.url}/hooks/b")
    await subscribe(http, access, "orders/updated", f"{receiver.url}/hooks/c")
    emitted = await http.post(f"{ADMIN}/emit", json={"shop": SHOP, "topic": "orders/create"})
    assert emitted.status_code == 200, emitted.text
    result = emitted.json()
    assert sorted(d["status"] for d in result["deliveries"]) == [200, 200]
    assert sorted(r.path for r in receiver.requests) == ["/hooks/a", "/hooks/b"]
    first = receiver.requests[0]
    assert first.headers["x-shopify-topic"] == "orders/create"
    assert first.headers["x-shopify-shop-domain"] == SHOP
    assert first.headers["x-shopify-api-version"] == VERSION
    assert first.headers["content-type"] == "application/json"
    assert first.headers["x-shopify-hmac-sha256"] == signature(first.body)
    assert first.headers["x-shopify-triggered-at"].endswith("Z")
    assert first.headers["x-shopify-event-id"] == result["event_id"]
    ids = {r.headers["x-shopify-webhook-id"] for r in receiver.requests}
    assert len(ids) == 2  # one per delivery; the event id is shared
    assert len({r.headers["x-shopify-event-id"] for r in receiver.requests}) == 1
    order = json.loads(first.body)
    assert order == result["payload"]
    # The new order is visible through the API.
    listed = await http.get(
        f"{base()}/admin/api/{VERSION}/orders/{order['id']}.json", headers=auth(access)
    )
    assert listed.status_code == 200


async def test_emit_duplicate_resends_same_ids(http: httpx.AsyncClient, receiver: Receiver) -> None:
    nothing = await http.post(f"{ADMIN}/emit", json={"duplicate": True})
    assert nothing.status_code == 409
    access = (await install(http))["access_token"]
    await subscribe(http, access, "orders/updated", f"{receiver.url}/u")
    first = await http.post(f"{ADMIN}/emit", json={"shop": SHOP, "topic": "orders/updated"})
    assert first.json()["deliveries"][0]["status"] == 200
    again = await http.post(f"{ADMIN}/emit", json={"duplicate": True})
    assert again.status_code == 200
    assert again.json()["event_id"] == first.json()["event_id"]
    one, two = receiver.requests
    assert one.body == two.body
    for name in ("x-shopify-webhook-id", "x-shopify-event-id", "x-shopify-triggered-at"):
        assert one.headers[name] == two.headers[name]


async def test_emit_compliance_payloads_to_addresses(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    await http.post(f"{ADMIN}/config", json={"clients": {"app-2": "secret-2"}})
    for topic, keys in (
        (
            "customers/data_request",
            {"shop_id", "shop_domain", "orders_requested", "customer", "data_request"},
        ),
        ("customers/redact", {"shop_id", "shop_domain", "customer", "orders_to_redact"}),
        ("shop/redact", {"shop_id", "shop_domain"}),
        ("app/uninstalled", {"id", "domain", "myshopify_domain"}),
    ):
        response = await http.post(
            f"{ADMIN}/emit",
            json={
                "shop": OTHER_SHOP,
                "topic": topic,
                "addresses": [f"{receiver.url}/gdpr"],
                "client_id": "app-2",
            },
        )
        assert response.status_code == 200
        got = receiver.requests[-1]
        assert got.headers["x-shopify-topic"] == topic
        assert got.headers["x-shopify-hmac-sha256"] == signature(got.body, "secret-2")
        payload = json.loads(got.body)
        assert keys <= set(payload)
        if "shop_domain" in payload:
            assert payload["shop_domain"] == OTHER_SHOP
        if "customer" in payload:
            assert set(payload["customer"]) == {"id", "email", "phone"}


async def test_emit_custom_payload_failures_and_validation(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 500
    response = await http.post(
        f"{ADMIN}/emit",
        json={
            "shop": SHOP,
            "topic": "orders/paid",
            "payload": {"id": 1, "note": "é"},
            "addresses": [f"{receiver.url}/x", "http://127.0.0.1:9/closed"],
        },
    )
    assert response.status_code == 200
    deliveries = {d["address"]: d for d in response.json()["deliveries"]}
    assert deliveries[f"{receiver.url}/x"]["status"] == 500
    assert deliveries["http://127.0.0.1:9/closed"]["status"] is None
    assert json.loads(receiver.requests[0].body) == {"id": 1, "note": "é"}
    no_subscribers = await http.post(f"{ADMIN}/emit", json={"shop": SHOP, "topic": "shop/redact"})
    assert no_subscribers.json()["deliveries"] == []
    for bad in (
        {"shop": "localhost", "topic": "orders/create"},
        {"shop": SHOP, "topic": "nope"},
        {"shop": SHOP, "topic": "orders/create", "client_id": "ghost"},
        {"shop": SHOP, "topic": "orders/create", "payload": [1]},
        {"shop": SHOP, "topic": "orders/create", "addresses": "http://x"},
    ):
        assert (await http.post(f"{ADMIN}/emit", json=bad)).status_code == 422
