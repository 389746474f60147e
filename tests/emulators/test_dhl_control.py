"""The control surface on the DHL emulator (api-contract.md §4): expire, revoke, reset, fault
injection, rate limits, latency, stats, registered clients and config validation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sellerhub_emulators.app import create_emulators_app
from sellerhub_emulators.dhl import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DhlEmulator

from .conftest import FakeClock
from .test_dhl import (
    ADMIN,
    TRACK,
    TRACKING_ID,
    assert_dhl_error,
    configure,
    get_token,
    request_token,
    track,
)

DEFAULT_CONFIG = {
    "access_token_ttl": 3600,
    "latency_ms": 0,
    "fail": [],
    "rate_limit": [],
    "clients": [DEFAULT_CLIENT_ID],
}


async def stats(http: httpx.AsyncClient) -> dict[str, int]:
    response = await http.get(f"{ADMIN}/stats")
    assert response.status_code == 200
    requests: dict[str, int] = response.json()["requests"]
    return requests


async def test_initial_config(http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{ADMIN}/config")).json() == DEFAULT_CONFIG


async def test_expire_ends_issued_tokens_only(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await http.post(f"{ADMIN}/expire")

    assert response.json() == {"expired_access_tokens": 1}
    assert (await track(http, token)).status_code == 401
    fresh = await get_token(http)
    assert (await track(http, fresh)).status_code == 200


async def test_revoke_ends_issued_tokens_only(http: httpx.AsyncClient) -> None:
    first, second = await get_token(http), await get_token(http)

    response = await http.post(f"{ADMIN}/revoke")

    assert response.json() == {"revoked_tokens": 2}
    for token in (first, second):
        assert (await track(http, token)).status_code == 401
    again = await get_token(http)
    assert (await track(http, again)).status_code == 200


async def test_reset_returns_to_the_initial_state(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    await configure(
        http,
        {
            "access_token_ttl": 5,
            "latency_ms": 1,
            "fail": {"endpoint": "track", "status": 500, "count": 3},
            "rate_limit": {"endpoint": "token", "per_second": 1, "burst": 1},
            "clients": {"extra-client": "extra-secret"},
        },
    )

    assert (await http.post(f"{ADMIN}/reset")).json() == {"reset": True}

    assert await stats(http) == {"token": 0, "track": 0}
    assert (await http.get(f"{ADMIN}/config")).json() == DEFAULT_CONFIG
    assert (await track(http, token)).status_code == 401
    extra = await request_token(http, client_id="extra-client", client_secret="extra-secret")
    assert extra.status_code == 401
    assert (await request_token(http)).json()["expires_in"] == 3600


async def test_injected_failures_hit_the_next_n_calls_then_clear(
    http: httpx.AsyncClient,
) -> None:
    await configure(http, {"fail": {"endpoint": "token", "status": 503, "count": 2}})

    failures = [await request_token(http) for _ in range(2)]
    ok = await request_token(http)

    for failed in failures:
        assert_dhl_error(failed, 503, "503.0000001", "Service Unavailable")
        assert failed.headers["cache-control"] == "no-store"
    assert ok.status_code == 200
    assert (await http.get(f"{ADMIN}/config")).json()["fail"] == []


@pytest.mark.parametrize(
    ("endpoint", "status", "code", "title"),
    [
        ("token", 500, "500.0000001", "Internal Server Error"),
        ("token", 401, "401.0000007", "Invalid credentials"),
        ("token", 429, "429.0000001", "Spike arrest violation"),
        ("track", 500, "500.0000001", "Internal Server Error"),
        ("track", 502, "502.0000001", "Bad Gateway"),
        ("track", 401, "401.0000001", "Invalid access token"),
        ("track", 403, "403.0000001", "Forbidden"),
        ("track", 404, "404.0000001", "Not Found"),
        ("track", 599, "599.0000001", "Error"),
    ],
)
async def test_injected_failures_use_the_dhl_error_shape(
    http: httpx.AsyncClient, endpoint: str, status: int, code: str, title: str
) -> None:
    token = await get_token(http)
    await configure(http, {"fail": {"endpoint": endpoint, "status": status}})

    response = await (request_token(http) if endpoint == "token" else track(http, token))

    assert_dhl_error(response, status, code, title)


async def test_rate_limit_answers_429_when_the_bucket_is_empty(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await get_token(http)
    await configure(http, {"rate_limit": {"endpoint": "track", "per_second": 2, "burst": 1}})

    allowed = await track(http, token)
    throttled = await track(http, token)
    clock.advance(0.5)
    refilled = await track(http, token)

    assert allowed.status_code == 200
    assert_dhl_error(throttled, 429, "429.0000001", "Spike arrest violation")
    assert refilled.status_code == 200
    assert (await request_token(http)).status_code == 200  # other endpoints are not limited

    await configure(http, {"rate_limit": None})
    assert all([(await track(http, token)).status_code == 200 for _ in range(5)])


async def test_latency_delays_every_endpoint_call(http: httpx.AsyncClient) -> None:
    await configure(http, {"latency_ms": 200})

    started = time.perf_counter()
    response = await http.post(
        "/dhl/auth/v4/accesstoken",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    )
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    assert elapsed >= 0.19
    await configure(http, {"latency_ms": 0})


async def test_stats_count_calls_per_endpoint(http: httpx.AsyncClient) -> None:
    assert await stats(http) == {"token": 0, "track": 0}

    token = await get_token(http)
    await request_token(http, client_secret="wrong")
    await request_token(http, grant_type=None)
    await track(http, token)
    await track(http, None)

    assert await stats(http) == {"token": 3, "track": 2}


async def test_added_clients_can_get_tokens(http: httpx.AsyncClient) -> None:
    response = await configure(http, {"clients": {"second-client": "second-secret"}})
    assert response.json()["clients"] == [DEFAULT_CLIENT_ID, "second-client"]

    issued = await request_token(http, client_id="second-client", client_secret="second-secret")

    assert issued.status_code == 200
    assert issued.json()["client_id"] == "second-client"
    assert (await track(http, issued.json()["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"access_token_ttl": 0},
        {"access_token_ttl": 1.5},
        {"latency_ms": 600_000},
        {"fail": {"endpoint": "rates", "status": 500, "count": 1}},
        {"fail": {"endpoint": "track", "status": 302, "count": 1}},
        {"rate_limit": {"endpoint": "track", "per_second": 1, "burst": 0}},
        {"rate_limit": {"endpoint": "label", "per_second": 1, "burst": 1}},
        {"clients": {"": "secret"}},
        {"clients": {"id": "x" * 513}},
        {"child_credentials": {"key": "secret"}},
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


async def test_state_is_registered_on_the_app(emulators_app: FastAPI) -> None:
    emulator = emulators_app.state.emulators["dhl"]

    assert isinstance(emulator, DhlEmulator)
    assert emulator.endpoints == ("token", "track")


async def test_mounted_under_the_main_apps_prefix() -> None:
    outer = FastAPI()
    outer.mount("/_emulators", create_emulators_app())
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        issued = await http.post(
            "/_emulators/dhl/auth/v4/accesstoken",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
            },
        )
        tracked = await http.get(
            "/_emulators" + TRACK,
            params={"trackingId": TRACKING_ID},
            headers={"Authorization": f"Bearer {issued.json()['access_token']}"},
        )

        assert tracked.status_code == 200
        assert (await http.get("/_emulators/dhl/_admin/stats")).json() == {
            "requests": {"token": 1, "track": 1}
        }
