"""``/user/profile``: token carriers, scopes and token errors (providers.md §2)."""

from __future__ import annotations

import httpx
import pytest

from sellerhub_emulators.amazon import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_EMAIL,
    DEFAULT_NAME,
    DEFAULT_POSTAL_CODE,
    DEFAULT_USER_ID,
)

from .lwa import AUTHORIZE, PROFILE, TOKEN, auth_params, exchange, profile, query_of, tokens

INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The request has an invalid parameter : access_token",
}


@pytest.mark.parametrize("carrier", ["bearer", "x-amz-access-token", "query"])
async def test_profile_accepts_all_three_token_carriers(
    http: httpx.AsyncClient, carrier: str
) -> None:
    token = (await tokens(http))["access_token"]
    if carrier == "bearer":
        response = await http.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    elif carrier == "x-amz-access-token":
        response = await http.get(PROFILE, headers={"x-amz-access-token": token})
    else:
        response = await http.get(PROFILE, params={"access_token": token})

    assert response.status_code == 200
    assert response.json() == {
        "user_id": DEFAULT_USER_ID,
        "name": DEFAULT_NAME,
        "email": DEFAULT_EMAIL,
    }


@pytest.mark.parametrize(
    ("scope", "fields"),
    [
        ("profile", {"user_id", "name", "email"}),
        ("profile:user_id", {"user_id"}),
        ("profile postal_code", {"user_id", "name", "email", "postal_code"}),
        ("profile:user_id postal_code", {"user_id", "postal_code"}),
    ],
)
async def test_profile_fields_follow_the_granted_scope(
    http: httpx.AsyncClient, scope: str, fields: set[str]
) -> None:
    token = (await tokens(http, scope=scope))["access_token"]

    body = (await profile(http, token)).json()

    assert set(body) == fields
    assert body["user_id"] == DEFAULT_USER_ID
    if "postal_code" in fields:
        assert body["postal_code"] == DEFAULT_POSTAL_CODE


async def test_profile_returns_the_identity_typed_on_the_consent_page(
    http: httpx.AsyncClient,
) -> None:
    form = {
        **auth_params(scope="profile postal_code"),
        "decision": "approve",
        "user_id": "amzn1.account.SELLER2",
        "name": "Second Seller",
        "email": "two@example.com",
        "postal_code": "10115",
    }
    code = query_of(await http.post(AUTHORIZE, data=form))["code"]
    token = (await exchange(http, code)).json()["access_token"]

    assert (await profile(http, token)).json() == {
        "user_id": "amzn1.account.SELLER2",
        "name": "Second Seller",
        "email": "two@example.com",
        "postal_code": "10115",
    }


async def test_unknown_token_is_401_invalid_token(http: httpx.AsyncClient) -> None:
    response = await profile(http, "Atza|forged")

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_refresh_token_is_not_an_access_token(http: httpx.AsyncClient) -> None:
    issued = await tokens(http)

    assert (await profile(http, issued["refresh_token"])).status_code == 401


async def test_missing_token_is_invalid_request(http: httpx.AsyncClient) -> None:
    response = await http.get(PROFILE)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The request is missing a required parameter : access_token",
    }


async def test_grantless_token_has_no_profile(http: httpx.AsyncClient) -> None:
    grantless = await http.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "scope": "sellingpartnerapi::notifications",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )

    response = await profile(http, grantless.json()["access_token"])

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
