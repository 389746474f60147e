"""DHL emulator: DHL eCommerce Americas ``/auth/v4/accesstoken`` (providers.md §7) and
``/tracking/v4/package/open``."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from sellerhub_emulators.dhl import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PICKUP

from .conftest import FakeClock

TOKEN = "/dhl/auth/v4/accesstoken"
TRACK = "/dhl/tracking/v4/package/open"
ADMIN = "/dhl/_admin"
ERRORS = "https://api.dhlecs.com/docs/errors/"
TRACKING_ID = "9374869903500011991299"


def token_form(**overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


async def request_token(http: httpx.AsyncClient, **overrides: str | None) -> httpx.Response:
    return await http.post(TOKEN, data=token_form(**overrides))


async def get_token(http: httpx.AsyncClient, **overrides: str | None) -> str:
    response = await request_token(http, **overrides)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def track(http: httpx.AsyncClient, token: str | None, params: Any = None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    query = {"trackingId": TRACKING_ID} if params is None else params
    return await http.get(TRACK, params=query, headers=headers)


async def configure(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{ADMIN}/config", json=body)


def assert_dhl_error(
    response: httpx.Response, status: int, code: str, title: str
) -> dict[str, Any]:
    """DHL's shape: ``type`` (a docs/errors URL ending in the code), ``title``, and for parameter
    errors ``invalidParams``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) <= {"type", "title", "invalidParams"}
    assert body["type"] == ERRORS + code
    assert body["title"] == title
    return body


def invalid_names(response: httpx.Response) -> list[str]:
    body = assert_dhl_error(response, 400, "400.0000001", "Invalid parameters")
    for param in body["invalidParams"]:
        assert set(param) == {"name", "reason"}
        assert param["reason"]
    return [param["name"] for param in body["invalidParams"]]


# -- /auth/v4/accesstoken -------------------------------------------------------------------


async def test_access_token(http: httpx.AsyncClient) -> None:
    response = await request_token(http)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["access_token", "client_id", "token_type", "expires_in"]
    assert len(body["access_token"]) == 28
    assert body["client_id"] == DEFAULT_CLIENT_ID
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert await get_token(http) != body["access_token"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_secret": "wrong-secret"},
        {"client_id": "unknown-client"},
        {"client_id": DEFAULT_CLIENT_SECRET, "client_secret": DEFAULT_CLIENT_ID},
    ],
)
async def test_wrong_credentials_are_401(
    http: httpx.AsyncClient, overrides: dict[str, str | None]
) -> None:
    response = await request_token(http, **overrides)

    assert_dhl_error(response, 401, "401.0000007", "Invalid credentials")
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"grant_type": None}, ["grant_type"]),
        ({"client_id": None}, ["client_id"]),
        ({"client_secret": ""}, ["client_secret"]),
        ({"client_id": None, "client_secret": None}, ["client_id", "client_secret"]),
        ({"grant_type": "password"}, ["grant_type"]),
        ({"grant_type": "authorization_code"}, ["grant_type"]),
    ],
)
async def test_bad_token_requests_are_400(
    http: httpx.AsyncClient, overrides: dict[str, str | None], names: list[str]
) -> None:
    response = await request_token(http, **overrides)

    assert invalid_names(response) == names
    assert response.headers["cache-control"] == "no-store"


async def test_credentials_must_be_form_parameters(http: httpx.AsyncClient) -> None:
    as_json = await http.post(TOKEN, json=token_form())
    basic = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    as_basic = await http.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )

    assert invalid_names(as_json) == ["grant_type", "client_id", "client_secret"]
    assert invalid_names(as_basic) == ["client_id", "client_secret"]


async def test_token_lifetime_follows_access_token_ttl(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, {"access_token_ttl": 900})
    response = await request_token(http)
    token = response.json()["access_token"]

    assert response.json()["expires_in"] == 900
    clock.advance(899)
    assert (await track(http, token)).status_code == 200
    clock.advance(1)
    expired = await track(http, token)
    assert_dhl_error(expired, 401, "401.0000002", "Access token expired")


