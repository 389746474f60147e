"""DHL eCommerce Americas (providers.md §7): OAuth client credentials at
``/auth/v4/accesstoken``; tokens last 60 minutes. Other DHL families (Parcel DE ROPC, Express
MyDHL Basic auth, Unified Tracking API keys) are not supported yet; see docs/connections.md."""

from __future__ import annotations

from sellerhub.config import Settings
from sellerhub.connections.providers.oauth import ClientCredentialsProvider


class DhlProvider(ClientCredentialsProvider):
    name = "dhl"
    title = "DHL eCommerce"
    token_path = "/auth/v4/accesstoken"  # noqa: S105 - a path

    def hosts(self, settings: Settings) -> tuple[str, str]:
        return settings.dhl_api_base, settings.dhl_sandbox_api_base
