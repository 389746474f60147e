"""The control surface on the Amazon emulator (api-contract.md §4): expire, revoke, reset,
fault injection, rate limits, latency, stats and config validation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sellerhub_emulators.amazon import DEFAULT_APPLICATION_ID, DEFAULT_CLIENT_ID
from sellerhub_emulators.app import create_emulators_app

from .conftest import FakeClock
from .lwa import (
    ADMIN,
    AUTHORIZE,
    PROFILE,
    auth_params,
    configure,
    decide,
    exchange,
    get_code,
    profile,
    refresh,
    tokens,
)

NO_CALLS = {
    "authorize": 0,
    "token": 0,
    "profile": 0,
    "spapi_consent": 0,
    "marketplace_participations": 0,
    "inventory_summaries": 0,
    "ads_profiles": 0,
    "create_report": 0,
    "get_reports": 0,
    "get_report": 0,
    "cancel_report": 0,
    "get_report_document": 0,
    "financial_events": 0,
    "report_download": 0,
    "inbound_shipments": 0,
    "inbound_shipment_items": 0,
}


async def stats(http: httpx.AsyncClient) -> dict[str, int]:
    response = await http.get(f"{ADMIN}/stats")
    assert response.status_code == 200
    requests: dict[str, int] = response.json()["requests"]
    return requests


async def test_expire_ends_access_tokens_but_refresh_still_works(
    http: httpx.AsyncClient,
) -> None:
    issued = await tokens(http)

    response = await http.post(f"{ADMIN}/expire")

    assert response.json() == {"expired_access_tokens": 1}
    expired = await profile(http, issued["access_token"])
    assert expired.status_code == 401
    assert expired.json()["error"] == "invalid_token"
    refreshed = await refresh(http, issued["refresh_token"])
    assert refreshed.status_code == 200
    assert (await profile(http, refreshed.json()["access_token"])).status_code == 200


async def test_revoke_ends_every_token(http: httpx.AsyncClient) -> None:
    issued = await tokens(http)
    pending_code = await get_code(http)

    response = await http.post(f"{ADMIN}/revoke")

    assert response.json() == {"revoked_tokens": 2, "revoked_codes": 1}
    assert (await profile(http, issued["access_token"])).status_code == 401
    refreshed = await refresh(http, issued["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert (await exchange(http, pending_code)).json()["error"] == "invalid_grant"
    again = await tokens(http)  # the seller can authorize again
    assert (await profile(http, again["access_token"])).status_code == 200


async def test_reset_returns_to_the_initial_state(http: httpx.AsyncClient) -> None:
    issued = await tokens(http)
    await configure(
        http,
        {
            "access_token_ttl": 5,
            "latency_ms": 1,
            "fail": {"endpoint": "profile", "status": 500, "count": 3},
            "rate_limit": {"endpoint": "token", "per_second": 1, "burst": 1},
            "clients": {"extra-client": "extra-secret"},
        },
    )

    assert (await http.post(f"{ADMIN}/reset")).json() == {"reset": True}

    assert await stats(http) == NO_CALLS
    config = (await http.get(f"{ADMIN}/config")).json()
    assert config == {
        "access_token_ttl": 3600,
        "latency_ms": 0,
        "fail": [],
        # getInventorySummaries' documented usage plan is a default bucket (providers.md §1.5),
        # and so are those of the Reports and Finances operations (§1.6).
        "rate_limit": [
            {"endpoint": "cancel_report", "per_second": 0.0222, "burst": 10},
            {"endpoint": "create_report", "per_second": 0.0167, "burst": 15},
            {"endpoint": "financial_events", "per_second": 0.5, "burst": 30},
            {"endpoint": "get_report", "per_second": 2.0, "burst": 15},
            {"endpoint": "get_report_document", "per_second": 0.0167, "burst": 15},
            {"endpoint": "get_reports", "per_second": 0.0222, "burst": 10},
            {"endpoint": "inbound_shipment_items", "per_second": 2.0, "burst": 30},
            {"endpoint": "inbound_shipments", "per_second": 2.0, "burst": 30},
            {"endpoint": "inventory_summaries", "per_second": 2.0, "burst": 2},
        ],
        "clients": [DEFAULT_CLIENT_ID],
        "spapi_apps": {
            DEFAULT_APPLICATION_ID: {
                "redirect_uris": None,
                "draft": False,
                "client_id": DEFAULT_CLIENT_ID,
            }
        },
        "inventory": {},
        "inventory_page_size": 50,
        "inventory_fail": [],  # the failures injected per inventory page (inventory_admin)
        "ads_profiles": None,
        "reports": {
            "seed": 0,
            "anchor": config["reports"]["anchor"],  # the emulator's start day
            "ledger_rows": 2000,
            "in_queue_polls": 1,
            "in_progress_polls": 1,
            "url_ttl_seconds": 300,
            "outcomes": [],
            "download_fail": [],
            "honour_range": True,
        },
    }
    assert (await profile(http, issued["access_token"])).status_code == 401
    assert (await refresh(http, issued["refresh_token"])).status_code == 400
    assert (await tokens(http))["expires_in"] == 3600


async def test_injected_failures_hit_the_next_n_calls_then_clear(
    http: httpx.AsyncClient,
) -> None:
    first = await tokens(http)
    response = await configure(http, {"fail": {"endpoint": "token", "status": 503, "count": 2}})
    assert response.json()["fail"] == [{"endpoint": "token", "status": 503, "count": 2}]

    failures = [await refresh(http, first["refresh_token"]) for _ in range(2)]
    ok = await refresh(http, first["refresh_token"])

    for failed in failures:
        assert failed.status_code == 503
        assert failed.json()["error"] == "temporarily_unavailable"
        assert failed.headers["cache-control"] == "no-store"
    assert ok.status_code == 200
    assert (await http.get(f"{ADMIN}/config")).json()["fail"] == []


@pytest.mark.parametrize(
    ("endpoint", "status", "error"),
    [
        ("token", 500, "server_error"),
        ("token", 429, "rate_limited"),
        ("token", 401, "invalid_client"),
        ("profile", 500, "server_error"),
        ("profile", 401, "invalid_token"),
    ],
)
async def test_injected_failures_use_the_provider_error_shape(
    http: httpx.AsyncClient, endpoint: str, status: int, error: str
) -> None:
    issued = await tokens(http)
    await configure(http, {"fail": {"endpoint": endpoint, "status": status}})

    if endpoint == "token":
        response = await refresh(http, issued["refresh_token"])
    else:
        response = await profile(http, issued["access_token"])

    assert response.status_code == status
    assert set(response.json()) == {"error", "error_description"}
    assert response.json()["error"] == error


async def test_injected_failure_on_authorize_is_an_html_page(http: httpx.AsyncClient) -> None:
    await configure(http, {"fail": {"endpoint": "authorize", "status": 500, "count": 1}})

    failed = await http.get(AUTHORIZE, params=auth_params())
    ok = await http.get(AUTHORIZE, params=auth_params())

    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("text/html")
    assert ok.status_code == 200


async def test_failure_rules_can_be_cleared(http: httpx.AsyncClient) -> None:
    await configure(http, {"fail": {"endpoint": "profile", "status": 500, "count": 9}})
    await configure(http, {"fail": {"endpoint": "token", "status": 500, "count": 9}})
    await configure(http, {"fail": {"endpoint": "profile", "status": 500, "count": 0}})
    assert [r["endpoint"] for r in (await http.get(f"{ADMIN}/config")).json()["fail"]] == ["token"]

    await configure(http, {"fail": None})

    assert (await http.get(f"{ADMIN}/config")).json()["fail"] == []


async def test_rate_limit_answers_429_when_the_bucket_is_empty(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    issued = await tokens(http)
    await configure(http, {"rate_limit": {"endpoint": "profile", "per_second": 1, "burst": 2}})

    allowed = [await profile(http, issued["access_token"]) for _ in range(2)]
    throttled = await profile(http, issued["access_token"])
    clock.advance(1)
    refilled = await profile(http, issued["access_token"])

    assert [r.status_code for r in allowed] == [200, 200]
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "rate_limited"
    assert refilled.status_code == 200
    assert (await tokens(http))["token_type"] == "bearer"  # other endpoints are not limited

    await configure(http, {"rate_limit": None})
    assert all([(await profile(http, issued["access_token"])).status_code == 200 for _ in range(5)])


async def test_latency_delays_every_endpoint_call(http: httpx.AsyncClient) -> None:
    await configure(http, {"latency_ms": 200})

    started = time.perf_counter()
    response = await http.get(PROFILE)
    elapsed = time.perf_counter() - started

    assert response.status_code == 400
    assert elapsed >= 0.19
    await configure(http, {"latency_ms": 0})


async def test_stats_count_calls_per_endpoint(http: httpx.AsyncClient) -> None:
    assert await stats(http) == NO_CALLS

    await http.get(AUTHORIZE, params=auth_params())
    issued = await tokens(http)  # one consent POST, one token call
    await profile(http, issued["access_token"])
    await profile(http, "Atza|bad")
    await decide(http, "deny")

    assert await stats(http) == {**NO_CALLS, "authorize": 3, "token": 1, "profile": 2}


async def test_added_clients_can_use_the_flow(http: httpx.AsyncClient) -> None:
    response = await configure(http, {"clients": {"amzn1.application-oa2-client.two": "s2"}})
    assert "amzn1.application-oa2-client.two" in response.json()["clients"]

    code = await get_code(http, client_id="amzn1.application-oa2-client.two")
    exchanged = await exchange(
        http, code, client_id="amzn1.application-oa2-client.two", client_secret="s2"
    )

    assert exchanged.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"access_token_ttl": 0},
        {"access_token_ttl": "3600"},
        {"access_token_ttl": True},
        {"latency_ms": -1},
        {"latency_ms": 600_000},
        {"fail": {"endpoint": "orders", "status": 500, "count": 1}},
        {"fail": {"endpoint": "token", "status": 200, "count": 1}},
        {"fail": {"endpoint": "token", "status": 500, "count": -1}},
        {"fail": {"status": 500}},
        {"rate_limit": {"endpoint": "token", "per_second": 0, "burst": 1}},
        {"rate_limit": {"endpoint": "token", "per_second": 1, "burst": 0}},
        {"rate_limit": {"endpoint": "nope", "per_second": 1, "burst": 1}},
        {"clients": {"": "secret"}},
        {"clients": {"id": ""}},
        {"clients": ["id"]},
        {"unknown_key": 1},
    ],
)
async def test_config_validation_answers_422_and_changes_nothing(
    http: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    before = (await http.get(f"{ADMIN}/config")).json()

    response = await configure(http, {"latency_ms": 5, **body})

    assert response.status_code == 422
    assert response.json()["detail"]
    assert (await http.get(f"{ADMIN}/config")).json() == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"'])
async def test_config_body_must_be_a_json_object(http: httpx.AsyncClient, raw: bytes) -> None:
    response = await http.post(
        f"{ADMIN}/config", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422


async def test_app_instances_do_not_share_state(emulators_app: FastAPI) -> None:
    other = create_emulators_app()
    transports = [httpx.ASGITransport(app=a) for a in (emulators_app, other)]
    async with (
        httpx.AsyncClient(transport=transports[0], base_url="http://testserver") as one,
        httpx.AsyncClient(transport=transports[1], base_url="http://testserver") as two,
    ):
        issued = await tokens(one)
        await configure(one, {"latency_ms": 3})

        assert (await profile(two, issued["access_token"])).status_code == 401
        assert (await two.get(f"{ADMIN}/config")).json()["latency_ms"] == 0
        assert (await stats(two))["token"] == 0


async def test_mounted_under_the_main_apps_prefix() -> None:
    outer = FastAPI()
    outer.mount("/_emulators", create_emulators_app())
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get("/_emulators/amazon/ap/oa", params=auth_params())
        assert page.status_code == 200
        approved = await http.post(
            "/_emulators/amazon/ap/oa", data={**auth_params(), "decision": "approve"}
        )
        assert approved.status_code == 302
        assert (await http.get("/_emulators/amazon/_admin/stats")).json()["requests"][
            "authorize"
        ] == 2
