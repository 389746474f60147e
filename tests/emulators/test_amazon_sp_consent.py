"""Seller Central website authorization (``/apps/authorize/consent``, providers.md §1.1) and the
exchange of its ``spapi_oauth_code`` at the LWA token endpoint (§1.2)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from sellerhub_emulators.amazon import (
    DEFAULT_APPLICATION_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_MARKETPLACE_IDS,
    DEFAULT_SELLING_PARTNER_ID,
)

from .conftest import FakeClock
from .lwa import ADMIN, PROFILE, TOKEN, configure, query_of, refresh

CONSENT = "/amazon/apps/authorize/consent"
PARTICIPATIONS = "/amazon/sellers/v1/marketplaceParticipations"
CALLBACK = "http://localhost:8000/api/auth/amazon/callback"
INVALID_CODE = "The request has an invalid grant parameter : code"


def consent_params(**overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "application_id": DEFAULT_APPLICATION_ID,
        "state": "sp-state-1",
        "redirect_uri": CALLBACK,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


async def decide_consent(
    http: httpx.AsyncClient, decision: str = "approve", **fields: str | None
) -> httpx.Response:
    """Submit the consent form as the page would: hidden fields, test fields, the decision."""
    form = consent_params(**fields)
    form["decision"] = decision
    return await http.post(CONSENT, data=form)


async def authorize(http: httpx.AsyncClient, **fields: str | None) -> dict[str, str]:
    """Approve the consent; the query of the redirect back to the application."""
    response = await decide_consent(http, "approve", **fields)
    assert response.status_code == 302, response.text
    return query_of(response)


async def exchange_code(
    http: httpx.AsyncClient, spapi_oauth_code: str, **overrides: str | None
) -> httpx.Response:
    """``grant_type=authorization_code`` with the default client; ``name=None`` drops a field."""
    form: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": spapi_oauth_code,
        "redirect_uri": CALLBACK,
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    form.update(overrides)
    return await http.post(TOKEN, data={k: v for k, v in form.items() if v is not None})


async def seller_tokens(http: httpx.AsyncClient, **fields: str | None) -> dict[str, Any]:
    """Consent + code exchange: the token response of a selling-partner authorization."""
    code = (await authorize(http, **fields))["spapi_oauth_code"]
    response = await exchange_code(http, code)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_consent_error(response: httpx.Response, code: str | None) -> None:
    assert response.status_code == 400, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    if code is not None:
        assert f"Error code: <strong>{code}</strong>" in response.text


# -- the page ------------------------------------------------------------------------------------


async def test_consent_page_is_a_form_with_two_buttons_and_test_fields(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(CONSENT, params=consent_params(version="beta"))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    page = response.text
    assert re.findall(r'<button type="submit" name="decision" value="(\w+)"', page) == [
        "approve",
        "deny",
    ]
    assert '<form method="post" action="consent">' in page
    for name, value in consent_params(version="beta").items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    assert f'name="selling_partner_id" value="{DEFAULT_SELLING_PARTNER_ID}"' in page
    assert f'name="marketplace_ids" value="{",".join(DEFAULT_MARKETPLACE_IDS)}"' in page


async def test_consent_page_escapes_what_it_echoes(http: httpx.AsyncClient) -> None:
    response = await http.get(CONSENT, params=consent_params(state='"><script>x</script>'))

    assert response.status_code == 200
    assert "<script>x</script>" not in response.text


# -- approve and deny ----------------------------------------------------------------------------


async def test_approve_redirects_with_state_selling_partner_and_code(
    http: httpx.AsyncClient,
) -> None:
    response = await decide_consent(http, "approve")

    assert response.status_code == 302
    assert response.headers["location"].startswith(CALLBACK + "?state=sp-state-1&")
    query = query_of(response)
    assert set(query) == {"state", "selling_partner_id", "spapi_oauth_code"}
    assert query["state"] == "sp-state-1"
    assert query["selling_partner_id"] == DEFAULT_SELLING_PARTNER_ID
    assert len(query["spapi_oauth_code"]) >= 20


async def test_the_test_fields_choose_the_selling_partner(http: httpx.AsyncClient) -> None:
    query = await authorize(http, selling_partner_id="A1OTHERSELLER", marketplace_ids="")

    assert query["selling_partner_id"] == "A1OTHERSELLER"


async def test_any_host_is_accepted_for_the_sellerhub_callback_path(
    http: httpx.AsyncClient,
) -> None:
    uri = "https://sellerhub.example.org/api/auth/amazon/callback?tenant=7"

    response = await decide_consent(http, "approve", redirect_uri=uri)

    assert response.status_code == 302
    assert response.headers["location"].startswith(uri + "&state=")


async def test_deny_redirects_with_access_denied(http: httpx.AsyncClient) -> None:
    response = await decide_consent(http, "deny")

    assert response.status_code == 302
    assert response.headers["location"].startswith(CALLBACK + "?")
    query = query_of(response)
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == "sp-state-1"
    assert "spapi_oauth_code" not in query
    assert "selling_partner_id" not in query


async def test_state_is_left_out_when_none_was_sent(http: httpx.AsyncClient) -> None:
    assert "state" not in await authorize(http, state=None)


# -- Seller Central's errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://localhost:8000/api/auth/amazon/other",
        "http://localhost:8000/api/auth/amazon/callback/extra",
        "ftp://localhost/api/auth/amazon/callback",
        "/api/auth/amazon/callback",
    ],
)
async def test_unregistered_redirect_uri_is_md5101(
    http: httpx.AsyncClient, redirect_uri: str
) -> None:
    page = await http.get(CONSENT, params=consent_params(redirect_uri=redirect_uri))
    form = await decide_consent(http, "approve", redirect_uri=redirect_uri)

    assert_consent_error(page, "MD5101")
    assert_consent_error(form, "MD5101")


async def test_redirect_uri_with_a_fragment_is_md5110(http: httpx.AsyncClient) -> None:
    response = await http.get(CONSENT, params=consent_params(redirect_uri=CALLBACK + "#x"))

    assert_consent_error(response, "MD5110")


async def test_registered_redirect_uris_are_matched_exactly(http: httpx.AsyncClient) -> None:
    registered = ["https://app.example/one", "https://app.example/two"]
    response = await configure(
        http, {"spapi_apps": {DEFAULT_APPLICATION_ID: {"redirect_uris": registered}}}
    )
    assert response.json()["spapi_apps"][DEFAULT_APPLICATION_ID]["redirect_uris"] == registered

    second = await decide_consent(http, "approve", redirect_uri=registered[1])
    default = await decide_consent(http, "approve", redirect_uri=None)
    callback = await http.get(CONSENT, params=consent_params())

    assert second.headers["location"].startswith(registered[1] + "?")
    assert default.headers["location"].startswith(registered[0] + "?")  # the first one
    assert_consent_error(callback, "MD5101")


async def test_no_redirect_uri_and_none_registered_is_md5101(http: httpx.AsyncClient) -> None:
    response = await http.get(CONSENT, params=consent_params(redirect_uri=None))

    assert_consent_error(response, "MD5101")


async def test_draft_application_needs_version_beta(http: httpx.AsyncClient) -> None:
    draft_id = "amzn1.sp.solution.draft-app"
    await configure(http, {"spapi_apps": {draft_id: {"draft": True}}})

    missing = await http.get(CONSENT, params=consent_params(application_id=draft_id))
    wrong = await http.get(CONSENT, params=consent_params(application_id=draft_id, version="1"))
    form = await decide_consent(http, "approve", application_id=draft_id)
    beta = await http.get(CONSENT, params=consent_params(application_id=draft_id, version="beta"))
    approved = await decide_consent(http, "approve", application_id=draft_id, version="beta")

    assert_consent_error(missing, "MD1000")
    assert_consent_error(wrong, "MD1000")
    assert_consent_error(form, "MD1000")
    assert beta.status_code == 200
    assert "Draft" in beta.text
    assert approved.status_code == 302


async def test_a_published_application_ignores_version_beta(http: httpx.AsyncClient) -> None:
    response = await decide_consent(http, "approve", version="beta")

    assert response.status_code == 302


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"application_id": None}, "missing a required parameter : application_id"),
        ({"application_id": "amzn1.sp.solution.unknown"}, "Unknown application_id"),
    ],
)
async def test_unknown_or_missing_application_shows_a_page(
    http: httpx.AsyncClient, overrides: dict[str, str | None], message: str
) -> None:
    response = await http.get(CONSENT, params=consent_params(**overrides))

    assert_consent_error(response, None)
    assert message in response.text


@pytest.mark.parametrize(
    "fields",
    [
        {"decision": "maybe"},
        {"selling_partner_id": "not a seller id!"},
        {"marketplace_ids": "ATVPDKIKX0DER,NOTAMARKETPLACE"},
        {"marketplace_ids": "ATVPDKIKX0DER,A1PA6795UKMFR9"},  # NA + EU: one region only
        {"state": "x" * 3000},
    ],
)
async def test_the_form_is_validated_again(http: httpx.AsyncClient, fields: dict[str, str]) -> None:
    form = {**consent_params(), "decision": "approve", **fields}

    response = await http.post(CONSENT, data=form)

    assert_consent_error(response, None)


async def test_a_removed_application_can_no_longer_be_authorized(http: httpx.AsyncClient) -> None:
    await configure(http, {"spapi_apps": {DEFAULT_APPLICATION_ID: None}})

    response = await http.get(CONSENT, params=consent_params())

    assert_consent_error(response, None)
    assert (await http.get(f"{ADMIN}/config")).json()["spapi_apps"] == {}


@pytest.mark.parametrize(
    "apps",
    [
        {DEFAULT_APPLICATION_ID: {"redirect_uris": ["/relative"]}},
        {DEFAULT_APPLICATION_ID: {"redirect_uris": ["https://a.example/cb#frag"]}},
        {DEFAULT_APPLICATION_ID: {"redirect_uris": []}},
        {DEFAULT_APPLICATION_ID: {"draft": "yes"}},
        {DEFAULT_APPLICATION_ID: {"unknown": 1}},
        {"": {"draft": False}},
    ],
)
async def test_spapi_apps_config_is_validated(
    http: httpx.AsyncClient, apps: dict[str, Any]
) -> None:
    before = (await http.get(f"{ADMIN}/config")).json()

    response = await configure(http, {"spapi_apps": apps})

    assert response.status_code == 422
    assert (await http.get(f"{ADMIN}/config")).json() == before


# -- the code exchange (providers.md §1.2) -------------------------------------------------------


async def test_spapi_oauth_code_exchanges_like_an_lwa_code(http: httpx.AsyncClient) -> None:
    code = (await authorize(http))["spapi_oauth_code"]

    response = await exchange_code(http, code)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "refresh_token"]
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"].startswith("Atzr|")
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    participations = await http.get(
        PARTICIPATIONS, headers={"x-amz-access-token": body["access_token"]}
    )
    assert participations.status_code == 200


async def test_refresh_echoes_the_refresh_token_and_keeps_the_seller(
    http: httpx.AsyncClient,
) -> None:
    issued = await seller_tokens(http, selling_partner_id="A2REFRESHSELLER")

    refreshed = await refresh(http, issued["refresh_token"])

    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["refresh_token"] == issued["refresh_token"]
    assert body["access_token"] != issued["access_token"]
    response = await http.get(PARTICIPATIONS, headers={"x-amz-access-token": body["access_token"]})
    assert response.status_code == 200


async def test_spapi_oauth_code_is_single_use(http: httpx.AsyncClient) -> None:
    code = (await authorize(http))["spapi_oauth_code"]
    assert (await exchange_code(http, code)).status_code == 200

    reused = await exchange_code(http, code)

    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant", "error_description": INVALID_CODE}


async def test_spapi_oauth_code_expires_after_five_minutes(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    fresh = (await authorize(http))["spapi_oauth_code"]
    stale = (await authorize(http))["spapi_oauth_code"]
    clock.advance(299)
    assert (await exchange_code(http, fresh)).status_code == 200
    clock.advance(1)

    response = await exchange_code(http, stale)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"redirect_uri": "http://localhost:9999/api/auth/amazon/callback"}, 400, "invalid_grant"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": None}, 401, "invalid_client"),
        ({"code": None}, 400, "invalid_request"),
    ],
)
async def test_code_exchange_errors(
    http: httpx.AsyncClient, overrides: dict[str, str | None], status: int, error: str
) -> None:
    code = (await authorize(http))["spapi_oauth_code"]

    response = await exchange_code(http, code, **overrides)

    assert response.status_code == status
    assert response.json()["error"] == error


REGISTERED = ["https://app.example/one", "https://app.example/two"]


async def registered_redirect_uris(http: httpx.AsyncClient) -> None:
    """The default application with registered OAuth Redirect URIs, so a consent may omit one."""
    response = await configure(
        http, {"spapi_apps": {DEFAULT_APPLICATION_ID: {"redirect_uris": REGISTERED}}}
    )
    assert response.status_code == 200, response.text


async def test_a_consent_without_redirect_uri_keeps_none_in_its_form(
    http: httpx.AsyncClient,
) -> None:
    await registered_redirect_uris(http)

    page = await http.get(CONSENT, params=consent_params(redirect_uri=None))

    assert page.status_code == 200, page.text
    assert 'name="redirect_uri"' not in page.text  # the approval stays one without redirect_uri


async def test_code_of_a_consent_without_redirect_uri_is_exchanged_without_one(
    http: httpx.AsyncClient,
) -> None:
    """RFC 6749 §4.1.3: redirect_uri is required only if the authorization request carried one,
    as Amazon's SP-API example exchanges the spapi_oauth_code."""
    await registered_redirect_uris(http)
    code = (await authorize(http, redirect_uri=None))["spapi_oauth_code"]

    response = await exchange_code(http, code, redirect_uri=None)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"].startswith("Atza|")
    assert body["refresh_token"].startswith("Atzr|")
    assert (await refresh(http, body["refresh_token"])).status_code == 200


