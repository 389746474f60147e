"""Manual credentials (seed paths): validated by shape and a live call (for a WooCommerce store
over plain http, signed with OAuth 1.0a), stored encrypted, isolated per organization, audited;
the SSRF guard on store URLs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sellerhub.core.ssrf import UnsafeUrl, check_url, normalize_store_url
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.jobs_helpers import run_worker

KEY, SECRET = "ck_" + "a" * 40, "cs_" + "b" * 40


def _self_authorized_refresh_token(live_server: str) -> str:
    """A refresh token from an SP-API authorization at the emulated Seller Central, as a
    seller's self-authorization of a private app would give."""
    browser = Browser(live_server)
    try:
        redirect = "https://tool.example/api/auth/amazon/callback"
        page = browser.get(
            "/_emulators/amazon/apps/authorize/consent"
            f"?application_id=amzn1.sp.solution.sellerhub-emulator&state=s1&redirect_uri={redirect}"
        )
        back = browser.submit(page, ("decision", "approve"), follow=False)
        code = parse_qs(urlsplit(back.headers["location"]).query)["spapi_oauth_code"][0]
        token = httpx.post(
            live_server + "/_emulators/amazon/auth/o2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect,
                "client_id": "amzn1.application-oa2-client.sellerhub-emulator",
                "client_secret": "sellerhub-emulator-secret",
            },
        ).json()
        return str(token["refresh_token"])
    finally:
        browser.close()


def test_amazon_manual_credentials_lifecycle(seller: Browser, live_server: str) -> None:
    url = live_server + "/integrations/amazon/credentials"
    body = {
        "selling_partner_id": "A3EMULATORSELLER1",
        "refresh_token": _self_authorized_refresh_token(live_server),
        "region": "na",
    }
    created = seller.client.post(url, json=body, headers=seller.csrf())
    assert created.status_code == 201, created.text
    assert created.json()["provider"] == "amazon_spapi"
    assert "Atzr" not in created.text
    again = seller.client.post(url, json=body, headers=seller.csrf())
    assert again.status_code == 409
    replaced = seller.client.put(url, json=body, headers=seller.csrf())
    assert replaced.status_code == 200
    status = seller.client.get(live_server + "/integrations/credentials/status").json()
    assert (
        status["amazon"]["configured"] and status["amazon"]["connections"][0]["source"] == "manual"
    )
    assert status["woocommerce"]["configured"] is False
    bad = seller.client.put(
        url, json={**body, "refresh_token": "Atzr|not-a-real-token-xx"}, headers=seller.csrf()
    )
    assert bad.status_code == 422 and bad.json()["code"] == "credentials-rejected"
    assert seller.client.delete(url, headers=seller.csrf()).status_code == 204
    assert seller.client.delete(url, headers=seller.csrf()).status_code == 404
    actions = {
        e["action"] for e in seller.client.get(live_server + "/api/v1/audit-events").json()["items"]
    }
    assert {"CHANNEL_CONNECTED", "CREDENTIALS_SAVED", "CHANNEL_DISCONNECTED"} <= actions


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("consumer_key", "ck_short"),
        ("consumer_secret", "not-a-secret"),
        ("store_url", "ftp://shop.example"),
    ],
)
def test_woocommerce_shapes_are_checked(
    seller: Browser, live_server: str, field: str, value: str
) -> None:
    body = {"store_url": "https://shop.example", "consumer_key": KEY, "consumer_secret": SECRET}
    response = seller.client.post(
        live_server + "/integrations/woocommerce/credentials",
        json={**body, field: value},
        headers=seller.csrf(),
    )
    assert response.status_code == 422, response.text


