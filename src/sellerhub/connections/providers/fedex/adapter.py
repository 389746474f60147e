"""FedEx REST APIs (providers.md §6): OAuth client credentials at ``/oauth/token`` with the
organization's API key and secret key; tokens last an hour and have no refresh token."""

from __future__ import annotations

from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, TokenGrant
from sellerhub.connections.providers.oauth import token_request


class FedexProvider:
    name = "fedex"
    grant = Grant.CLIENT_CREDENTIALS
    title = "FedEx"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        if environment == "sandbox":
            return settings.fedex_sandbox_api_base
        return settings.fedex_api_base

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        return await token_request(
            http,
            self.api_base(settings, secrets.environment) + "/oauth/token",
            {
                "grant_type": "client_credentials",
                "client_id": secrets.client_id,
                "client_secret": secrets.client_secret,
            },
            title=self.title,
        )

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token}", "X-locale": "en_US"}

    def token_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401
