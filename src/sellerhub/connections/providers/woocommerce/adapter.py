"""WooCommerce REST API v3 (providers.md §5.2): consumer key and secret sent as HTTP Basic over
https; nothing to refresh. The stored "access token" is the Basic credential itself
(encrypted like every secret)."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, RefreshFailed, TokenGrant


def basic_credential(consumer_key: str, consumer_secret: str) -> str:
    return base64.b64encode(f"{consumer_key}:{consumer_secret}".encode()).decode("ascii")


class WooCommerceProvider:
    name = "woocommerce"
    grant = Grant.API_KEYS
    title = "WooCommerce"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        return str((details or {}).get("store_url", "")).rstrip("/") + "/wp-json/wc/v3"

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        if not secrets.client_id or not secrets.client_secret:
            raise RefreshFailed("no WooCommerce keys are stored", permanent=True)
        return TokenGrant(basic_credential(secrets.client_id, secrets.client_secret), None)

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Basic {access_token}"}

    def token_rejected(self, response: httpx.Response) -> bool:
        return False  # keys do not expire; a 401 means they were revoked in the store

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        return None
