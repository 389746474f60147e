"""The SP-API emulator's FBA inventory as a sync sees it: a seeded catalogue of hundreds of SKUs
in every authorized marketplace (the same products everywhere), quantities set through
``_admin/inventory/quantities``, failures injected on one page (``inventory_fail``) and the log
of requests per page token (``_admin/inventory/requests``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sellerhub_emulators.amazon import DEFAULT_SELLING_PARTNER_ID

from .conftest import FakeClock
from .lwa import ADMIN, configure
from .test_amazon_sp_api import (
    CA,
    MX,
    US,
    access_token,
    all_pages,
    assert_spapi_error,
    get_inventory,
)


async def _requests(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await http.get(f"{ADMIN}/inventory/requests")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["requests"])


async def _admin_inventory(http: httpx.AsyncClient, marketplace: str) -> list[dict[str, Any]]:
    answer = await http.get(
        f"{ADMIN}/inventory",
        params={"selling_partner_id": DEFAULT_SELLING_PARTNER_ID, "marketplace_id": marketplace},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["inventorySummaries"])


async def test_seeded_catalogue_has_hundreds_of_skus_in_every_marketplace(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await access_token(http)
    by_marketplace: dict[str, list[dict[str, Any]]] = {}
    for marketplace in (US, CA, MX):
        clock.advance(1)
        by_marketplace[marketplace] = await all_pages(
            http, clock, token, marketplace=marketplace, details="true"
        )

    for summaries in by_marketplace.values():
        assert 150 <= len(summaries) < 400
        assert all(s["inventoryDetails"]["fulfillableQuantity"] >= 0 for s in summaries)
    # The same SKU is the same product (ASIN, FNSKU) in every marketplace; quantities differ.
    us = {s["sellerSku"]: s for s in by_marketplace[US]}
    ca = {s["sellerSku"]: s for s in by_marketplace[CA]}
    shared = sorted(set(us) & set(ca))
    assert len(shared) >= 150
    assert all(us[k]["asin"] == ca[k]["asin"] and us[k]["fnSku"] == ca[k]["fnSku"] for k in shared)
    assert any(us[k]["totalQuantity"] != ca[k]["totalQuantity"] for k in shared)
    # What _admin/inventory shows is what the API pages through.
    assert await _admin_inventory(http, US) == by_marketplace[US]


async def test_a_503_on_one_page_then_the_same_token_is_served(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, {"inventory_page_size": 20})
    response = await configure(
        http, {"inventory_fail": {"marketplace_id": US, "page": 2, "status": 503}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["inventory_fail"] == [
        {"selling_partner_id": None, "marketplace_id": US, "page": 2, "status": 503, "count": 1}
    ]
    token = await access_token(http)
    first = (await get_inventory(http, token)).json()
    next_token = first["pagination"]["nextToken"]
    clock.advance(1)

    failed = await get_inventory(http, token, nextToken=next_token)
    clock.advance(1)
    again = await get_inventory(http, token, nextToken=next_token)

    error = assert_spapi_error(failed, 503, "ServiceUnavailable")
    assert "details" not in error
    assert again.status_code == 200
    assert again.json()["payload"]["inventorySummaries"][0]["sellerSku"] == "EMU-0021"
    log = await _requests(http)
    assert [(r["next_token"], r["page"], r["status"]) for r in log] == [
        (None, 1, 200),
        (next_token, 2, 503),
        (next_token, 2, 200),
    ]
    assert {r["selling_partner_id"] for r in log} == {DEFAULT_SELLING_PARTNER_ID}
    assert {r["marketplace_id"] for r in log} == {US}
    assert (await http.get(f"{ADMIN}/config")).json()["inventory_fail"] == []


async def test_a_429_on_a_page_is_quota_exceeded_and_only_for_that_seller(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(
        http,
        {
            "inventory_fail": {
                "marketplace_id": US,
                "page": 1,
                "status": 429,
                "count": 2,
                "selling_partner_id": DEFAULT_SELLING_PARTNER_ID,
            }
        },
    )
    token = await access_token(http)
    other = await access_token(http, selling_partner_id="A3OTHERSELLER")

    throttled = await get_inventory(http, token)
    clock.advance(1)
    unaffected = await get_inventory(http, other)
    clock.advance(1)
    throttled_again = await get_inventory(http, token)
    clock.advance(1)
    served = await get_inventory(http, token)

    assert_spapi_error(throttled, 429, "QuotaExceeded")
    assert "x-amzn-ratelimit-limit" not in throttled.headers
    assert unaffected.status_code == 200
    assert throttled_again.status_code == 429
    assert served.status_code == 200


async def test_the_usage_plan_429_is_logged_too(http: httpx.AsyncClient) -> None:
    token = await access_token(http)
    answers = [await get_inventory(http, token) for _ in range(3)]  # burst 2, no time passes

    assert [a.status_code for a in answers] == [200, 200, 429]
    statuses = [(r["page"], r["status"]) for r in await _requests(http)]
    assert statuses == [(1, 200), (1, 200), (None, 429)]


async def test_quantities_set_through_admin_replace_those_skus_only(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    before = {s["sellerSku"]: s for s in await _admin_inventory(http, US)}
    clock.advance(60)

    answer = await http.post(
        f"{ADMIN}/inventory/quantities",
        json={
            "selling_partner_id": DEFAULT_SELLING_PARTNER_ID,
            "marketplace_id": US,
            "items": [
                {
                    "sellerSku": "EMU-0002",
                    "inventoryDetails": {
                        "fulfillableQuantity": 41,
                        "inboundShippedQuantity": 5,
                        "reservedQuantity": {"pendingCustomerOrderQuantity": 3},
                        "unfulfillableQuantity": {"defectiveQuantity": 2},
                    },
                },
                {"sellerSku": "NEW-SKU-1", "asin": "B0NEWASIN1", "fnSku": "X00NEWFNSK"},
            ],
        },
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": len(before) + 1}
    after = {s["sellerSku"]: s for s in await _admin_inventory(http, US)}
    changed = after["EMU-0002"]
    assert changed["asin"] == before["EMU-0002"]["asin"]
    assert changed["fnSku"] == before["EMU-0002"]["fnSku"]
    assert changed["productName"] == before["EMU-0002"]["productName"]
    assert changed["lastUpdatedTime"] > before["EMU-0002"]["lastUpdatedTime"]
    details = changed["inventoryDetails"]
    assert details["fulfillableQuantity"] == 41 and details["inboundShippedQuantity"] == 5
    assert details["reservedQuantity"]["totalReservedQuantity"] == 3
    assert details["unfulfillableQuantity"]["totalUnfulfillableQuantity"] == 2
    assert changed["totalQuantity"] == 51
    assert after["NEW-SKU-1"]["asin"] == "B0NEWASIN1"
    assert {k: v for k, v in after.items() if k not in ("EMU-0002", "NEW-SKU-1")} == {
        k: v for k, v in before.items() if k != "EMU-0002"
    }
    # Other marketplaces keep their seeded inventory.
    assert "NEW-SKU-1" not in {s["sellerSku"] for s in await _admin_inventory(http, CA)}


@pytest.mark.parametrize(
    "body",
    [
        {"selling_partner_id": "not a seller", "marketplace_id": US, "items": [{"sellerSku": "A"}]},
        {"selling_partner_id": DEFAULT_SELLING_PARTNER_ID, "marketplace_id": "X", "items": []},
        {
            "selling_partner_id": DEFAULT_SELLING_PARTNER_ID,
            "marketplace_id": US,
            "items": [{"sellerSku": "A"}, {"sellerSku": "A"}],
        },
        {
            "selling_partner_id": DEFAULT_SELLING_PARTNER_ID,
            "marketplace_id": US,
            "items": [{"sellerSku": "A", "inventoryDetails": {"fulfillableQuantity": -1}}],
        },
    ],
)
async def test_bad_quantities_are_422(http: httpx.AsyncClient, body: dict[str, Any]) -> None:
    answer = await http.post(f"{ADMIN}/inventory/quantities", json=body)

    assert answer.status_code == 422


@pytest.mark.parametrize(
    "fail",
    [
        {"marketplace_id": "NOPE", "page": 1, "status": 503},
        {"marketplace_id": US, "page": 0, "status": 503},
        {"marketplace_id": US, "page": 1, "status": 200},
        {"marketplace_id": US, "page": 1, "status": 503, "extra": 1},
    ],
)
async def test_bad_inventory_fail_rules_are_422(
    http: httpx.AsyncClient, fail: dict[str, Any]
) -> None:
    assert (await configure(http, {"inventory_fail": fail})).status_code == 422


async def test_count_zero_clears_a_rule_null_clears_all_and_reset_forgets_the_log(
    http: httpx.AsyncClient,
) -> None:
    await configure(http, {"inventory_fail": {"marketplace_id": US, "page": 1, "status": 500}})
    await configure(http, {"inventory_fail": {"marketplace_id": CA, "page": 3, "status": 503}})
    cleared = await configure(
        http, {"inventory_fail": {"marketplace_id": US, "page": 1, "status": 500, "count": 0}}
    )
    assert [r["marketplace_id"] for r in cleared.json()["inventory_fail"]] == [CA]
    assert (await configure(http, {"inventory_fail": None})).json()["inventory_fail"] == []
    token = await access_token(http)
    assert (await get_inventory(http, token)).status_code == 200
    assert len(await _requests(http)) == 1

    await http.post(f"{ADMIN}/reset")

    assert await _requests(http) == []
