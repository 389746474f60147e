"""WooCommerce key grant over HTTP through the live server and the WooCommerce emulator: connect
→ authorize page approve → the store POSTs the keys to our callback → REST check and webhooks
(signed with OAuth 1.0a: the emulated store is plain http) → return; keys for no pending grant
are refused; the webhook the store then signs is accepted."""

from __future__ import annotations

import httpx
import pytest

from sellerhub.runtime import Runtime
from tests.browser import Browser


def test_key_grant_journey(seller: Browser, live_server: str) -> None:
    store = f"{live_server}/_emulators/woocommerce/stores/demo"
    started = seller.client.post(
        live_server + "/api/v1/auth/woocommerce/connect",
        json={"store_url": store},
        headers=seller.csrf(),
    )
    assert started.status_code == 200, started.text
    auth_url = started.json()["auth_url"]
    assert "/wc-auth/v1/authorize" in auth_url and "scope=read_write" in auth_url
    page = seller.get(auth_url)
    assert page.status_code == 200, page.text
    back = seller.submit(page, ("decision", "approve"), follow=False)
    assert back.status_code == 302, back.text
    assert "success=1" in back.headers["location"]
    done = seller.get(back.headers["location"], follow=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/connections?connected=woocommerce"
    (connection,) = [
        c
        for c in seller.client.get(live_server + "/api/v1/connections").json()
        if c["provider"] == "woocommerce"
    ]
    assert connection["status"] == "connected", connection["status_reason"]
    assert connection["has_secret"] is True
    # The store is plain http, where the emulator (like WooCommerce) ignores Basic: the key check
    # and the webhook creation above succeeded signed with OAuth 1.0a, and so do proxied calls.
    keys = httpx.post(
        f"{live_server}/_emulators/woocommerce/_admin/keys", json={"store": "demo"}, timeout=15
    ).json()
    basic = httpx.get(
        f"{store}/wp-json/wc/v3/system_status",
        auth=(keys["consumer_key"], keys["consumer_secret"]),
        timeout=15,
    )
    assert basic.status_code == 401 and basic.json()["code"] == "woocommerce_rest_cannot_view"
    proxied = seller.client.get(
        f"{live_server}/api/v1/connections/{connection['id']}/proxy/webhooks"
    )
    assert proxied.status_code == 200, proxied.text
    assert {hook["topic"] for hook in proxied.json()} >= {"order.created", "order.updated"}
    # The store signs deliveries with the per-connection secret; ours accepts them.
    emitted = httpx.post(
        f"{live_server}/_emulators/woocommerce/_admin/emit",
        json={"store": "demo", "topic": "order.created"},
        timeout=15,
    ).json()
    assert emitted["deliveries"] and all(d["ok"] for d in emitted["deliveries"]), emitted


def test_keys_for_no_pending_grant_are_refused(live_server: str, runtime: Runtime) -> None:
    response = httpx.post(
        live_server + "/api/v1/auth/woocommerce/callback",
        json={
            "key_id": 1,
            "user_id": "not-a-pending-grant-token",
            "consumer_key": "ck_" + "a" * 40,
            "consumer_secret": "cs_" + "b" * 40,
            "key_permissions": "read_write",
        },
    )
    assert response.status_code == 404


def test_denied_grant_ends_on_a_clear_page(seller: Browser, live_server: str) -> None:
    store = f"{live_server}/_emulators/woocommerce/stores/demo"
    auth_url = seller.client.post(
        live_server + "/api/v1/auth/woocommerce/connect",
        json={"store_url": store},
        headers=seller.csrf(),
    ).json()["auth_url"]
    page = seller.get(auth_url)
    back = seller.submit(page, ("decision", "deny"), follow=False)
    assert "success=0" in back.headers["location"]
    result = seller.get(back.headers["location"], follow=False)
    assert result.status_code == 303
    assert result.headers["location"] == "/connections?failed=woocommerce-denied"
    page = seller.get(result.headers["location"])
    assert "the store did not grant access, so WooCommerce was not connected" in page.text
    api = seller.client.get(back.headers["location"], headers={"Accept": "application/json"})
    assert api.status_code == 422 and api.json()["code"] == "validation-failed"


def test_private_store_url_refused_in_production_rules() -> None:
    import asyncio

    from sellerhub.core.ssrf import UnsafeUrl, check_url

    with pytest.raises(UnsafeUrl):
        asyncio.run(check_url("http://127.0.0.1:8000/store", allow_local=False))
