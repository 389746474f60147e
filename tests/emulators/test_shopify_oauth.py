"""Shopify emulator: authorization-code grant (providers.md §4.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import httpx

from sellerhub_emulators.shopify import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, query_hmac

from .conftest import FakeClock
from .test_shopify_helpers import (
    ADMIN,
    OTHER_SHOP,
    REDIRECT,
    SHOP,
    approve,
    auth,
    base,
    exchange,
    install,
    orders_url,
    query,
)


async def test_consent_page_has_exactly_two_decision_buttons(http: httpx.AsyncClient) -> None:
    response = await http.get(
        f"{base()}/admin/oauth/authorize",
        params={
            "client_id": DEFAULT_CLIENT_ID,
            "scope": "read_orders,write_products",
            "redirect_uri": REDIRECT,
            "state": "s1",
            "grant_options[]": "",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    buttons = re.findall(r'<button type="submit" name="decision" value="(\w+)"', response.text)
    assert buttons == ["approve", "deny"]
    assert 'action="authorize"' in response.text
    assert "read_orders" in response.text


async def test_approve_redirects_with_a_correct_query_hmac(http: httpx.AsyncClient) -> None:
    params = await approve(http, state="abc-123")
    assert set(params) == {"code", "hmac", "host", "shop", "state", "timestamp"}
    assert params["shop"] == SHOP
    assert params["state"] == "abc-123"
    assert params["timestamp"].isdigit()
    padded = params["host"] + "=" * (-len(params["host"]) % 4)
    assert base64.b64decode(padded).decode() == f"{SHOP}/admin"
    # Independent test vector: the sorted k=v string keyed with the client secret, hex.
    message = (
        f"code={params['code']}&host={params['host']}&shop={params['shop']}"
        f"&state={params['state']}&timestamp={params['timestamp']}"
    )
    expected = hmac.new(DEFAULT_CLIENT_SECRET.encode(), message.encode(), hashlib.sha256)
    assert params["hmac"] == expected.hexdigest()


def test_query_hmac_known_vector() -> None:
    params = {
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "hmac": "ignored",
        "shop": "some-shop.myshopify.com",
        "state": "0.6784241404160823",
        "timestamp": "1337178173",
    }
    message = (
        "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com"
        "&state=0.6784241404160823&timestamp=1337178173"
    )
    expected = hmac.new(b"hush", message.encode(), hashlib.sha256).hexdigest()
    assert query_hmac(params, "hush") == expected


async def test_deny_redirects_with_access_denied(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{base()}/admin/oauth/authorize",
        data={
            "client_id": DEFAULT_CLIENT_ID,
            "scope": "read_orders",
            "redirect_uri": REDIRECT,
            "state": "s2",
            "decision": "deny",
        },
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    assert query(location) == {"error": "access_denied", "shop": SHOP, "state": "s2"}


async def test_authorize_errors(http: httpx.AsyncClient) -> None:
    good = {"client_id": DEFAULT_CLIENT_ID, "scope": "read_orders", "redirect_uri": REDIRECT}
    url = f"{base()}/admin/oauth/authorize"
    unknown = await http.get(url, params={**good, "client_id": "nope"})
    assert unknown.status_code == 400
    assert "Oauth error invalid_request" in unknown.text
    bad_scope = await http.get(url, params={**good, "scope": "read_orders,drop tables"})
    assert bad_scope.status_code == 400
    assert "invalid_scope" in bad_scope.text
    no_redirect = await http.get(url, params={**good, "redirect_uri": "not a url"})
    assert no_redirect.status_code == 400
    bad_shop = await http.get("/shopify/localhost/admin/oauth/authorize", params=good)
    assert bad_shop.status_code == 404
    no_decision = await http.post(url, data=good)
    assert no_decision.status_code == 400


async def test_offline_token_exchange_json_and_single_use_code(
    http: httpx.AsyncClient,
) -> None:
    params = await approve(http, scope="read_orders,write_products")
    response = await exchange(http, params["code"])
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "scope"}
    assert body["access_token"].startswith("shpat_")
    assert body["scope"] == "read_orders,write_products"
    assert response.headers["cache-control"] == "no-store"
    again = await exchange(http, params["code"])
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_request",
        "error_description": "The authorization code was not found or was already used",
    }
    orders = await http.get(orders_url(), headers=auth(body["access_token"]))
    assert orders.status_code == 200


async def test_form_encoded_exchange(http: httpx.AsyncClient) -> None:
    params = await approve(http)
    response = await http.post(
        f"{base()}/admin/oauth/access_token",
        data={
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "code": params["code"],
        },
    )
    assert response.status_code == 200
    assert response.json()["access_token"].startswith("shpat_")


async def test_exchange_errors(http: httpx.AsyncClient, clock: FakeClock) -> None:
    params = await approve(http)
    wrong_secret = await exchange(http, params["code"], client_secret="nope")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    other_shop = await exchange(http, params["code"], shop=OTHER_SHOP)
    assert other_shop.status_code == 400
    missing = await http.post(
        f"{base()}/admin/oauth/access_token", json={"client_id": DEFAULT_CLIENT_ID}
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    late = await approve(http)
    clock.advance(601)
    expired = await exchange(http, late["code"])
    assert expired.status_code == 400
    grant = await http.post(
        f"{base()}/admin/oauth/access_token",
        json={
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "grant_type": "password",
        },
    )
    assert grant.json()["error"] == "unsupported_grant_type"


async def refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post(
        f"{base()}/admin/oauth/access_token",
        json={
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
            "grant_type": "refresh_token",
            "refresh_token": token,
        },
    )


async def test_expiring_offline_token_and_refresh(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    body = await install(http, expiring=True)
    assert set(body) == {
        "access_token",
        "scope",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
    }
    assert body["expires_in"] == 3600
    assert body["refresh_token_expires_in"] > 3600
    clock.advance(3600)
    expired = await http.get(orders_url(), headers=auth(body["access_token"]))
    assert expired.status_code == 401
    refreshed = await refresh(http, body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"]
    assert new["scope"] == "read_orders"
    ok = await http.get(orders_url(), headers=auth(new["access_token"]))
    assert ok.status_code == 200


async def test_refresh_rotation_previous_valid_until_new_one_used(
    http: httpx.AsyncClient,
) -> None:
    first = (await install(http, expiring=True))["refresh_token"]
    second = (await refresh(http, first)).json()["refresh_token"]
    # The response carrying ``second`` may have been lost: ``first`` still works ...
    third = (await refresh(http, first)).json()["refresh_token"]
    # ... and then ``second``, never used, is gone.
    assert (await refresh(http, second)).json()["error"] == "invalid_grant"
    fourth_response = await refresh(http, third)
    assert fourth_response.status_code == 200
    # Using ``third`` retired ``first``.
    stale = await refresh(http, first)
    assert stale.status_code == 400
    assert stale.json()["error"] == "invalid_grant"


async def test_access_token_ttl_config_and_online_tokens(http: httpx.AsyncClient) -> None:
    await http.post(f"{ADMIN}/config", json={"access_token_ttl": 120})
    body = await install(http, expiring=True)
    assert body["expires_in"] == 120
    params = await approve(http, per_user=True)
    online = (await exchange(http, params["code"])).json()
    assert online["access_token"].startswith("shpua_")
    assert online["expires_in"] == 120
    assert online["associated_user_scope"] == "read_orders"
    assert online["associated_user"]["account_owner"] is True


async def test_extra_client_via_config(http: httpx.AsyncClient) -> None:
    config = await http.post(f"{ADMIN}/config", json={"clients": {"app-2": "secret-2"}})
    assert config.status_code == 200
    assert "app-2" in config.json()["clients"]
    params = await approve(http, client_id="app-2")
    message = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "hmac")
    expected = hmac.new(b"secret-2", message.encode(), hashlib.sha256).hexdigest()
    assert params["hmac"] == expected
    body = (
        await exchange(http, params["code"], client_id="app-2", client_secret="secret-2")
    ).json()
    assert body["access_token"].startswith("shpat_")
    bad = await http.post(f"{ADMIN}/config", json={"clients": {"": "x"}})
    assert bad.status_code == 422