async def test_default_lifetime_is_sixty_minutes(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await get_token(http)

    clock.advance(3599)
    assert (await track(http, token)).status_code == 200
    clock.advance(1)
    assert (await track(http, token)).status_code == 401


# -- /tracking/v4/package/open --------------------------------------------------------------


async def test_track_by_tracking_id(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await track(http, token)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["total", "limit", "offset", "timestamp", "packages"]
    assert (body["total"], body["limit"], body["offset"]) == (1, 10, 0)
    assert body["timestamp"].endswith("Z")
    (package,) = body["packages"]
    assert list(package) == ["recipient", "events", "pickupDetail", "package"]
    assert package["package"]["trackingId"] == TRACKING_ID
    assert package["package"]["orderedProductId"] in {"GND", "EXP", "MAX"}
    assert package["package"]["weight"]["unitOfMeasure"] == "LB"
    assert package["pickupDetail"]["pickup"] == DEFAULT_PICKUP
    assert package["recipient"]["country"] == "US"
    assert package["events"]
    for event in package["events"]:
        assert set(event) == {
            "date",
            "time",
            "timeZone",
            "location",
            "postalCode",
            "primaryEventId",
            "primaryEventDescription",
            "secondaryEventId",
            "secondaryEventDescription",
        }
    stamps = [(event["date"], event["time"]) for event in package["events"]]
    assert stamps == sorted(stamps)
    assert package["events"][0]["primaryEventDescription"] == "LABEL CREATED"


async def test_track_is_deterministic(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    first = (await track(http, token, {"packageId": "ORDER-1001"})).json()
    second = (await track(http, token, {"packageId": "ORDER-1001"})).json()

    assert first["packages"] == second["packages"]
    assert first["packages"][0]["package"]["packageId"] == "ORDER-1001"


async def test_statuses_cover_the_whole_journey(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    latest: set[str] = set()
    for batch in range(4):
        ids = ",".join(f"ORDER-{batch}{i}" for i in range(10))
        for package in (await track(http, token, {"packageId": ids})).json()["packages"]:
            last = package["events"][-1]["primaryEventDescription"]
            latest.add(last)
            delivered = last == "DELIVERED"
            assert ("signedForName" in package["recipient"]) is delivered
            assert ("expectedDelivery" in package["package"]) is not delivered

    assert latest == {
        "LABEL CREATED",
        "PICKED UP",
        "ARRIVAL DESTINATION DHL ECOMMERCE FACILITY",
        "OUT FOR DELIVERY",
        "DELIVERED",
    }


@pytest.mark.parametrize(
    ("params", "kind", "found"),
    [
        ({"packageId": "A-1,B-2, C-3"}, "packageId", ["A-1", "B-2", "C-3"]),
        ([("packageId", "A-1"), ("packageId", "B-2")], "packageId", ["A-1", "B-2"]),
        ({"dhlPackageId": "GM5351244000000000001"}, "dhlPackageId", ["GM5351244000000000001"]),
        ({"trackingId": f"{TRACKING_ID},123,not-a-number"}, "trackingId", [TRACKING_ID]),
        ({"packageId": "has space,ok-1"}, "packageId", ["ok-1"]),
        ({"packageId": "A-1", "pickup": DEFAULT_PICKUP}, "packageId", ["A-1"]),
        ({"packageId": "A-1", "pickup": "9999999"}, "packageId", []),
        ({"manifestId": "MANIFEST-1"}, "packageId", []),
        (
            {"pickup": DEFAULT_PICKUP, "startDate": "20250106", "endDate": "20250113"},
            "packageId",
            [],
        ),
    ],
)
async def test_track_finds_what_exists(
    http: httpx.AsyncClient, params: Any, kind: str, found: list[str]
) -> None:
    token = await get_token(http)

    response = await track(http, token, params)

    assert response.status_code == 200
    body = response.json()
    assert body["total"] == len(found)
    assert [p["package"][kind] for p in body["packages"]] == found


async def test_track_pages_with_offset_and_limit(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    ids = ",".join(f"P-{i}" for i in range(7))

    page = await track(http, token, {"packageId": ids, "offset": "2", "limit": "3"})

    body = page.json()
    assert (body["total"], body["offset"], body["limit"]) == (7, 2, 3)
    assert [p["package"]["packageId"] for p in body["packages"]] == ["P-2", "P-3", "P-4"]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["packageId"]),
        ({"pickup": DEFAULT_PICKUP}, ["packageId"]),
        ({"packageId": "A-1", "trackingId": TRACKING_ID}, ["packageId", "trackingId"]),
        ({"packageId": ",".join(f"P-{i}" for i in range(11))}, ["packageId"]),
        ({"packageId": "A-1", "limit": "11"}, ["limit"]),
        ({"packageId": "A-1", "limit": "0"}, ["limit"]),
        ({"packageId": "A-1", "offset": "-1"}, ["offset"]),
        ({"packageId": "A-1", "offset": "x"}, ["offset"]),
        ({"pickup": DEFAULT_PICKUP, "startDate": "20250106"}, ["endDate"]),
        (
            {"pickup": DEFAULT_PICKUP, "startDate": "2025-01-06", "endDate": "20250107"},
            ["startDate"],
        ),
        ({"pickup": DEFAULT_PICKUP, "startDate": "20250106", "endDate": "20250114"}, ["endDate"]),
        ({"pickup": DEFAULT_PICKUP, "startDate": "20250106", "endDate": "20250105"}, ["endDate"]),
    ],
)
async def test_bad_tracking_queries_are_400(
    http: httpx.AsyncClient, params: dict[str, str], names: list[str]
) -> None:
    token = await get_token(http)

    response = await track(http, token, params)

    assert invalid_names(response) == names


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Basic Zm9vOmJhcg==", "Bearer unknown-token"]
)
async def test_track_without_a_valid_token_is_401(
    http: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await http.get(TRACK, params={"trackingId": TRACKING_ID}, headers=headers)

    assert_dhl_error(response, 401, "401.0000001", "Invalid access token")


async def test_track_with_an_expired_token_is_401(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    await http.post(f"{ADMIN}/expire")

    response = await track(http, token)

    assert_dhl_error(response, 401, "401.0000002", "Access token expired")


async def test_track_with_a_revoked_token_is_401(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    await http.post(f"{ADMIN}/revoke")

    response = await track(http, token)

    assert_dhl_error(response, 401, "401.0000001", "Invalid access token")
