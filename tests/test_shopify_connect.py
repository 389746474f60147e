"""Shopify OAuth over HTTP through the live server and the Shopify emulator: install →
consent → callback (query HMAC, state, shop, timestamp) → connection with an expiring token and
webhook subscriptions; tampered, stale, replayed and wrong-shop callbacks are refused."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import text

from sellerhub.runtime import Runtime
from tests.browser import Browser

SHOP = "acme-store.myshopify.com"
SECRET = "shopify-emulator-secret"


def _consent_callback(seller: Browser, shop: str = SHOP) -> str:
    page = seller.get(f"/api/v1/auth/shopify/install?shop={shop}&next=/shop-connected")
    assert page.status_code == 200, page.text
    back = seller.submit(page, ("decision", "approve"), follow=False)
    assert back.status_code == 302
    location = back.headers["location"]
    assert urlsplit(location).path == "/api/v1/auth/shopify/callback"
    return location


def _resign(url: str, **changes: str) -> str:
    """The callback URL with some parameters changed and a correct HMAC (Shopify's algorithm,
    computed here independently)."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    params.update(changes)
    params.pop("hmac", None)
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    params["hmac"] = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(params)}"


def test_install_journey(seller: Browser, live_server: str) -> None:
    callback = _consent_callback(seller)
    landed = seller.get(callback, follow=False)
    assert landed.status_code == 302, landed.text
    assert landed.headers["location"] == "/shop-connected"
    connections = seller.client.get(live_server + "/api/v1/connections").json()
    (shop,) = [c for c in connections if c["provider"] == "shopify"]
    assert shop["external_account_id"] == SHOP and shop["status"] == "connected"
    assert shop["access_expires_at"] is not None  # an expiring offline token
    hooks = httpx.get(f"{live_server}/_emulators/shopify/_admin/stats", timeout=5).json()
    assert hooks["requests"]["webhooks"] >= 3


