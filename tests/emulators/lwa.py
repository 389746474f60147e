"""Helpers that drive the LWA emulator like a browser and a client application would."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from sellerhub_emulators.amazon import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

AUTHORIZE = "/amazon/ap/oa"
TOKEN = "/amazon/auth/o2/token"
PROFILE = "/amazon/user/profile"
ADMIN = "/amazon/_admin"
REDIRECT_URI = "https://app.example/callback"


def auth_params(**overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": DEFAULT_CLIENT_ID,
        "scope": "profile",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "state": "st-123",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query_of(response: httpx.Response) -> dict[str, str]:
    """Query parameters of a redirect's Location (single values)."""
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def decide(
    http: httpx.AsyncClient, decision: str = "approve", **overrides: str | None
) -> httpx.Response:
    """Submit the consent form as the page would (hidden fields + identity + decision)."""
    form = auth_params(**overrides)
    form["decision"] = decision
    return await http.post(AUTHORIZE, data=form)


async def get_code(http: httpx.AsyncClient, **overrides: str | None) -> str:
    response = await decide(http, "approve", **overrides)
    assert response.status_code == 302, response.text
    return query_of(response)["code"]


def basic(client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def exchange(
    http: httpx.AsyncClient, code_value: str, **overrides: str | None
) -> httpx.Response:
    """The code exchange with the client secret in the body; ``name=None`` drops a field."""
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": code_value,
        "redirect_uri": REDIRECT_URI,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    form.update(overrides)
    return await http.post(TOKEN, data={k: v for k, v in form.items() if v is not None})


async def tokens(http: httpx.AsyncClient, **overrides: str | None) -> dict[str, Any]:
    """A full consent + code exchange; the token response body."""
    code = await get_code(http, **overrides)
    response = await exchange(http, code)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(
    http: httpx.AsyncClient, refresh_token: str, **overrides: str | None
) -> httpx.Response:
    form: dict[str, str | None] = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    form.update(overrides)
    return await http.post(TOKEN, data={k: v for k, v in form.items() if v is not None})


async def profile(http: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await http.get(PROFILE, headers={"Authorization": f"Bearer {access_token}"})


async def configure(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{ADMIN}/config", json=body)
