"""Shopify (providers.md §4): authorization-code grant at the shop, expiring offline tokens with
rotating refresh tokens, Admin REST calls with ``X-Shopify-Access-Token``, and the query-string
HMAC of install/callback requests."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, RefreshFailed, TokenGrant
from sellerhub.connections.providers.oauth import token_request

SHOP_RE = re.compile(
    r"^[a-zA-Z0-9][a-zA-Z0-9-_]*\.(myshopify\.com|shopify\.com|myshopify\.io|shop\.dev)$"
)


def valid_shop(shop: str) -> bool:
    return bool(SHOP_RE.match(shop))


def query_hmac(params: Iterable[tuple[str, str]], secret: str) -> str:
    """Hex HMAC-SHA256 over the sorted ``k=v`` pairs joined with ``&``, ``hmac`` and
    ``signature`` removed (providers.md §4.1)."""
    pairs = sorted((k, v) for k, v in params if k not in ("hmac", "signature"))
    message = "&".join(f"{k}={v}" for k, v in pairs)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_query_hmac(params: Iterable[tuple[str, str]], secret: str, given: str) -> bool:
    return hmac.compare_digest(query_hmac(params, secret).encode(), given.encode())


class ShopifyProvider:
    name = "shopify"
    grant = Grant.AUTHORIZATION_CODE
    title = "Shopify"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        shop = str((details or {}).get("shop", ""))
        return f"{settings.shopify_shop_url(shop)}/admin/api/{settings.shopify_api_version}"

    async def exchange_code(
        self, http: httpx.AsyncClient, settings: Settings, shop: str, code: str
    ) -> TokenGrant:
        return await self._token(
            http,
            settings,
            shop,
            {
                "client_id": settings.shopify_client_id,
                "client_secret": settings.shopify_client_secret.get_secret_value(),
                "code": code,
                "expiring": "1",
            },
        )

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        if not secrets.refresh_token:
            raise RefreshFailed(
                "the shop's token does not expire or cannot be refreshed; reconnect", permanent=True
            )
        return await self._token(
            http,
            settings,
            str(secrets.details.get("shop", "")),
            {
                "client_id": settings.shopify_client_id,
                "client_secret": settings.shopify_client_secret.get_secret_value(),
                "grant_type": "refresh_token",
                "refresh_token": secrets.refresh_token,
            },
        )

    async def _token(
        self, http: httpx.AsyncClient, settings: Settings, shop: str, form: dict[str, str]
    ) -> TokenGrant:
        return await token_request(
            http,
            settings.shopify_shop_url(shop) + "/admin/oauth/access_token",
            form,
            title="Shopify",
        )

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {"X-Shopify-Access-Token": access_token}

    def token_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        return None
