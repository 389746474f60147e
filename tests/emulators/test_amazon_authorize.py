"""``/ap/oa``: validation, consent page, approve and deny (providers.md §2)."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from sellerhub_emulators.amazon import DEFAULT_EMAIL, DEFAULT_NAME, DEFAULT_USER_ID

from .lwa import AUTHORIZE, REDIRECT_URI, auth_params, decide, pkce_pair, query_of


async def test_consent_page_has_two_buttons_and_carries_every_parameter(
    http: httpx.AsyncClient,
) -> None:
    _, challenge = pkce_pair()
    params = auth_params(
        scope="profile postal_code",
        code_challenge=challenge,
        code_challenge_method="S256",
        scope_data=json.dumps({"profile": {"essential": True}}),
    )
    response = await http.get(AUTHORIZE, params=params)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert re.findall(r'<button type="submit" name="decision" value="(\w+)"', page) == [
        "approve",
        "deny",
    ]
    assert '<form method="post" action="oa">' in page
    for name, value in params.items():
        escaped = value.replace('"', "&quot;")
        assert f'<input type="hidden" name="{name}" value="{escaped}">' in page
    assert f'name="user_id" value="{DEFAULT_USER_ID}"' in page
    assert f'name="name" value="{DEFAULT_NAME}"' in page
    assert f'name="email" value="{DEFAULT_EMAIL}"' in page


async def test_consent_page_escapes_what_it_echoes(http: httpx.AsyncClient) -> None:
    response = await http.get(AUTHORIZE, params=auth_params(state='"><script>x</script>'))

    assert response.status_code == 200
    assert "<script>x</script>" not in response.text
    assert 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in response.text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_id": "amzn1.application-oa2-client.unknown"}, "Unknown client_id"),
        ({"client_id": None}, "missing a required parameter : client_id"),
        ({"redirect_uri": None}, "missing a required parameter : redirect_uri"),
        ({"redirect_uri": "/relative/path"}, "absolute http(s) URL"),
        ({"redirect_uri": "javascript:alert(1)"}, "absolute http(s) URL"),
        ({"redirect_uri": "https://app.example/cb#frag"}, "without a fragment"),
        ({"response_type": "token"}, "Unsupported response_type: token"),
        ({"response_type": None}, "Unsupported response_type"),
    ],
)
async def test_unredirectable_errors_show_a_page_and_never_redirect(
    http: httpx.AsyncClient, overrides: dict[str, str | None], message: str
) -> None:
    response = await http.get(AUTHORIZE, params=auth_params(**overrides))

    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text


@pytest.mark.parametrize("scope", ["profile sellingpartnerapi::notifications", "email", ""])
async def test_unsupported_scope_redirects_back_with_invalid_scope(
    http: httpx.AsyncClient, scope: str
) -> None:
    response = await http.get(AUTHORIZE, params=auth_params(scope=scope))

    assert response.status_code == 302
    assert response.headers["location"].startswith(REDIRECT_URI + "?")
    query = query_of(response)
    assert query["error"] == "invalid_scope"
    assert query["error_description"]
    assert query["state"] == "st-123"


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge_method": "S256"},  # method without challenge
        {"code_challenge": "a" * 43, "code_challenge_method": "S512"},
        {"code_challenge": "too-short"},
        {"scope_data": "not json"},
        {"scope_data": "[1, 2]"},
    ],
)
async def test_bad_pkce_or_scope_data_redirects_with_invalid_request(
    http: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    response = await http.get(AUTHORIZE, params=auth_params(**overrides))

    assert response.status_code == 302
    assert query_of(response)["error"] == "invalid_request"


async def test_approve_redirects_with_code_scope_and_state(http: httpx.AsyncClient) -> None:
    response = await decide(http, "approve", scope="profile postal_code")

    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query = query_of(response)
    assert set(query) == {"code", "scope", "state"}
    assert query["scope"] == "profile postal_code"
    assert query["state"] == "st-123"
    assert len(query["code"]) >= 20


async def test_approve_keeps_the_redirect_uris_own_query(http: httpx.AsyncClient) -> None:
    response = await decide(http, "approve", redirect_uri="https://app.example/cb?tenant=7")

    assert response.headers["location"].startswith("https://app.example/cb?tenant=7&code=")


async def test_codes_are_random(http: httpx.AsyncClient) -> None:
    first = query_of(await decide(http))["code"]
    second = query_of(await decide(http))["code"]
    assert first != second


async def test_deny_redirects_with_access_denied(http: httpx.AsyncClient) -> None:
    response = await decide(http, "deny")

    assert response.status_code == 302
    query = query_of(response)
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == "st-123"
    assert "code" not in query


async def test_state_is_left_out_when_the_client_sent_none(http: httpx.AsyncClient) -> None:
    response = await decide(http, "deny", state=None)

    assert "state" not in query_of(response)


async def test_the_form_is_validated_again(http: httpx.AsyncClient) -> None:
    tampered = await decide(http, "approve", client_id="amzn1.application-oa2-client.evil")
    no_decision = await decide(http, "maybe")
    bad_identity = await http.post(
        AUTHORIZE, data={**auth_params(), "decision": "approve", "name": "x" * 300}
    )

    for response in (tampered, no_decision, bad_identity):
        assert response.status_code == 400
        assert "location" not in response.headers
