"""Amazon Ads: the LWA authorization with ``advertising::campaign_management`` and
``GET /v2/profiles`` (providers.md §3)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sellerhub_emulators.amazon import (
    DEFAULT_ADS_PROFILE_IDS,
    DEFAULT_CLIENT_ID,
    DEFAULT_NAME,
    DEFAULT_SELLING_PARTNER_ID,
)

from .conftest import FakeClock
from .lwa import ADMIN, AUTHORIZE, auth_params, configure, refresh, tokens

PROFILES = "/amazon/v2/profiles"
ADS_SCOPE = "advertising::campaign_management"
PROFILE_KEYS = [
    "profileId",
    "countryCode",
    "currencyCode",
    "dailyBudget",
    "timezone",
    "accountInfo",
]


async def ads_tokens(http: httpx.AsyncClient, scope: str = ADS_SCOPE) -> dict[str, Any]:
    return await tokens(http, scope=scope)


def ads_headers(token: str | None, client_id: str | None = DEFAULT_CLIENT_ID) -> dict[str, str]:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if client_id is not None:
        headers["Amazon-Advertising-API-ClientId"] = client_id
    return headers


def assert_ads_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "details", "requestId"}
    assert body["code"] == str(status)
    details: str = body["details"]
    return details


async def test_the_lwa_consent_accepts_the_ads_scope(http: httpx.AsyncClient) -> None:
    page = await http.get(AUTHORIZE, params=auth_params(scope=ADS_SCOPE))

    assert page.status_code == 200
    assert f"<code>{ADS_SCOPE}</code>" in page.text


async def test_profiles_of_an_ads_authorization(http: httpx.AsyncClient) -> None:
    issued = await ads_tokens(http)

    response = await http.get(PROFILES, headers=ads_headers(issued["access_token"]))

    assert response.status_code == 200
    profiles = response.json()
    assert [p["profileId"] for p in profiles] == list(DEFAULT_ADS_PROFILE_IDS.values())
    assert [p["countryCode"] for p in profiles] == ["US", "CA", "MX"]
    assert [p["currencyCode"] for p in profiles] == ["USD", "CAD", "MXN"]
    assert list(profiles[0]) == PROFILE_KEYS
    assert profiles[0]["timezone"] == "America/Los_Angeles"
    assert isinstance(profiles[0]["profileId"], int)
    assert profiles[0]["accountInfo"] == {
        "marketplaceStringId": "ATVPDKIKX0DER",
        "id": DEFAULT_SELLING_PARTNER_ID,
        "type": "seller",
        "name": DEFAULT_NAME,
        "validPaymentMethod": True,
    }


async def test_the_legacy_ads_scope_works_too(http: httpx.AsyncClient) -> None:
    issued = await ads_tokens(http, scope="cpc_advertising:campaign_management profile")

    response = await http.get(PROFILES, headers=ads_headers(issued["access_token"]))

    assert response.status_code == 200


async def test_client_id_header_is_required(http: httpx.AsyncClient) -> None:
    issued = await ads_tokens(http)

    response = await http.get(PROFILES, headers=ads_headers(issued["access_token"], None))

    assert "Amazon-Advertising-API-ClientId" in assert_ads_error(response, 400)


async def test_client_id_must_be_the_tokens_client(http: httpx.AsyncClient) -> None:
    issued = await ads_tokens(http)

    response = await http.get(
        PROFILES, headers=ads_headers(issued["access_token"], "amzn1.application-oa2-client.x")
    )

    assert_ads_error(response, 401)


@pytest.mark.parametrize("authorization", [None, "Atza|raw-without-bearer", "Bearer Atza|nope"])
async def test_missing_or_unknown_token_is_401(
    http: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = ads_headers(None)
    if authorization is not None:
        headers["Authorization"] = authorization

    response = await http.get(PROFILES, headers=headers)

    assert assert_ads_error(response, 401) == "Authentication failed"


async def test_a_token_without_the_ads_scope_is_401(http: httpx.AsyncClient) -> None:
    issued = await tokens(http, scope="profile")

    response = await http.get(PROFILES, headers=ads_headers(issued["access_token"]))

    assert ADS_SCOPE in assert_ads_error(response, 401)


async def test_expired_and_revoked_tokens_are_401(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issued = await ads_tokens(http)
    clock.advance(3600)
    expired = await http.get(PROFILES, headers=ads_headers(issued["access_token"]))
    renewed = (await refresh(http, issued["refresh_token"])).json()["access_token"]
    assert (await http.get(PROFILES, headers=ads_headers(renewed))).status_code == 200

    await http.post(f"{ADMIN}/revoke")
    revoked = await http.get(PROFILES, headers=ads_headers(renewed))

    assert_ads_error(expired, 401)
    assert_ads_error(revoked, 401)


async def test_scope_header_is_optional_but_must_be_a_profile_id(
    http: httpx.AsyncClient,
) -> None:
    token = (await ads_tokens(http))["access_token"]

    numeric = await http.get(
        PROFILES, headers={**ads_headers(token), "Amazon-Advertising-API-Scope": "123"}
    )
    text = await http.get(
        PROFILES, headers={**ads_headers(token), "Amazon-Advertising-API-Scope": "abc"}
    )

    assert numeric.status_code == 200
    assert_ads_error(text, 400)


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"profileTypeFilter": "seller"}, 3),
        ({"profileTypeFilter": "vendor,agency"}, 0),
        ({"validPaymentMethodFilter": "true"}, 3),
        ({"validPaymentMethodFilter": "false"}, 0),
        ({"apiProgram": "campaign", "accessLevel": "edit"}, 3),
    ],
)
async def test_filters(http: httpx.AsyncClient, params: dict[str, str], count: int) -> None:
    token = (await ads_tokens(http))["access_token"]

    response = await http.get(PROFILES, params=params, headers=ads_headers(token))

    assert response.status_code == 200
    assert len(response.json()) == count


@pytest.mark.parametrize(
    "params", [{"profileTypeFilter": "robot"}, {"validPaymentMethodFilter": "maybe"}]
)
async def test_bad_filters_are_400(http: httpx.AsyncClient, params: dict[str, str]) -> None:
    token = (await ads_tokens(http))["access_token"]

    response = await http.get(PROFILES, params=params, headers=ads_headers(token))

    assert_ads_error(response, 400)


async def test_admin_config_replaces_the_profiles(http: httpx.AsyncClient) -> None:
    vendor = {
        "profileId": 42,
        "countryCode": "DE",
        "currencyCode": "EUR",
        "timezone": "Europe/Paris",
        "accountInfo": {
            "marketplaceStringId": "A1PA6795UKMFR9",
            "id": "ENTITY1VENDOR",
            "type": "vendor",
            "name": "Vendor GmbH",
        },
    }
    response = await configure(http, {"ads_profiles": [vendor]})
    assert response.json()["ads_profiles"] == [42]
    token = (await ads_tokens(http))["access_token"]

    configured = (await http.get(PROFILES, headers=ads_headers(token))).json()
    await configure(http, {"ads_profiles": None})
    restored = (await http.get(PROFILES, headers=ads_headers(token))).json()

    assert configured == [vendor]  # no dailyBudget / validPaymentMethod when not given
    assert len(restored) == 3


@pytest.mark.parametrize(
    "profiles",
    [
        [{"profileId": 1}],
        [{"profileId": "1", "countryCode": "US", "currencyCode": "USD", "timezone": "x"}],
        [
            {
                "profileId": 1,
                "countryCode": "US",
                "currencyCode": "USD",
                "timezone": "America/Los_Angeles",
                "accountInfo": {"marketplaceStringId": "x", "id": "y", "type": "bot", "name": "z"},
            }
        ],
    ],
)
async def test_ads_profiles_config_is_validated(
    http: httpx.AsyncClient, profiles: list[dict[str, Any]]
) -> None:
    assert (await configure(http, {"ads_profiles": profiles})).status_code == 422


async def test_rate_limit_and_faults_use_the_ads_shape(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await ads_tokens(http))["access_token"]
    await configure(http, {"rate_limit": {"endpoint": "ads_profiles", "per_second": 1, "burst": 1}})

    allowed = await http.get(PROFILES, headers=ads_headers(token))
    throttled = await http.get(PROFILES, headers=ads_headers(token))
    clock.advance(1)
    await configure(http, {"fail": {"endpoint": "ads_profiles", "status": 500}})
    failed = await http.get(PROFILES, headers=ads_headers(token))

    assert allowed.status_code == 200
    assert_ads_error(throttled, 429)
    assert throttled.headers["retry-after"] == "1"
    assert_ads_error(failed, 500)


async def test_stats_count_ads_profile_calls(http: httpx.AsyncClient) -> None:
    token = (await ads_tokens(http))["access_token"]
    await http.get(PROFILES, headers=ads_headers(token))
    await http.get(PROFILES)

    assert (await http.get(f"{ADMIN}/stats")).json()["requests"]["ads_profiles"] == 2
