"""Amazon Advertising API (providers.md §3): LWA consent with ``advertising::campaign_management``
at the regional authorization URL, code exchange and refresh at the regional token URL,
``GET /v2/profiles``; calls carry ``Authorization: Bearer``, ``Amazon-Advertising-API-ClientId``
and ``Amazon-Advertising-API-Scope`` (a profile id)."""

from __future__ import annotations

from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, RefreshFailed, TokenGrant
from sellerhub.connections.providers.oauth import token_request

SCOPE = "advertising::campaign_management"


class AmazonAdsProvider:
    name = "amazon_ads"
    grant = Grant.AUTHORIZATION_CODE
    title = "Amazon Ads"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        return settings.ads_region_url("api", str((details or {}).get("region", "na")))

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        if not secrets.refresh_token:
            raise RefreshFailed("no refresh token is stored; authorize again", permanent=True)
        region = str(secrets.details.get("region", "na"))
        return await token_request(
            http,
            settings.ads_region_url("token", region),
            {
                "grant_type": "refresh_token",
                "refresh_token": secrets.refresh_token,
                "client_id": settings.ads_client_id,
                "client_secret": settings.ads_client_secret.get_secret_value(),
            },
            title="Amazon Ads sign-in",
        )

    async def exchange_code(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        *,
        region: str,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
    ) -> TokenGrant:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": settings.ads_client_id,
            "client_secret": settings.ads_client_secret.get_secret_value(),
        }
        if code_verifier:
            form["code_verifier"] = code_verifier
        return await token_request(
            http, settings.ads_region_url("token", region), form, title="Amazon Ads sign-in"
        )

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Amazon-Advertising-API-ClientId": str(details.get("client_id", "")),
        }
        if details.get("default_profile_id"):
            headers["Amazon-Advertising-API-Scope"] = str(details["default_profile_id"])
        return headers

    def token_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        return None
