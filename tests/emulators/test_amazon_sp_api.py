"""SP-API operations: ``getMarketplaceParticipations`` and ``getInventorySummaries`` (providers.md
§1.3-§1.5), their token failures, paging with ``nextToken``, rate limits and the control surface."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sellerhub_emulators.amazon import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SELLING_PARTNER_ID,
)
from sellerhub_emulators.app import create_emulators_app

from .conftest import FakeClock
from .lwa import ADMIN, TOKEN, configure, refresh, tokens
from .test_amazon_sp_consent import PARTICIPATIONS, seller_tokens

INVENTORY = "/amazon/fba/inventory/v1/summaries"
US, CA, MX, DE, FR = (
    "ATVPDKIKX0DER",
    "A2EUQ1WTGCTBG2",
    "A1AM78C64UM0Y8",
    "A1PA6795UKMFR9",
    "A13V1IB3VIYZZH",
)
DENIED = "Access to requested resource is denied."
SUMMARY_KEYS = {
    "asin",
    "fnSku",
    "sellerSku",
    "condition",
    "lastUpdatedTime",
    "productName",
    "totalQuantity",
    "stores",
}


def inventory_params(marketplace: str = US, **extra: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "granularityType": "Marketplace",
        "granularityId": marketplace,
        "marketplaceIds": marketplace,
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


async def get_inventory(http: httpx.AsyncClient, token: str, **extra: str | None) -> httpx.Response:
    marketplace = extra.pop("marketplace", None) or US
    return await http.get(
        INVENTORY,
        params=inventory_params(marketplace, **extra),
        headers={"x-amz-access-token": token},
    )


async def all_pages(
    http: httpx.AsyncClient, clock: FakeClock, token: str, **extra: str | None
) -> list[dict[str, Any]]:
    """Follow nextToken to the end (one second apart, inside the 2/s usage plan)."""
    summaries: list[dict[str, Any]] = []
    next_token: str | None = None
    while True:
        response = await get_inventory(http, token, nextToken=next_token, **extra)
        assert response.status_code == 200, response.text
        body = response.json()
        summaries.extend(body["payload"]["inventorySummaries"])
        next_token = body.get("pagination", {}).get("nextToken")
        if next_token is None:
            return summaries
        clock.advance(1)


async def access_token(http: httpx.AsyncClient, **fields: str | None) -> str:
    token: str = (await seller_tokens(http, **fields))["access_token"]
    return token


def assert_spapi_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-requestid"]
    body = response.json()
    assert list(body) == ["errors"]
    assert len(body["errors"]) == 1
    error: dict[str, str] = body["errors"][0]
    assert error["code"] == code
    assert error["message"]
    return error


# -- getMarketplaceParticipations ----------------------------------------------------------------


async def test_marketplace_participations_lists_the_authorized_marketplaces(
    http: httpx.AsyncClient,
) -> None:
    token = await access_token(http)

    response = await http.get(PARTICIPATIONS, headers={"x-amz-access-token": token})

    assert response.status_code == 200
    assert response.headers["x-amzn-requestid"]
    assert "x-amzn-ratelimit-limit" not in response.headers  # no default plan in providers.md
    payload = response.json()["payload"]
    assert [p["marketplace"]["id"] for p in payload] == [US, CA, MX]
    assert payload[0] == {
        "marketplace": {
            "id": US,
            "name": "Amazon.com",
            "countryCode": "US",
            "defaultCurrencyCode": "USD",
            "defaultLanguageCode": "en_US",
            "domainName": "www.amazon.com",
        },
        "participation": {"isParticipating": True, "hasSuspendedListings": False},
    }
    assert list(response.json()) == ["payload"]


async def test_participations_follow_the_consent_fields(http: httpx.AsyncClient) -> None:
    token = await access_token(http, selling_partner_id="A9EUSELLER", marketplace_ids=f"{DE} {FR}")

    payload = (await http.get(PARTICIPATIONS, headers={"x-amz-access-token": token})).json()

    assert [
        (p["marketplace"]["id"], p["marketplace"]["countryCode"]) for p in payload["payload"]
    ] == [
        (DE, "DE"),
        (FR, "FR"),
    ]
    assert payload["payload"][0]["marketplace"]["defaultCurrencyCode"] == "EUR"


# -- token failures (403 Unauthorized, the observed details) -------------------------------------


@pytest.mark.parametrize("path", [PARTICIPATIONS, INVENTORY])
async def test_missing_token_is_403(http: httpx.AsyncClient, path: str) -> None:
    issued = await seller_tokens(http)
    bearer_only = {"Authorization": f"Bearer {issued['access_token']}"}  # not how SP-API reads it

    for headers in ({}, bearer_only):
        response = await http.get(path, params=inventory_params(), headers=headers)
        error = assert_spapi_error(response, 403, "Unauthorized")
        assert error == {
            "code": "Unauthorized",
            "message": DENIED,
            "details": "Access token is missing in the request header.",
        }
        assert response.headers["x-amzn-errortype"] == "AccessDeniedException"
        assert "x-amzn-ratelimit-limit" not in response.headers


async def test_unknown_token_is_403(http: httpx.AsyncClient) -> None:
    response = await http.get(PARTICIPATIONS, headers={"x-amz-access-token": "Atza|nope"})

    error = assert_spapi_error(response, 403, "Unauthorized")
    assert error["details"] == "The access token you provided is revoked, malformed or invalid."


async def test_expired_token_is_403_until_refreshed(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issued = await seller_tokens(http)
    headers = {"x-amz-access-token": issued["access_token"]}
    clock.advance(3599)
    assert (await http.get(PARTICIPATIONS, headers=headers)).status_code == 200
    clock.advance(1)

    expired = await http.get(PARTICIPATIONS, headers=headers)

    error = assert_spapi_error(expired, 403, "Unauthorized")
    assert error["details"] == "The access token you provided has expired."
    renewed = (await refresh(http, issued["refresh_token"])).json()["access_token"]
    assert (
        await http.get(PARTICIPATIONS, headers={"x-amz-access-token": renewed})
    ).status_code == 200


async def test_admin_expire_makes_the_api_answer_expired(http: httpx.AsyncClient) -> None:
    token = await access_token(http)
    await http.post(f"{ADMIN}/expire")

    response = await get_inventory(http, token)

    error = assert_spapi_error(response, 403, "Unauthorized")
    assert error["details"] == "The access token you provided has expired."


async def test_admin_revoke_ends_access_and_refresh(http: httpx.AsyncClient) -> None:
    issued = await seller_tokens(http)
    await http.post(f"{ADMIN}/revoke")

    response = await http.get(
        PARTICIPATIONS, headers={"x-amz-access-token": issued["access_token"]}
    )
    refreshed = await refresh(http, issued["refresh_token"])

    error = assert_spapi_error(response, 403, "Unauthorized")
    assert error["details"] == "The access token you provided is revoked, malformed or invalid."
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


async def test_tokens_that_are_not_seller_authorizations_are_denied(
    http: httpx.AsyncClient,
) -> None:
    sign_in = (await tokens(http))["access_token"]  # LWA sign-in (profile scope)
    grantless = (
        await http.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "scope": "sellingpartnerapi::notifications",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        )
    ).json()["access_token"]

    for token in (sign_in, grantless):
        response = await http.get(PARTICIPATIONS, headers={"x-amz-access-token": token})
        error = assert_spapi_error(response, 403, "Unauthorized")
        assert error["details"] == ""


# -- getInventorySummaries -----------------------------------------------------------------------


async def test_inventory_pages_with_next_token(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await access_token(http)

    first = await get_inventory(http, token)

    assert first.status_code == 200
    assert first.headers["x-amzn-ratelimit-limit"] == "2.0"
    assert first.headers["x-amzn-requestid"]
    body = first.json()
    assert set(body) == {"payload", "pagination"}
    assert body["payload"]["granularity"] == {
        "granularityType": "Marketplace",
        "granularityId": US,
    }
    page = body["payload"]["inventorySummaries"]
    assert len(page) == 50
    assert set(page[0]) == SUMMARY_KEYS  # details=false: no inventoryDetails
    assert page[0]["lastUpdatedTime"].endswith("Z")
    clock.advance(1)

    everything = await all_pages(http, clock, token)

    skus = [s["sellerSku"] for s in everything]
    assert 150 <= len(skus) < 400  # hundreds of SKUs per marketplace
    assert skus == sorted(set(skus))
    assert everything[:50] == page


async def test_last_page_has_no_pagination(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await access_token(http)
    next_token = (await get_inventory(http, token)).json()["pagination"]["nextToken"]
    clock.advance(1)

    pages = [(await get_inventory(http, token, nextToken=next_token)).json()]
    while "pagination" in pages[-1]:  # 150-399 items: 3 to 8 pages
        clock.advance(1)
        following = pages[-1]["pagination"]["nextToken"]
        pages.append((await get_inventory(http, token, nextToken=following)).json())

    assert 2 <= len(pages) <= 7
    assert all(len(p["payload"]["inventorySummaries"]) == 50 for p in pages[:-1])
    assert 1 <= len(pages[-1]["payload"]["inventorySummaries"]) <= 50


async def test_details_add_inventory_details_and_totals_add_up(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)

    everything = await all_pages(http, clock, token, details="true")

    for summary in everything:
        assert set(summary) == SUMMARY_KEYS | {"inventoryDetails"}
        d = summary["inventoryDetails"]
        reserved = d["reservedQuantity"]
        researching = d["researchingQuantity"]
        unfulfillable = d["unfulfillableQuantity"]
        assert reserved["totalReservedQuantity"] == sum(
            v for k, v in reserved.items() if k != "totalReservedQuantity"
        )
        assert researching["totalResearchingQuantity"] == sum(
            e["quantity"] for e in researching["researchingQuantityBreakdown"]
        )
        assert unfulfillable["totalUnfulfillableQuantity"] == sum(
            v for k, v in unfulfillable.items() if k != "totalUnfulfillableQuantity"
        )
        assert summary["totalQuantity"] == (
            d["fulfillableQuantity"]
            + d["inboundWorkingQuantity"]
            + d["inboundShippedQuantity"]
            + d["inboundReceivingQuantity"]
            + reserved["totalReservedQuantity"]
            + researching["totalResearchingQuantity"]
            + unfulfillable["totalUnfulfillableQuantity"]
        )


async def test_seeded_inventory_is_deterministic_per_selling_partner(
    emulators_app: FastAPI, clock: FakeClock
) -> None:
    other = create_emulators_app(clock=clock)

    async def listing(app: FastAPI, seller: str) -> list[dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            token = await access_token(http, selling_partner_id=seller)
            summaries = await all_pages(http, clock, token, details="true")
        return [{k: v for k, v in s.items() if k != "lastUpdatedTime"} for s in summaries]

    one = await listing(emulators_app, DEFAULT_SELLING_PARTNER_ID)
    again = await listing(other, DEFAULT_SELLING_PARTNER_ID)
    someone_else = await listing(other, "A7ANOTHERSELLER")

    assert one == again
    assert one != someone_else


async def test_next_token_expires_after_30_seconds(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)
    next_token = (await get_inventory(http, token)).json()["pagination"]["nextToken"]
    clock.advance(29)
    assert (await get_inventory(http, token, nextToken=next_token)).status_code == 200
    clock.advance(1)

    expired = await get_inventory(http, token, nextToken=next_token)

    error = assert_spapi_error(expired, 400, "InvalidInput")
    assert "nextToken" in error["message"]
    assert expired.headers["x-amzn-ratelimit-limit"] == "2.0"  # 400 carries the header


async def test_next_token_is_bound_to_the_request(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)
    other_seller = await access_token(http, selling_partner_id="A5OTHER")
    next_token = (await get_inventory(http, token)).json()["pagination"]["nextToken"]
    clock.advance(1)

    other_marketplace = await get_inventory(http, token, nextToken=next_token, marketplace=CA)
    clock.advance(1)
    stolen = await get_inventory(http, other_seller, nextToken=next_token)
    clock.advance(1)
    unknown = await get_inventory(http, token, nextToken="not-a-token")

    for response in (other_marketplace, stolen, unknown):
        assert_spapi_error(response, 400, "InvalidInput")


async def test_seller_skus_filter(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await access_token(http)

    many = await get_inventory(http, token, sellerSkus="EMU-0003,EMU-0001,NOPE")
    clock.advance(1)
    repeated = await http.get(
        INVENTORY,
        params=[
            *inventory_params().items(),
            ("sellerSkus", "EMU-0002"),
            ("sellerSkus", "EMU-0004"),
        ],
        headers={"x-amz-access-token": token},
    )
    clock.advance(1)
    single = await get_inventory(http, token, sellerSku="EMU-0005")
    clock.advance(1)
    both = await get_inventory(http, token, sellerSkus="EMU-0006", sellerSku="EMU-0007")

    def skus(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [s["sellerSku"] for s in response.json()["payload"]["inventorySummaries"]]

    assert skus(many) == ["EMU-0001", "EMU-0003"]
    assert skus(repeated) == ["EMU-0002", "EMU-0004"]
    assert skus(single) == ["EMU-0005"]
    assert skus(both) == ["EMU-0006"]  # sellerSku is ignored when sellerSkus is given


async def test_start_date_time_returns_what_changed_since(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)
    everything = await all_pages(http, clock, token)
    times = sorted(
        datetime.fromisoformat(s["lastUpdatedTime"].replace("Z", "+00:00")) for s in everything
    )
    since = times[len(times) // 2]
    expected = sorted(
        s["sellerSku"]
        for s in everything
        if datetime.fromisoformat(s["lastUpdatedTime"].replace("Z", "+00:00")) > since
    )
    clock.advance(1)

    changed = await all_pages(
        http,
        clock,
        token,
        startDateTime=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        sellerSkus="EMU-0001",  # ignored with startDateTime
    )

    assert sorted(s["sellerSku"] for s in changed) == expected
    assert 0 < len(expected) < len(everything)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"granularityType": None}, "granularityType"),
        ({"granularityType": "Region"}, "granularityType"),
        ({"granularityId": None}, "granularityId"),
        ({"marketplaceIds": None}, "marketplaceIds"),
        ({"marketplaceIds": f"{US},{CA}"}, "marketplaceIds"),
        ({"marketplaceIds": "NOTAMARKETPLACE"}, "marketplaceIds"),
        ({"granularityId": CA}, "granularityId"),
        ({"details": "yes"}, "details"),
        ({"startDateTime": "yesterday"}, "startDateTime"),
        ({"sellerSkus": ",".join(f"S{i}" for i in range(51))}, "sellerSkus"),
    ],
)
async def test_bad_parameters_are_400_invalid_input(
    http: httpx.AsyncClient, params: dict[str, str | None], fragment: str
) -> None:
    token = await access_token(http)
    query = inventory_params()
    query.update({k: v for k, v in params.items() if v is not None})
    for key in [k for k, v in params.items() if v is None]:
        query.pop(key)

    response = await http.get(INVENTORY, params=query, headers={"x-amz-access-token": token})

    error = assert_spapi_error(response, 400, "InvalidInput")
    assert fragment in error["message"]


async def test_start_date_time_older_than_18_months_is_400(http: httpx.AsyncClient) -> None:
    token = await access_token(http)
    too_old = (datetime.now(UTC) - timedelta(days=560)).strftime("%Y-%m-%dT%H:%M:%SZ")

    response = await get_inventory(http, token, startDateTime=too_old)

    error = assert_spapi_error(response, 400, "InvalidInput")
    assert "18 months" in error["message"]


async def test_marketplace_outside_the_authorization_is_400(http: httpx.AsyncClient) -> None:
    token = await access_token(http)

    response = await get_inventory(http, token, marketplace=DE)

    assert_spapi_error(response, 400, "InvalidInput")


# -- configured inventory ------------------------------------------------------------------------


async def test_admin_config_replaces_the_inventory_of_a_pair(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await configure(
        http,
        {
            "inventory": {
                DEFAULT_SELLING_PARTNER_ID: {
                    US: [
                        {
                            "sellerSku": "MY-SKU-2",
                            "asin": "B0TESTASIN",
                            "productName": "Test widget",
                            "lastUpdatedTime": "2025-01-02T03:04:05Z",
                            "inventoryDetails": {
                                "fulfillableQuantity": 7,
                                "reservedQuantity": {"pendingCustomerOrderQuantity": 2},
                            },
                        },
                        {"sellerSku": "MY-SKU-1"},
                    ]
                }
            }
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["inventory"] == {DEFAULT_SELLING_PARTNER_ID: {US: 2}}
    token = await access_token(http)

    summaries = (await get_inventory(http, token, details="true")).json()["payload"][
        "inventorySummaries"
    ]
    clock.advance(1)
    canada = (await get_inventory(http, token, marketplace=CA)).json()

    assert [s["sellerSku"] for s in summaries] == ["MY-SKU-1", "MY-SKU-2"]
    widget = summaries[1]
    assert widget["asin"] == "B0TESTASIN"
    assert widget["productName"] == "Test widget"
    assert widget["lastUpdatedTime"] == "2025-01-02T03:04:05Z"
    assert widget["condition"] == "NewItem"
    assert widget["stores"] == []
    assert widget["totalQuantity"] == 9
    assert widget["inventoryDetails"]["reservedQuantity"]["totalReservedQuantity"] == 2
    assert summaries[0]["totalQuantity"] == 0
    assert len(canada["payload"]["inventorySummaries"]) == 50  # other pairs stay seeded


async def test_inventory_page_size_is_configurable(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, {"inventory_page_size": 7})
    token = await access_token(http)

    first = (await get_inventory(http, token)).json()

    assert len(first["payload"]["inventorySummaries"]) == 7
    assert "nextToken" in first["pagination"]


@pytest.mark.parametrize(
    "inventory",
    [
        {DEFAULT_SELLING_PARTNER_ID: {"NOTAMARKETPLACE": []}},
        {"not a seller": {US: []}},
        {DEFAULT_SELLING_PARTNER_ID: {US: [{"sellerSku": "A"}, {"sellerSku": "A"}]}},
        {DEFAULT_SELLING_PARTNER_ID: {US: [{"sellerSku": ""}]}},
        {DEFAULT_SELLING_PARTNER_ID: {US: [{"sellerSku": "A", "totalQuantity": -1}]}},
        {DEFAULT_SELLING_PARTNER_ID: {US: [{"sellerSku": "A", "seller_sku": "B"}]}},
        {DEFAULT_SELLING_PARTNER_ID: {US: [{"sellerSku": "A", "lastUpdatedTime": "soon"}]}},
    ],
)
async def test_inventory_config_is_validated(
    http: httpx.AsyncClient, inventory: dict[str, Any]
) -> None:
    response = await configure(http, {"inventory": inventory})

    assert response.status_code == 422


# -- rate limits, faults and the control surface -------------------------------------------------


async def test_inventory_has_the_documented_usage_plan_by_default(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)

    allowed = [await get_inventory(http, token) for _ in range(2)]
    throttled = await get_inventory(http, token)
    clock.advance(0.5)
    refilled = await get_inventory(http, token)

    assert [r.status_code for r in allowed] == [200, 200]
    error = assert_spapi_error(throttled, 429, "QuotaExceeded")
    assert error["message"] == "You exceeded your quota for the requested resource."
    assert "x-amzn-ratelimit-limit" not in throttled.headers
    assert refilled.status_code == 200


async def test_configured_rate_limit_on_participations(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)
    headers = {"x-amz-access-token": token}
    await configure(
        http,
        {"rate_limit": {"endpoint": "marketplace_participations", "per_second": 0.5, "burst": 1}},
    )

    allowed = await http.get(PARTICIPATIONS, headers=headers)
    throttled = await http.get(PARTICIPATIONS, headers=headers)
    clock.advance(2)
    refilled = await http.get(PARTICIPATIONS, headers=headers)

    assert allowed.status_code == 200
    assert allowed.headers["x-amzn-ratelimit-limit"] == "0.5"
    assert_spapi_error(throttled, 429, "QuotaExceeded")
    assert "x-amzn-ratelimit-limit" not in throttled.headers
    assert refilled.status_code == 200


async def test_rate_limit_null_clears_the_default_plan_and_reset_restores_it(
    http: httpx.AsyncClient,
) -> None:
    token = await access_token(http)
    await configure(http, {"rate_limit": None})

    unlimited = [await get_inventory(http, token) for _ in range(5)]

    assert [r.status_code for r in unlimited] == [200] * 5
    assert "x-amzn-ratelimit-limit" not in unlimited[0].headers
    await http.post(f"{ADMIN}/reset")
    restored = (await http.get(f"{ADMIN}/config")).json()["rate_limit"]
    assert {"endpoint": "inventory_summaries", "per_second": 2.0, "burst": 2} in restored


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalFailure"), (503, "ServiceUnavailable"), (404, "NotFound")],
)
async def test_injected_failures_use_the_spapi_error_shape(
    http: httpx.AsyncClient, status: int, code: str
) -> None:
    token = await access_token(http)
    await configure(http, {"fail": {"endpoint": "inventory_summaries", "status": status}})

    failed = await get_inventory(http, token)
    participations = await http.get(PARTICIPATIONS, headers={"x-amz-access-token": token})

    assert_spapi_error(failed, status, code)
    assert participations.status_code == 200


async def test_stats_count_the_new_endpoints(http: httpx.AsyncClient) -> None:
    token = await access_token(http)  # one consent POST, one token call
    await http.get(PARTICIPATIONS, headers={"x-amz-access-token": token})
    await http.get(PARTICIPATIONS)  # counted even when refused
    await get_inventory(http, token)
    await http.get("/amazon/apps/authorize/consent", params={"application_id": "x"})

    stats = (await http.get(f"{ADMIN}/stats")).json()["requests"]

    assert stats["spapi_consent"] == 2
    assert stats["marketplace_participations"] == 2
    assert stats["inventory_summaries"] == 1
    assert stats["ads_profiles"] == 0
    assert stats["token"] == 1


async def test_reset_forgets_configured_inventory_and_apps(http: httpx.AsyncClient) -> None:
    await configure(
        http,
        {
            "inventory": {DEFAULT_SELLING_PARTNER_ID: {US: []}},
            "inventory_page_size": 3,
            "spapi_apps": {"amzn1.sp.solution.extra": {"draft": True}},
        },
    )

    await http.post(f"{ADMIN}/reset")

    config = (await http.get(f"{ADMIN}/config")).json()
    assert config["inventory"] == {}
    assert config["inventory_page_size"] == 50
    assert list(config["spapi_apps"]) == ["amzn1.sp.solution.sellerhub-emulator"]
    assert set((await http.get(f"{ADMIN}/stats")).json()["requests"].values()) == {0}
