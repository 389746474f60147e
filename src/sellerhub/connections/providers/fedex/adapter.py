"""FedEx REST APIs (providers.md §6): OAuth client credentials at ``/oauth/token`` with the
organization's API key and secret key; tokens last an hour and have no refresh token."""

from __future__ import annotations

from typing import Any

from sellerhub.config import Settings
from sellerhub.connections.providers.oauth import ClientCredentialsProvider


class FedexProvider(ClientCredentialsProvider):
    name = "fedex"
    title = "FedEx"
    token_path = "/oauth/token"  # noqa: S105 - a path

    def hosts(self, settings: Settings) -> tuple[str, str]:
        return settings.fedex_api_base, settings.fedex_sandbox_api_base

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {**super().auth_headers(access_token, details), "X-locale": "en_US"}
