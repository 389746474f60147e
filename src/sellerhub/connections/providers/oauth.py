"""Shared OAuth 2.0 token-endpoint handling (RFC 6749 §4.4/§6): a form POST, the token JSON,
and error classification: 400/401 ``invalid_grant``/``invalid_client``/``unauthorized_client``
are permanent, 429/5xx/timeouts transient."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from sellerhub.config import Settings
from sellerhub.connections.providers.base import ClientSecrets, Grant, RefreshFailed, TokenGrant
from sellerhub.core.clock import utcnow

PERMANENT_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


def _error_code(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), str):
        return str(body["error"])
    errors = body.get("errors")  # FedEx: {"errors": [{"code": ...}]}
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return str(code) if code else None
    return None


async def token_request(
    http: httpx.AsyncClient,
    url: str,
    form: dict[str, str],
    *,
    title: str,
    headers: dict[str, str] | None = None,
) -> TokenGrant:
    try:
        response = await http.post(
            url, data=form, headers={"Accept": "application/json", **(headers or {})}
        )
    except httpx.HTTPError as exc:
        raise RefreshFailed(
            f"{title} did not answer ({type(exc).__name__})", permanent=False
        ) from None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        expires_in = body.get("expires_in")
        expires_at = (
            utcnow() + timedelta(seconds=int(expires_in))
            if isinstance(expires_in, int | float | str) and str(expires_in).isdigit()
            else None
        )
        scope = body.get("scope")
        return TokenGrant(
            access_token=str(body["access_token"]),
            expires_at=expires_at,
            refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
            scopes=str(scope).split() if scope else [],
        )
    code = _error_code(body)
    status = response.status_code
    if status in (400, 401, 403) and (
        code in PERMANENT_ERRORS or code == "NOT.AUTHORIZED.ERROR" or status in (401, 403)
    ):
        raise RefreshFailed(
            f"{title} refused the credentials ({code or status}); reconnect the account",
            permanent=True,
            status=status,
        )
    if status == 429 or status >= 500:
        raise RefreshFailed(
            f"{title} is unavailable or throttling (HTTP {status}); retrying later",
            permanent=False,
            status=status,
        )
    raise RefreshFailed(
        f"{title} rejected the token request ({code or f'HTTP {status}'})",
        permanent=status == 400,
        status=status,
    )


class ClientCredentialsProvider:
    """A carrier-style provider: the organization's own client id/secret exchanged at
    ``{api base}{token_path}`` (RFC 6749 §4.4) for a Bearer token; no refresh token. Subclasses
    name the settings of their hosts and any extra headers."""

    name: str
    title: str
    token_path: str
    grant = Grant.CLIENT_CREDENTIALS

    def hosts(self, settings: Settings) -> tuple[str, str]:
        """(production, sandbox) API base URLs."""
        raise NotImplementedError

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        production, sandbox = self.hosts(settings)
        return sandbox if environment == "sandbox" else production

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        return await token_request(
            http,
            self.api_base(settings, secrets.environment) + self.token_path,
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

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        return None