def test_woocommerce_store_over_plain_http_is_checked_with_oauth1(
    seller: Browser, live_server: str
) -> None:
    """A development store over plain http: WooCommerce (and its emulator) ignores Basic there,
    so the key check and the proxied calls are signed with OAuth 1.0a."""
    store = f"{live_server}/_emulators/woocommerce/stores/manual-http"
    keys = httpx.post(
        f"{live_server}/_emulators/woocommerce/_admin/keys",
        json={"store": "manual-http", "permissions": "read"},
        timeout=15,
    ).json()
    ck, cs = keys["consumer_key"], keys["consumer_secret"]
    basic = httpx.get(f"{store}/wp-json/wc/v3/system_status", auth=(ck, cs), timeout=15)
    assert basic.status_code == 401 and basic.json()["code"] == "woocommerce_rest_cannot_view"
    url = live_server + "/integrations/woocommerce/credentials"
    body = {"store_url": store, "consumer_key": ck, "consumer_secret": cs}
    created = seller.client.post(url, json=body, headers=seller.csrf())
    assert created.status_code == 201, created.text
    assert created.json()["provider"] == "woocommerce"
    assert cs not in created.text
    proxied = seller.client.get(
        f"{live_server}/api/v1/connections/{created.json()['id']}/proxy/orders",
        params={"per_page": "3", "orderby": "id", "order": "asc"},
    )
    assert proxied.status_code == 200, proxied.text
    assert [order["id"] for order in proxied.json()] == [1, 2, 3]
    assert proxied.headers["x-wp-total"] == "25"
    wrong = seller.client.put(
        url, json={**body, "consumer_secret": "cs_" + "0" * 40}, headers=seller.csrf()
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "credentials-rejected"


def test_unreachable_store_is_not_a_500(seller: Browser, live_server: str) -> None:
    response = seller.client.post(
        live_server + "/integrations/woocommerce/credentials",
        json={"store_url": "http://127.0.0.1:9", "consumer_key": KEY, "consumer_secret": SECRET},
        headers=seller.csrf(),
    )
    assert response.status_code == 502 and response.json()["code"] == "provider-unavailable"


def test_member_cannot_save_credentials(live_server: str, runtime: Runtime) -> None:
    anonymous = httpx.post(
        live_server + "/integrations/amazon/credentials",
        json={"selling_partner_id": "A3EMULATORSELLER1", "refresh_token": "Atzr|xxxxxxxxxxxx"},
    )
    assert anonymous.status_code == 401


async def test_ssrf_guard() -> None:
    assert normalize_store_url("Shop.Example.com/store/") == "https://shop.example.com/store"
    with pytest.raises(UnsafeUrl):
        normalize_store_url("https://user:pw@shop.example")
    with pytest.raises(UnsafeUrl, match="https"):
        await check_url("http://shop.example", allow_local=False)
    for private in (
        "https://127.0.0.1",
        "https://10.1.2.3",
        "https://169.254.169.254",
        "https://[::1]",
        "https://localhost",
    ):
        with pytest.raises(UnsafeUrl):
            await check_url(private, allow_local=False)
    await check_url("http://127.0.0.1:8000", allow_local=True)  # development: the emulators


async def test_manual_woocommerce_keys_get_webhooks_whose_deliveries_are_processed(
    seller: Browser, live_server: str
) -> None:
    """Manually entered keys get their own webhook secret and the store's order webhooks, as
    the key grant does: the store's signed delivery is accepted, and the worker makes an order
    of it."""
    store = f"{live_server}/_emulators/woocommerce/stores/manual-hooks"
    control = httpx.AsyncClient(base_url=f"{live_server}/_emulators/woocommerce", timeout=15)
    keys = (
        await control.post(
            "/_admin/keys", json={"store": "manual-hooks", "permissions": "read_write"}
        )
    ).json()
    body = {
        "store_url": store,
        "consumer_key": keys["consumer_key"],
        "consumer_secret": keys["consumer_secret"],
    }
    created = seller.client.post(
        live_server + "/integrations/woocommerce/credentials", json=body, headers=seller.csrf()
    )
    assert created.status_code == 201, created.text
    connection = created.json()
    assert connection["status"] == "connected", connection["status_reason"]
    hooks = seller.client.get(
        f"{live_server}/api/v1/connections/{connection['id']}/proxy/webhooks"
    ).json()
    address = f"{live_server}/webhooks/woocommerce/{connection['id']}"
    assert {(h["topic"], h["delivery_url"]) for h in hooks} >= {
        ("order.created", address),
        ("order.updated", address),
    }
    emitted = (
        await control.post("/_admin/emit", json={"store": "manual-hooks", "topic": "order.created"})
    ).json()
    await control.aclose()
    assert emitted["deliveries"], emitted
    assert all(d["ok"] and d["status"] == 200 for d in emitted["deliveries"]), emitted
    # Replacing the keys keeps one set of webhooks (the store's are reused, not duplicated).
    replaced = seller.client.put(
        live_server + "/integrations/woocommerce/credentials", json=body, headers=seller.csrf()
    )
    assert replaced.status_code == 200, replaced.text
    await run_worker()
    events = seller.client.get(
        live_server + "/api/v1/webhook-events", params={"source": "woocommerce"}
    ).json()["items"]
    assert events and {e["status"] for e in events} == {"processed"}, events
    orders = seller.client.get(live_server + "/api/v1/orders").json()
    assert orders["items"] and orders["items"][0]["channel"] == "woocommerce", orders
