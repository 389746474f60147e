"""The control surface on the FedEx emulator (api-contract.md §4): expire, revoke, reset, fault
injection, rate limits, latency, stats, registered clients and config validation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sellerhub_emulators.app import create_emulators_app
from sellerhub_emulators.fedex import (
    DEFAULT_ACCOUNT_NUMBER,
    DEFAULT_CHILD_KEY,
    DEFAULT_CLIENT_ID,
    FedexEmulator,
)

from .conftest import FakeClock
from .test_fedex import (
    ADMIN,
    TRACK,
    assert_fedex_error,
    configure,
    get_token,
    request_token,
    track,
    track_body,
)

DEFAULT_CONFIG = {
    "access_token_ttl": 3600,
    "latency_ms": 0,
    "fail": [],
    "rate_limit": [],
    "clients": [DEFAULT_CLIENT_ID],
    "child_credentials": [DEFAULT_CHILD_KEY],
}


async def stats(http: httpx.AsyncClient) -> dict[str, int]:
    response = await http.get(f"{ADMIN}/stats")
    assert response.status_code == 200
    requests: dict[str, int] = response.json()["requests"]
    return requests


def test_default_account_number_is_the_sandbox_one() -> None:
    assert DEFAULT_ACCOUNT_NUMBER == "740561073"


async def test_initial_config(http: httpx.AsyncClient) -> None:
    assert (await http.get(f"{ADMIN}/config")).json() == DEFAULT_CONFIG


async def test_expire_ends_issued_tokens_only(http: httpx.AsyncClient) -> None:
    first, second = await get_token(http), await get_token(http)

    response = await http.post(f"{ADMIN}/expire")

    assert response.json() == {"expired_access_tokens": 2}
    for token in (first, second):
        assert (await track(http, token, "123456789012")).status_code == 401
    fresh = await get_token(http)
    assert (await track(http, fresh, "123456789012")).status_code == 200
    assert (await http.post(f"{ADMIN}/expire")).json() == {"expired_access_tokens": 1}


async def test_revoke_ends_issued_tokens_only(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await http.post(f"{ADMIN}/revoke")

    assert response.json() == {"revoked_tokens": 1}
    assert (await track(http, token, "123456789012")).status_code == 401
    again = await get_token(http)  # the credentials still work
    assert (await track(http, again, "123456789012")).status_code == 200


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
            "child_credentials": {"extra-child": "extra-child-secret"},
        },
    )

    assert (await http.post(f"{ADMIN}/reset")).json() == {"reset": True}

    assert await stats(http) == {"token": 0, "track": 0}
    assert (await http.get(f"{ADMIN}/config")).json() == DEFAULT_CONFIG
    assert (await track(http, token, "123456789012")).status_code == 401
    assert (await request_token(http, client_id="extra-client")).status_code == 401
    assert (await request_token(http)).json()["expires_in"] == 3600


async def test_injected_failures_hit_the_next_n_calls_then_clear(
    http: httpx.AsyncClient,
) -> None:
    response = await configure(http, {"fail": {"endpoint": "token", "status": 503, "count": 2}})
    assert response.json()["fail"] == [{"endpoint": "token", "status": 503, "count": 2}]

    failures = [await request_token(http) for _ in range(2)]
    ok = await request_token(http)

    for failed in failures:
        assert_fedex_error(failed, 503, "SERVICE.UNAVAILABLE.ERROR")
        assert failed.headers["cache-control"] == "no-store"
    assert ok.status_code == 200
    assert (await http.get(f"{ADMIN}/config")).json()["fail"] == []


@pytest.mark.parametrize(
    ("endpoint", "status", "code"),
    [
        ("token", 500, "INTERNAL.SERVER.ERROR"),
        ("token", 401, "NOT.AUTHORIZED.ERROR"),
        ("token", 429, "TOO.MANY.REQUESTS.ERROR"),
        ("token", 400, "BAD.REQUEST.ERROR"),
        ("track", 500, "INTERNAL.SERVER.ERROR"),
        ("track", 502, "INTERNAL.SERVER.ERROR"),
        ("track", 503, "SERVICE.UNAVAILABLE.ERROR"),
        ("track", 403, "FORBIDDEN.ERROR"),
        ("track", 404, "NOT.FOUND.ERROR"),
        ("track", 401, "NOT.AUTHORIZED.ERROR"),
        ("track", 409, "BAD.REQUEST.ERROR"),
    ],
)
async def test_injected_failures_use_the_fedex_error_shape(
    http: httpx.AsyncClient, endpoint: str, status: int, code: str
) -> None:
    token = await get_token(http)
    await configure(http, {"fail": {"endpoint": endpoint, "status": status}})

    if endpoint == "token":
        response = await request_token(http)
    else:
        response = await track(http, token, "123456789012")

    assert assert_fedex_error(response, status, code)


async def test_rate_limit_answers_429_when_the_bucket_is_empty(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = await get_token(http)
    await configure(http, {"rate_limit": {"endpoint": "track", "per_second": 1, "burst": 2}})

    allowed = [await track(http, token, "123456789012") for _ in range(2)]
    throttled = await track(http, token, "123456789012")
    clock.advance(1)
    refilled = await track(http, token, "123456789012")

    assert [r.status_code for r in allowed] == [200, 200]
    message = assert_fedex_error(throttled, 429, "TOO.MANY.REQUESTS.ERROR")
    assert message == (
        "We have received too many requests in a short duration. Please wait a while to try again."
    )
    assert refilled.status_code == 200
    assert (await request_token(http)).status_code == 200  # other endpoints are not limited

    await configure(http, {"rate_limit": None})
    assert all([(await track(http, token, "123456789012")).status_code == 200 for _ in range(5)])


async def test_rate_limit_on_the_token_endpoint(http: httpx.AsyncClient) -> None:
    await configure(http, {"rate_limit": {"endpoint": "token", "per_second": 0.5, "burst": 1}})

    first, second = await request_token(http), await request_token(http)

    assert first.status_code == 200
    assert_fedex_error(second, 429, "TOO.MANY.REQUESTS.ERROR")
    assert second.headers["cache-control"] == "no-store"


async def test_latency_delays_every_endpoint_call(http: httpx.AsyncClient) -> None:
    await configure(http, {"latency_ms": 200})

    started = time.perf_counter()
    response = await http.post(TRACK, json=track_body("123456789012"))
    elapsed = time.perf_counter() - started

    assert response.status_code == 401
    assert elapsed >= 0.19
    assert (await http.get(f"{ADMIN}/config")).json()["latency_ms"] == 200
    await configure(http, {"latency_ms": 0})


async def test_stats_count_calls_per_endpoint(http: httpx.AsyncClient) -> None:
    assert await stats(http) == {"token": 0, "track": 0}

    token = await get_token(http)
    await request_token(http, client_secret="wrong")
    await track(http, token, "123456789012")
    await track(http, None, "123456789012")
    await track(http, token, "")

    assert await stats(http) == {"token": 2, "track": 3}


async def test_added_clients_and_child_credentials_can_get_tokens(
    http: httpx.AsyncClient,
) -> None:
    response = await configure(
        http,
        {
            "clients": {"l7-second-project": "second-secret"},
            "child_credentials": {"customer-key-2": "customer-password-2"},
        },
    )
    assert "l7-second-project" in response.json()["clients"]
    assert "customer-key-2" in response.json()["child_credentials"]

    plain = await request_token(http, client_id="l7-second-project", client_secret="second-secret")
    child = await request_token(
        http,
        grant_type="csp_credentials",
        client_id="l7-second-project",
        client_secret="second-secret",
        child_Key="customer-key-2",
        child_secret="customer-password-2",
    )

    assert plain.status_code == 200
    assert child.status_code == 200
    assert (await request_token(http)).status_code == 200  # the default client is kept


async def test_clients_can_be_rekeyed(http: httpx.AsyncClient) -> None:
    await configure(http, {"clients": {DEFAULT_CLIENT_ID: "rotated-secret"}})

    old = await request_token(http)
    new = await request_token(http, client_secret="rotated-secret")

    assert old.status_code == 401
    assert new.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"access_token_ttl": 0},
        {"access_token_ttl": "3600"},
        {"latency_ms": -1},
        {"fail": {"endpoint": "rates", "status": 500, "count": 1}},
        {"fail": {"endpoint": "profile", "status": 500, "count": 1}},
        {"fail": {"endpoint": "track", "status": 200, "count": 1}},
        {"rate_limit": {"endpoint": "track", "per_second": 0, "burst": 1}},
        {"rate_limit": {"endpoint": "oauth", "per_second": 1, "burst": 1}},
        {"clients": {"": "secret"}},
        {"clients": {"id": ""}},
        {"clients": ["id"]},
        {"child_credentials": {"key": ""}},
        {"child_credentials": "key"},
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
    emulator = emulators_app.state.emulators["fedex"]

    assert isinstance(emulator, FedexEmulator)
    assert emulator.endpoints == ("token", "track")


async def test_app_instances_do_not_share_state(emulators_app: FastAPI) -> None:
    other = create_emulators_app()
    transports = [httpx.ASGITransport(app=a) for a in (emulators_app, other)]
    async with (
        httpx.AsyncClient(transport=transports[0], base_url="http://testserver") as one,
        httpx.AsyncClient(transport=transports[1], base_url="http://testserver") as two,
    ):
        token = await get_token(one)

        assert (await track(two, token, "123456789012")).status_code == 401
        assert (await stats(two))["token"] == 0


async def test_mounted_under_the_main_apps_prefix() -> None:
    outer = FastAPI()
    outer.mount("/_emulators", create_emulators_app())
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        token_response = await http.post(
            "/_emulators/fedex/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": "fedex-emulator-secret",
            },
        )
        token = token_response.json()["access_token"]
        tracked = await http.post(
            "/_emulators/fedex/track/v1/trackingnumbers",
            json=track_body("123456789012"),
            headers={"Authorization": f"Bearer {token}"},
        )

        assert tracked.status_code == 200
        assert (await http.get("/_emulators/fedex/_admin/stats")).json() == {
            "requests": {"token": 1, "track": 1}
        }
