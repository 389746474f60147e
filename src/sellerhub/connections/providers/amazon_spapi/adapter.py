"""Amazon Selling Partner API (providers.md §1): website authorization at Seller Central, LWA
code exchange and refresh at the token URL, calls with ``x-amz-access-token`` to the regional
endpoint. Refresh tokens are long-lived and echoed on refresh (kept if one is returned)."""

from __future__ import annotations

from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, RefreshFailed, TokenGrant
from sellerhub.connections.providers.oauth import token_request

REGIONS = ("na", "eu", "fe")


class AmazonSpApiProvider:
    name = "amazon_spapi"
    grant = Grant.AUTHORIZATION_CODE
    title = "Amazon Selling Partner API"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        """The regional endpoint of the seller's authorization (``details["region"]``)."""
        return settings.spapi_endpoint(str((details or {}).get("region", "na")), environment)

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        if not secrets.refresh_token:
            raise RefreshFailed("no refresh token is stored; authorize again", permanent=True)
        return await token_request(
            http,
            settings.lwa_token,
            {
                "grant_type": "refresh_token",
                "refresh_token": secrets.refresh_token,
                "client_id": secrets.client_id or settings.spapi_client_id,
                "client_secret": secrets.client_secret
                or settings.spapi_client_secret.get_secret_value(),
            },
            title="Login with Amazon",
        )

    async def exchange_code(
        self, http: httpx.AsyncClient, settings: Settings, code: str, redirect_uri: str
    ) -> TokenGrant:
        return await token_request(
            http,
            settings.lwa_token,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": settings.spapi_client_id,
                "client_secret": settings.spapi_client_secret.get_secret_value(),
            },
            title="Login with Amazon",
        )

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {
            "x-amz-access-token": access_token,
            "user-agent": "sellerhub/0.1 (Language=Python/3.11; Platform=Linux)",
        }

    def token_rejected(self, response: httpx.Response) -> bool:
        """SP-API answers an expired or revoked access token with 403 ``Unauthorized``
        ("The access token you provided has expired"), not only 401."""
        if response.status_code == 401:
            return True
        if response.status_code != 403:
            return False
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            return False
        return any(
            isinstance(e, dict)
            and e.get("code") == "Unauthorized"
            and "token" in str(e.get("details", "")).lower()
            for e in errors
        )

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        return None
