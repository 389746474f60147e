"""The provider plugin interface. Every provider (Amazon SP-API, Amazon Ads, Shopify,
WooCommerce, FedEx, DHL) implements ``Provider``; its quirks stay inside its package. Only the
methods of the provider's grant type are called: client-credentials providers fetch tokens with
the organization's own client id/secret; authorization-code providers refresh with a refresh
token (consent flows plug into the Amazon callback and, later, their own callbacks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx

from sellerhub.config import Settings


class Grant(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    AUTHORIZATION_CODE = "authorization_code"
    API_KEYS = "api_keys"  # long-lived keys, nothing to refresh (WooCommerce)


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_at: datetime | None
    refresh_token: str | None = None  # a rotated refresh token when the provider returns one
    scopes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClientSecrets:
    client_id: str
    client_secret: str
    environment: str
    refresh_token: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # e.g. the authorization's region


class RefreshFailed(Exception):
    """The provider refused or failed. ``permanent`` means the grant is gone (``invalid_grant``,
    revoked credentials): the connection needs the seller; otherwise retry with backoff."""

    def __init__(self, reason: str, *, permanent: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.status = status


class Provider(Protocol):
    name: str
    grant: Grant
    title: str

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        """Base URL of the provider's API for this environment (a setting)."""

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        """A new access token (client credentials), or a refreshed one (refresh token)."""

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        """Headers that authenticate an API call as this connection."""

    def token_rejected(self, response: httpx.Response) -> bool:
        """Whether an API answer means the access token was refused (refresh once, retry)."""

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        """Auth that must see the whole request (e.g. an OAuth 1.0a signature over method, URL
        and query), applied after ``auth_headers``; None for header-only providers."""
