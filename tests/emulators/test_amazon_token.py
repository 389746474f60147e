"""``/auth/o2/token``: the three grants and their errors (providers.md §1.2, §2)."""

from __future__ import annotations

import httpx
import pytest

from sellerhub_emulators.amazon import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from .conftest import FakeClock
from .lwa import (
    REDIRECT_URI,
    TOKEN,
    basic,
    configure,
    exchange,
    get_code,
    pkce_pair,
    profile,
    refresh,
    tokens,
)

INVALID_CODE = "The request has an invalid grant parameter : code"
INVALID_REFRESH = "The request has an invalid grant parameter : refresh_token"


def assert_no_store(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def assert_error(response: httpx.Response, status: int, error: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body: dict[str, str] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert_no_store(response)
    return body


async def test_code_exchange_with_client_secret(http: httpx.AsyncClient) -> None:
    code = await get_code(http)
    response = await exchange(http, code)

    assert response.status_code == 200
    assert_no_store(response)
    body = response.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token"]
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"].startswith("Atzr|")
    assert len(body["access_token"]) <= 2048
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600


async def test_code_exchange_with_basic_auth(http: httpx.AsyncClient) -> None:
    code = await get_code(http)
    response = await http.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": basic()},
    )

    assert response.status_code == 200
    assert response.json()["refresh_token"].startswith("Atzr|")


async def test_code_exchange_accepts_a_json_body(http: httpx.AsyncClient) -> None:
    code = await get_code(http)
    response = await http.post(
        TOKEN,
        json={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )

    assert response.status_code == 200


@pytest.mark.parametrize("method", ["S256", "plain"])
async def test_pkce_public_client_exchange(http: httpx.AsyncClient, method: str) -> None:
    verifier, challenge = pkce_pair(method)
    code = await get_code(http, code_challenge=challenge, code_challenge_method=method)
    response = await exchange(http, code, client_secret=None, code_verifier=verifier)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"].startswith("Atza|")
    assert "refresh_token" not in body  # no client secret, no refresh token (providers.md §2)
    assert (await profile(http, body["access_token"])).status_code == 200


async def test_pkce_with_a_client_secret_also_gets_a_refresh_token(
    http: httpx.AsyncClient,
) -> None:
    verifier, challenge = pkce_pair()
    code = await get_code(http, code_challenge=challenge, code_challenge_method="S256")
    response = await exchange(http, code, code_verifier=verifier)

    assert response.status_code == 200
    assert "refresh_token" in response.json()


async def test_pkce_bad_verifier_is_invalid_grant(http: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    wrong, _ = pkce_pair()
    code = await get_code(http, code_challenge=challenge, code_challenge_method="S256")

    response = await exchange(http, code, client_secret=None, code_verifier=wrong)

    assert_error(response, 400, "invalid_grant")


async def test_pkce_missing_verifier_is_invalid_grant_even_with_a_secret(
    http: httpx.AsyncClient,
) -> None:
    _, challenge = pkce_pair()
    code = await get_code(http, code_challenge=challenge, code_challenge_method="S256")

    assert_error(await exchange(http, code), 400, "invalid_grant")


async def test_no_secret_and_no_verifier_is_invalid_client(http: httpx.AsyncClient) -> None:
    code = await get_code(http)

    body = assert_error(await exchange(http, code, client_secret=None), 401, "invalid_client")
    assert body["error_description"] == "Client authentication failed"


async def test_a_verifier_without_a_challenge_does_not_replace_the_secret(
    http: httpx.AsyncClient,
) -> None:
    verifier, _ = pkce_pair()
    code = await get_code(http)

    response = await exchange(http, code, client_secret=None, code_verifier=verifier)

    assert_error(response, 400, "invalid_grant")


async def test_code_reuse_is_invalid_grant(http: httpx.AsyncClient) -> None:
    code = await get_code(http)
    assert (await exchange(http, code)).status_code == 200

    body = assert_error(await exchange(http, code), 400, "invalid_grant")
    assert body["error_description"] == INVALID_CODE


async def test_unknown_code_is_invalid_grant(http: httpx.AsyncClient) -> None:
    assert_error(await exchange(http, "ANnotacode"), 400, "invalid_grant")


async def test_code_expires_after_five_minutes(http: httpx.AsyncClient, clock: FakeClock) -> None:
    fresh = await get_code(http)
    stale = await get_code(http)
    clock.advance(299)
    assert (await exchange(http, fresh)).status_code == 200
    clock.advance(1)

    assert_error(await exchange(http, stale), 400, "invalid_grant")


async def test_redirect_uri_mismatch_is_invalid_grant(http: httpx.AsyncClient) -> None:
    code = await get_code(http)

    response = await exchange(http, code, redirect_uri="https://app.example/other")

    body = assert_error(response, 400, "invalid_grant")
    assert "redirect_uri" in body["error_description"]


async def test_code_of_another_client_is_invalid_grant(http: httpx.AsyncClient) -> None:
    assert (await configure(http, {"clients": {"other-client": "other-secret"}})).is_success
    code = await get_code(http)

    response = await exchange(http, code, client_id="other-client", client_secret="other-secret")

    assert_error(response, 400, "invalid_grant")


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [(DEFAULT_CLIENT_ID, "wrong-secret"), ("amzn1.application-oa2-client.unknown", "x")],
)
async def test_wrong_secret_or_unknown_client_is_401_invalid_client(
    http: httpx.AsyncClient, client_id: str, secret: str
) -> None:
    code = await get_code(http)

    response = await exchange(http, code, client_id=client_id, client_secret=secret)

    body = assert_error(response, 401, "invalid_client")
    assert body["error_description"] == "Client authentication failed"


@pytest.mark.parametrize(
    "authorization",
    [basic(secret="wrong"), "Basic not-base64!", basic() + "x", "Basic " + "b25seXVzZXI="],
)
async def test_bad_basic_credentials_are_invalid_client(
    http: httpx.AsyncClient, authorization: str
) -> None:
    code = await get_code(http)
    response = await http.post(
        TOKEN,
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        headers={"Authorization": authorization},
    )

    assert_error(response, 401, "invalid_client")


async def test_basic_and_body_client_ids_must_agree(http: httpx.AsyncClient) -> None:
    code = await get_code(http)
    response = await http.post(
        TOKEN,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": "someone-else",
        },
        headers={"Authorization": basic()},
    )

    assert_error(response, 401, "invalid_client")


@pytest.mark.parametrize("field", ["grant_type", "code", "redirect_uri", "client_id"])
async def test_missing_fields_are_invalid_request(http: httpx.AsyncClient, field: str) -> None:
    code = await get_code(http)

    response = await exchange(http, code, **{field: None})

    body = assert_error(response, 400, "invalid_request")
    assert body["error_description"] == f"The request is missing a required parameter : {field}"


async def test_unsupported_grant_type(http: httpx.AsyncClient) -> None:
    response = await http.post(TOKEN, data={"grant_type": "password", "username": "a"})

    assert_error(response, 400, "unsupported_grant_type")


async def test_unparsable_json_body_is_invalid_request(http: httpx.AsyncClient) -> None:
    response = await http.post(
        TOKEN, content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert_error(response, 400, "invalid_request")


async def test_refresh_echoes_the_refresh_token_and_issues_a_new_access_token(
    http: httpx.AsyncClient,
) -> None:
    first = await tokens(http)

    response = await refresh(http, first["refresh_token"])

    assert response.status_code == 200
    assert_no_store(response)
    body = response.json()
    assert body["refresh_token"] == first["refresh_token"]
    assert body["access_token"].startswith("Atza|")
    assert body["access_token"] != first["access_token"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert (await profile(http, body["access_token"])).status_code == 200
    assert (await profile(http, first["access_token"])).status_code == 200


async def test_refresh_with_basic_auth(http: httpx.AsyncClient) -> None:
    first = await tokens(http)
    response = await http.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        headers={"Authorization": basic()},
    )

    assert response.status_code == 200


@pytest.mark.parametrize("value", ["Atzr|unknown", "access"])
async def test_refresh_with_an_unknown_token_is_invalid_grant(
    http: httpx.AsyncClient, value: str
) -> None:
    issued = await tokens(http)
    token = issued["access_token"] if value == "access" else value

    body = assert_error(await refresh(http, token), 400, "invalid_grant")
    assert body["error_description"].startswith(INVALID_REFRESH)


async def test_refresh_token_of_another_client_is_invalid_grant(http: httpx.AsyncClient) -> None:
    await configure(http, {"clients": {"other-client": "other-secret"}})
    issued = await tokens(http)

    response = await refresh(
        http, issued["refresh_token"], client_id="other-client", client_secret="other-secret"
    )

    assert_error(response, 400, "invalid_grant")


async def test_refresh_needs_the_client_secret(http: httpx.AsyncClient) -> None:
    issued = await tokens(http)

    assert_error(
        await refresh(http, issued["refresh_token"], client_secret=None), 400, "invalid_request"
    )
    assert_error(
        await refresh(http, issued["refresh_token"], client_secret="x"), 401, "invalid_client"
    )


async def test_client_credentials_carries_scope_and_no_refresh_token(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "scope": "sellingpartnerapi::notifications",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )

    assert response.status_code == 200
    assert_no_store(response)
    body = response.json()
    assert body["scope"] == "sellingpartnerapi::notifications"
    assert "refresh_token" not in body
    assert body["access_token"].startswith("Atza|")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"scope": "profile"}, 400, "invalid_scope"),
        ({"scope": None}, 400, "invalid_request"),
        ({"client_secret": None}, 400, "invalid_request"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
    ],
)
async def test_client_credentials_errors(
    http: httpx.AsyncClient, form: dict[str, str | None], status: int, error: str
) -> None:
    data: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "scope": "sellingpartnerapi::migration",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    data.update(form)
    response = await http.post(TOKEN, data={k: v for k, v in data.items() if v is not None})

    assert_error(response, status, error)


async def test_access_token_ttl_sets_expires_in_and_the_real_lifetime(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    assert (await configure(http, {"access_token_ttl": 60})).status_code == 200
    issued = await tokens(http)
    assert issued["expires_in"] == 60

    clock.advance(59)
    assert (await profile(http, issued["access_token"])).status_code == 200
    clock.advance(1)
    assert (await profile(http, issued["access_token"])).status_code == 401
    refreshed = await refresh(http, issued["refresh_token"])
    assert refreshed.json()["expires_in"] == 60