async def test_code_of_a_consent_without_redirect_uri_may_name_the_uri_it_went_to(
    http: httpx.AsyncClient,
) -> None:
    await registered_redirect_uris(http)
    code = (await authorize(http, redirect_uri=None))["spapi_oauth_code"]

    response = await exchange_code(http, code, redirect_uri=REGISTERED[0])

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "redirect_uri", [REGISTERED[1], "https://app.example/other", CALLBACK, "https://app.example"]
)
async def test_code_of_a_consent_without_redirect_uri_refuses_a_wrong_one(
    http: httpx.AsyncClient, redirect_uri: str
) -> None:
    await registered_redirect_uris(http)
    code = (await authorize(http, redirect_uri=None))["spapi_oauth_code"]

    response = await exchange_code(http, code, redirect_uri=redirect_uri)

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "The request has an invalid grant parameter : redirect_uri",
    }


async def test_code_of_a_consent_with_redirect_uri_needs_it_at_the_exchange(
    http: httpx.AsyncClient,
) -> None:
    await registered_redirect_uris(http)
    code = (await authorize(http, redirect_uri=REGISTERED[0]))["spapi_oauth_code"]

    missing = await exchange_code(http, code, redirect_uri=None)

    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": "The request is missing a required parameter : redirect_uri",
    }
    # Checked after the code is redeemed, like every other grant check: the code is used up.
    assert (await exchange_code(http, code, redirect_uri=REGISTERED[0])).status_code == 400