@pytest.mark.parametrize(
    "shop", ["evil.example.com", "acme.myshopify.com.evil.io", "-x.myshopify.com", ""]
)
def test_invalid_shop_is_a_400_naming_the_problem(
    seller: Browser, live_server: str, shop: str
) -> None:
    response = seller.client.get(
        live_server + "/api/v1/auth/shopify/install", params={"shop": shop}
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid-shop"
    assert "location" not in response.headers


def test_tampered_hmac_is_refused(seller: Browser) -> None:
    callback = _consent_callback(seller)
    tampered = callback.replace("code=", "code=x")
    response = seller.client.get(tampered, headers={"Accept": "application/json"})
    assert response.status_code == 401 and response.json()["code"] == "shopify-callback-rejected"


def test_stale_timestamp_is_refused(seller: Browser) -> None:
    callback = _consent_callback(seller)
    stale = _resign(callback, timestamp=str(int(time.time()) - 3600))
    response = seller.client.get(stale, headers={"Accept": "application/json"})
    assert response.status_code == 401 and "timestamp" in response.json()["detail"]


def test_wrong_shop_is_refused(seller: Browser) -> None:
    callback = _consent_callback(seller)
    other = _resign(callback, shop="other-store.myshopify.com")
    response = seller.client.get(other, headers={"Accept": "application/json"})
    assert response.status_code == 401 and "another shop" in response.json()["detail"]


def test_replayed_state_is_refused(seller: Browser) -> None:
    callback = _consent_callback(seller)
    assert seller.get(callback, follow=False).status_code == 302
    replay = seller.client.get(callback, headers={"Accept": "application/json"})
    assert replay.status_code == 400 and replay.json()["code"] == "state-replayed"


def test_failed_callbacks_send_a_browser_to_the_connections_page(seller: Browser) -> None:
    """Browsers (Accept: text/html) go back to /connections with a fixed code, never the
    error's text; API clients keep problem+json."""
    callback = _consent_callback(seller)
    tampered = seller.get(callback.replace("code=", "code=x"), follow=False)
    assert tampered.status_code == 303
    assert tampered.headers["location"] == "/connections?failed=shopify-rejected"
    assert seller.get(callback, follow=False).status_code == 302
    replayed = seller.get(callback, follow=False)
    assert replayed.headers["location"] == "/connections?failed=state-replayed"
    page = seller.get(f"/api/v1/auth/shopify/install?shop={SHOP}")
    denied = seller.submit(page, ("decision", "deny"), follow=False)
    back = denied.headers["location"]
    assert "error=access_denied" in back and "hmac=" not in back
    browser = seller.get(back, follow=False)
    assert browser.headers["location"] == "/connections?failed=shopify-denied"
    api = seller.client.get(back, headers={"Accept": "application/json"})
    assert api.status_code == 400 and api.json()["code"] == "shopify-consent-denied"


async def test_expiring_token_is_refreshed_and_rotated_through_the_engine(
    seller: Browser, live_server: str, runtime: Runtime
) -> None:
    """The expiring offline token: when the shop refuses it, the proxy refreshes once with the
    rotating refresh token, stores both new tokens (encrypted) and retries."""
    shop = "refresh-store.myshopify.com"
    landed = seller.get(_consent_callback(seller, shop), follow=False)
    assert landed.status_code == 302, landed.text
    (connection,) = [
        c
        for c in seller.client.get(live_server + "/api/v1/connections").json()
        if c["external_account_id"] == shop
    ]
    before = await _ciphertexts(runtime, connection["id"])
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as http:
        expired = await http.post("/_emulators/shopify/_admin/expire")
        assert expired.status_code == 200
        stats = (await http.get("/_emulators/shopify/_admin/stats")).json()["requests"]
    proxied = seller.client.get(
        f"{live_server}/api/v1/connections/{connection['id']}/proxy/orders.json",
        params={"status": "any", "limit": "5"},
    )
    assert proxied.status_code == 200, proxied.text
    assert len(proxied.json()["orders"]) == 5
    assert "x-shopify-shop-api-call-limit" in proxied.headers
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as http:
        after_stats = (await http.get("/_emulators/shopify/_admin/stats")).json()["requests"]
    assert after_stats["token"] == stats["token"] + 1  # exactly one refresh
    after = await _ciphertexts(runtime, connection["id"])
    assert after[0] != before[0] and after[1] != before[1]  # access and refresh both rotated
    audit = seller.client.get(live_server + "/api/v1/audit-events").json()
    assert any(e["action"] == "TOKEN_REFRESHED" for e in audit["items"]), audit


async def _ciphertexts(runtime: Runtime, connection_id: str) -> tuple[str, str]:
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT access_token, refresh_token FROM connections WHERE id = :id"),
                {"id": connection_id},
            )
        ).one()
    assert row[0].startswith("v1.") and row[1].startswith("v1.")
    return str(row[0]), str(row[1])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # The examples of Shopify's OAuth verification documentation (secret "hush").
        (
            "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com"
            "&timestamp=1337178173",
            "4712bf92ffc2917d15a2f5a273e39f0116667419aa4b6ac0b3baaf26fa3c4d20",
        ),
        (
            "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com"
            "&state=0.6784241404160823&timestamp=1337178173",
            "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
        ),
    ],
)
def test_query_hmac_matches_shopifys_published_examples(query: str, expected: str) -> None:
    from urllib.parse import parse_qsl

    from sellerhub.connections.providers.shopify.adapter import query_hmac, verify_query_hmac

    params = parse_qsl(f"{query}&hmac={expected}")
    assert query_hmac(params, "hush") == expected
    assert verify_query_hmac(params, "hush", expected)
    assert not verify_query_hmac(params, "hush!", expected)
    shuffled = list(reversed(params))  # order on the wire does not matter: pairs are sorted
    assert verify_query_hmac(shuffled, "hush", expected)
