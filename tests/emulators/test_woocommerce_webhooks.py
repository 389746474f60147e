"""WooCommerce webhooks on the emulator (providers.md §5.3): creation with a ping, list,
delete, and signed deliveries through ``_admin/emit`` checked by an independent HMAC."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx

from .test_woocommerce import ADMIN, STORE, WEBHOOKS, Receiver, admin_key
from .test_woocommerce import receiver as receiver

SECRET = "s3cr3t-value"


def expected_signature(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


async def create(http: httpx.AsyncClient, auth: httpx.Auth, url: str) -> httpx.Response:
    return await http.post(
        WEBHOOKS,
        auth=auth,
        json={"name": "orders", "topic": "order.created", "delivery_url": url, "secret": SECRET},
    )


async def test_create_pings_list_and_delete(http: httpx.AsyncClient, receiver: Receiver) -> None:
    auth = await admin_key(http)
    response = await create(http, auth, receiver.url)

    assert response.status_code == 201
    hook = response.json()
    assert hook["status"] == "active"
    assert (hook["topic"], hook["resource"], hook["event"]) == ("order.created", "order", "created")
    assert "secret" not in hook
    [ping] = receiver.requests
    assert ping.body == f"webhook_id={hook['id']}".encode()
    assert "x-wc-webhook-signature" not in ping.headers
    listed = await http.get(WEBHOOKS, auth=auth)
    assert [h["id"] for h in listed.json()] == [hook["id"]]
    trash = await http.delete(f"{WEBHOOKS}/{hook['id']}", auth=auth)
    assert trash.status_code == 501
    assert trash.json()["code"] == "woocommerce_rest_trash_not_supported"
    deleted = await http.delete(f"{WEBHOOKS}/{hook['id']}", auth=auth, params={"force": "true"})
    assert deleted.status_code == 200
    assert (await http.get(WEBHOOKS, auth=auth)).json() == []
    gone = await http.delete(f"{WEBHOOKS}/{hook['id']}", auth=auth, params={"force": "true"})
    assert gone.status_code == 404
    assert gone.json()["code"] == "woocommerce_rest_webhook_invalid_id"


async def test_create_validation(http: httpx.AsyncClient) -> None:
    auth = await admin_key(http)
    missing = await http.post(WEBHOOKS, auth=auth, json={"name": "x"})
    assert missing.status_code == 400
    assert missing.json()["code"] == "rest_missing_callback_param"
    bad = await http.post(
        WEBHOOKS, auth=auth, json={"topic": "order.exploded", "delivery_url": "https://x.example"}
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "woocommerce_rest_webhook_invalid_topic"
    anonymous = await http.post(WEBHOOKS, json={"topic": "order.created"})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "woocommerce_rest_cannot_create"


async def test_emit_signs_delivery_and_duplicate_keeps_id(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    auth = await admin_key(http)
    hook = (await create(http, auth, receiver.url)).json()
    receiver.requests.clear()

    emitted = await http.post(f"{ADMIN}/emit", json={"store": "demo", "topic": "order.created"})

    assert emitted.status_code == 200
    [result] = emitted.json()["deliveries"]
    assert result["status"] == 200
    assert result["ok"] is True
    [call] = receiver.requests
    headers = call.headers
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("WooCommerce/")
    assert "Hookshot" in headers["user-agent"]
    assert headers["x-wc-webhook-source"] == f"http://testserver{STORE}/"
    assert headers["x-wc-webhook-topic"] == "order.created"
    assert headers["x-wc-webhook-resource"] == "order"
    assert headers["x-wc-webhook-event"] == "created"
    assert headers["x-wc-webhook-id"] == str(hook["id"])
    assert headers["x-wc-webhook-signature"] == expected_signature(call.body)
    assert len(headers["x-wc-webhook-delivery-id"]) == 32
    order = json.loads(call.body)
    assert order["id"] == 26
    assert order["status"] == "processing"
    listed = await http.get(f"{STORE}/wp-json/wc/v3/orders", auth=auth, params={"orderby": "id"})
    assert listed.json()[0]["id"] == 26

    again = await http.post(
        f"{ADMIN}/emit", json={"store": "demo", "topic": "order.created", "duplicate": True}
    )
    assert again.json()["deliveries"][0]["delivery_id"] == result["delivery_id"]
    first, second = receiver.requests
    assert second.body == first.body
    assert second.headers["x-wc-webhook-delivery-id"] == first.headers["x-wc-webhook-delivery-id"]

    other = await http.post(
        f"{ADMIN}/emit", json={"store": "demo", "topic": "order.created", "payload": {"id": 7}}
    )
    assert other.json()["deliveries"][0]["delivery_id"] != result["delivery_id"]
    assert receiver.requests[-1].body == b'{"id":7}'


async def test_emit_errors_and_failures(http: httpx.AsyncClient, receiver: Receiver) -> None:
    auth = await admin_key(http)
    await create(http, auth, receiver.url)
    nothing = await http.post(
        f"{ADMIN}/emit", json={"store": "demo", "topic": "order.updated", "duplicate": True}
    )
    assert nothing.status_code == 404
    unknown = await http.post(f"{ADMIN}/emit", json={"store": "demo", "topic": "nope"})
    assert unknown.status_code == 422
    receiver.status = 500
    for _ in range(6):
        result = await http.post(f"{ADMIN}/emit", json={"store": "demo", "topic": "order.created"})
        assert result.json()["deliveries"][0]["ok"] is False
    hooks = (await http.get(WEBHOOKS, auth=auth)).json()
    assert hooks[0]["status"] == "disabled"
    after = await http.post(f"{ADMIN}/emit", json={"store": "demo", "topic": "order.created"})
    assert after.json() == {"deliveries": []}