async def test_code_of_a_consent_with_redirect_uri_is_exchanged_with_it(
    http: httpx.AsyncClient,
) -> None:
    await registered_redirect_uris(http)
    code = (await authorize(http, redirect_uri=REGISTERED[1]))["spapi_oauth_code"]

    response = await exchange_code(http, code, redirect_uri=REGISTERED[1])

    assert response.status_code == 200, response.text


async def test_the_code_belongs_to_the_applications_lwa_client(http: httpx.AsyncClient) -> None:
    app_id = "amzn1.sp.solution.second"
    await configure(
        http,
        {
            "clients": {"amzn1.application-oa2-client.second": "second-secret"},
            "spapi_apps": {app_id: {"client_id": "amzn1.application-oa2-client.second"}},
        },
    )
    first = (await authorize(http, application_id=app_id))["spapi_oauth_code"]
    second = (await authorize(http, application_id=app_id))["spapi_oauth_code"]

    with_default_client = await exchange_code(http, first)
    with_its_client = await exchange_code(
        http,
        second,
        client_id="amzn1.application-oa2-client.second",
        client_secret="second-secret",
    )

    assert with_default_client.json()["error"] == "invalid_grant"
    assert with_its_client.status_code == 200


async def test_an_application_whose_client_is_unknown_cannot_be_authorized(
    http: httpx.AsyncClient,
) -> None:
    await configure(http, {"spapi_apps": {"amzn1.sp.solution.x": {"client_id": "nobody"}}})

    response = await http.get(CONSENT, params=consent_params(application_id="amzn1.sp.solution.x"))

    assert_consent_error(response, None)
    assert "is not registered" in response.text


async def test_seller_tokens_do_not_read_the_lwa_profile(http: httpx.AsyncClient) -> None:
    issued = await seller_tokens(http)

    response = await http.get(
        PROFILE, headers={"Authorization": f"Bearer {issued['access_token']}"}
    )

    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


async def test_revoke_ends_pending_spapi_codes(http: httpx.AsyncClient) -> None:
    code = (await authorize(http))["spapi_oauth_code"]

    await http.post(f"{ADMIN}/revoke")

    assert (await exchange_code(http, code)).json()["error"] == "invalid_grant"
