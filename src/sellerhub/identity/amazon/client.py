"""Login with Amazon over HTTP (providers.md §1.2 and §2): the code exchange at the token URL
and the profile read. Every provider failure becomes a typed error with words a seller
understands; secrets never appear in those words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError, UpstreamUnavailable
from sellerhub.core.logging import get_logger

log = get_logger(__name__)
# The one redirect URI registered at Amazon, shared by Login with Amazon, SP-API and Ads consent
# (the state's purpose says which flow a callback belongs to).
CALLBACK_PATH = "/api/auth/amazon/callback"


class AmazonRejected(DomainError):
    status = 400
    code = "amazon-rejected"
    title = "Amazon did not accept the sign-in"


class AmazonUnavailable(UpstreamUnavailable):
    status = 502
    code = "amazon-unavailable"
    title = "Amazon could not be reached"


@dataclass(frozen=True)
class LwaTokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scope: str


@dataclass(frozen=True)
class AmazonProfile:
    user_id: str
    name: str
    email: str | None


def _error_of(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return f"HTTP {response.status_code}"


async def exchange_code(
    http: httpx.AsyncClient,
    *,
    token_url: str,
    code: str,
    redirect_uri: str,
    client_id: str,
    client_secret: str,
    code_verifier: str | None,
    scope: str,
) -> LwaTokens:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    if code_verifier:
        form["code_verifier"] = code_verifier
    try:
        response = await http.post(
            token_url,
            data=form,
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        log.warning("lwa.token_unreachable", error=type(exc).__name__)
        raise AmazonUnavailable("Amazon's sign-in service did not answer; try again") from None
    if response.status_code >= 500 or response.status_code == 429:
        log.warning("lwa.token_failed", status=response.status_code)
        raise AmazonUnavailable("Amazon's sign-in service is having trouble; try again shortly")
    if response.status_code != 200:
        error = _error_of(response)
        log.info("lwa.token_rejected", status=response.status_code, error=error)
        raise AmazonRejected(f"Amazon refused the sign-in code ({error}); start again")
    try:
        body = response.json()
        access = str(body["access_token"])
        expires_in = int(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise AmazonUnavailable("Amazon answered the sign-in with something unexpected") from None
    refresh = body.get("refresh_token")
    return LwaTokens(
        access_token=access,
        refresh_token=str(refresh) if refresh else None,
        expires_at=utcnow() + timedelta(seconds=expires_in),
        scope=str(body.get("scope", scope)),
    )


async def read_profile(http: httpx.AsyncClient, *, profile_url: str, token: str) -> AmazonProfile:
    try:
        response = await http.get(
            profile_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        log.warning("lwa.profile_unreachable", error=type(exc).__name__)
        raise AmazonUnavailable("Amazon's profile service did not answer; try again") from None
    if response.status_code != 200:
        log.warning("lwa.profile_failed", status=response.status_code)
        raise AmazonUnavailable("Amazon did not share your profile; try again")
    try:
        body = response.json()
        user_id = str(body["user_id"])
    except (ValueError, KeyError, TypeError):
        raise AmazonUnavailable("Amazon answered with an unexpected profile") from None
    if not user_id.startswith("amzn1."):
        raise AmazonUnavailable("Amazon answered with an unexpected user id")
    email = body.get("email")
    return AmazonProfile(
        user_id=user_id,
        name=str(body.get("name") or ""),
        email=str(email) if email else None,
    )
