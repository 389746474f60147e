"""DHL eCommerce Americas (providers.md §7): OAuth client credentials at
``/auth/v4/accesstoken``; tokens last 60 minutes. Other DHL families (Parcel DE ROPC, Express
MyDHL Basic auth, Unified Tracking API keys) are not supported yet; see docs/connections.md."""

from __future__ import annotations

from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, TokenGrant
from sellerhub.connections.providers.oauth import token_request


class DhlProvider:
    name = "dhl"
    grant = Grant.CLIENT_CREDENTIALS
    title = "DHL eCommerce"

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        if environment == "sandbox":
            return settings.dhl_sandbox_api_base
        return settings.dhl_api_base

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        return await token_request(
            http,
            self.api_base(settings, secrets.environment) + "/auth/v4/accesstoken",
            {
                "grant_type": "client_credentials",
                "client_id": secrets.client_id,
                "client_secret": secrets.client_secret,
            },
            title=self.title,
        )

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token}"}

    def token_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401
