"""Helpers shared by the Shopify emulator tests (no tests here; the name keeps the file in the
Shopify test set)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from sellerhub_emulators.shopify import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

SHOP = "emu-store.myshopify.com"
OTHER_SHOP = "other-store.myshopify.com"
VERSION = "2025-10"
REDIRECT = "https://app.example/shopify/callback"
ADMIN = "/shopify/_admin"


def base(shop: str = SHOP) -> str:
    return f"/shopify/{shop}"


def orders_url(shop: str = SHOP) -> str:
    return f"{base(shop)}/admin/api/{VERSION}/orders.json"


def webhooks_url(shop: str = SHOP) -> str:
    return f"{base(shop)}/admin/api/{VERSION}/webhooks.json"


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


async def approve(
    http: httpx.AsyncClient,
    *,
    shop: str = SHOP,
    client_id: str = DEFAULT_CLIENT_ID,
    scope: str = "read_orders",
    state: str = "nonce-123",
    per_user: bool = False,
) -> dict[str, str]:
    """Submit the consent form with ``approve``; the callback's query parameters."""
    form = {
        "client_id": client_id,
        "scope": scope,
        "redirect_uri": REDIRECT,
        "state": state,
        "decision": "approve",
    }
    if per_user:
        form["grant_options[]"] = "per-user"
    response = await http.post(f"{base(shop)}/admin/oauth/authorize", data=form)
    assert response.status_code == 302, response.text
    return query(response.headers["location"])


async def exchange(
    http: httpx.AsyncClient,
    code: str,
    *,
    shop: str = SHOP,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    expiring: bool = False,
) -> httpx.Response:
    body = {"client_id": client_id, "client_secret": client_secret, "code": code}
    if expiring:
        body["expiring"] = "1"
    return await http.post(f"{base(shop)}/admin/oauth/access_token", json=body)


async def install(
    http: httpx.AsyncClient,
    *,
    shop: str = SHOP,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    scope: str = "read_orders",
    expiring: bool = False,
) -> dict[str, Any]:
    params = await approve(http, shop=shop, client_id=client_id, scope=scope)
    response = await exchange(
        http,
        params["code"],
        shop=shop,
        client_id=client_id,
        client_secret=client_secret,
        expiring=expiring,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def auth(token: str) -> dict[str, str]:
    return {"X-Shopify-Access-Token": token}
