"""FedEx emulator: ``/oauth/token`` (providers.md §6) and ``/track/v1/trackingnumbers``."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from sellerhub_emulators.fedex import (
    DEFAULT_CHILD_KEY,
    DEFAULT_CHILD_SECRET,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
)

from .conftest import FakeClock

TOKEN = "/fedex/oauth/token"
TRACK = "/fedex/track/v1/trackingnumbers"
ADMIN = "/fedex/_admin"

INVALID_CLIENT = (
    "The given client credentials were not valid. Please modify your request and try again."
)
EXPIRED = "Access token expired. Please modify your request and try again."
UNAUTHENTICATED = "We could not authenticate your credentials. Please try again."


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


def track_body(*numbers: str, detailed: bool = True) -> dict[str, Any]:
    return {
        "includeDetailedScans": detailed,
        "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": n}} for n in numbers],
    }


async def track(
    http: httpx.AsyncClient,
    token: str | None,
    *numbers: str,
    detailed: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    return await http.post(TRACK, json=track_body(*numbers, detailed=detailed), headers=all_headers)


async def configure(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{ADMIN}/config", json=body)


def assert_fedex_error(response: httpx.Response, status: int, code: str) -> str:
    """FedEx's shape: ``transactionId`` (a UUID) and ``errors: [{code, message}]``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) <= {"transactionId", "customerTransactionId", "errors"}
    uuid.UUID(body["transactionId"])
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert set(error) == {"code", "message"}
    assert error["code"] == code
    message: str = error["message"]
    return message


def _b64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


# -- /oauth/token ---------------------------------------------------------------------------


async def test_client_credentials_token(http: httpx.AsyncClient) -> None:
    response = await request_token(http)

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert list(body) == ["access_token", "token_type", "expires_in", "scope"]
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "CXS"
    header, payload, signature = body["access_token"].split(".")
    assert body["access_token"].startswith("eyJ")
    assert _b64json(header) == {"alg": "RS256", "typ": "JWT"}
    assert _b64json(payload)["client_id"] == DEFAULT_CLIENT_ID
    assert len(signature) >= 300


async def test_every_token_is_new(http: httpx.AsyncClient) -> None:
    assert await get_token(http) != await get_token(http)


@pytest.mark.parametrize("grant_type", ["csp_credentials", "client_pc_credentials"])
async def test_child_grants_need_the_child_credentials(
    http: httpx.AsyncClient, grant_type: str
) -> None:
    with_child = await request_token(
        http, grant_type=grant_type, child_Key=DEFAULT_CHILD_KEY, child_secret=DEFAULT_CHILD_SECRET
    )
    without_child = await request_token(http, grant_type=grant_type)
    lowercase_key = await request_token(
        http, grant_type=grant_type, child_key=DEFAULT_CHILD_KEY, child_secret=DEFAULT_CHILD_SECRET
    )
    wrong_child = await request_token(
        http, grant_type=grant_type, child_Key=DEFAULT_CHILD_KEY, child_secret="nope"
    )

    assert with_child.status_code == 200
    assert (await track(http, with_child.json()["access_token"], "123456789012")).status_code == 200
    assert_fedex_error(without_child, 400, "BAD.REQUEST.ERROR")
    assert_fedex_error(lowercase_key, 400, "BAD.REQUEST.ERROR")  # the field is ``child_Key``
    assert assert_fedex_error(wrong_child, 401, "NOT.AUTHORIZED.ERROR") == INVALID_CLIENT


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"client_secret": "wrong-secret"}, 401, "NOT.AUTHORIZED.ERROR"),
        ({"client_id": "unknown-client"}, 401, "NOT.AUTHORIZED.ERROR"),
        ({"client_id": "unknown-client", "client_secret": "x"}, 401, "NOT.AUTHORIZED.ERROR"),
        ({"grant_type": None}, 400, "BAD.REQUEST.ERROR"),
        ({"client_id": None}, 400, "BAD.REQUEST.ERROR"),
        ({"client_secret": None}, 400, "BAD.REQUEST.ERROR"),
        ({"client_secret": ""}, 400, "BAD.REQUEST.ERROR"),
        ({"grant_type": "authorization_code"}, 400, "BAD.REQUEST.ERROR"),
        ({"grant_type": "password"}, 400, "BAD.REQUEST.ERROR"),
        ({"scope": "CXS"}, 400, "BAD.REQUEST.ERROR"),
    ],
)
async def test_token_errors(
    http: httpx.AsyncClient, overrides: dict[str, str | None], status: int, code: str
) -> None:
    response = await request_token(http, **overrides)

    message = assert_fedex_error(response, status, code)
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert message == INVALID_CLIENT


async def test_token_error_messages(http: httpx.AsyncClient) -> None:
    missing = await request_token(http, client_secret=None)
    unsupported = await request_token(http, grant_type="refresh_token")
    scoped = await request_token(http, scope="CXS")

    assert "Missing" in assert_fedex_error(missing, 400, "BAD.REQUEST.ERROR")
    assert "grant type" in assert_fedex_error(unsupported, 400, "BAD.REQUEST.ERROR")
    assert "scope" in assert_fedex_error(scoped, 400, "BAD.REQUEST.ERROR")


async def test_token_body_must_be_a_form(http: httpx.AsyncClient) -> None:
    as_json = await http.post(TOKEN, json=token_form())
    repeated = await http.post(
        TOKEN,
        content="grant_type=client_credentials&client_id=a&client_id=b&client_secret=s",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_fedex_error(as_json, 400, "BAD.REQUEST.ERROR")
    assert_fedex_error(repeated, 400, "BAD.REQUEST.ERROR")


async def test_token_lifetime_follows_access_token_ttl(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    await configure(http, {"access_token_ttl": 120})
    response = await request_token(http)
    token = response.json()["access_token"]

    assert response.json()["expires_in"] == 120
    clock.advance(119)
    assert (await track(http, token, "123456789012")).status_code == 200
    clock.advance(1)
    expired = await track(http, token, "123456789012")
    assert assert_fedex_error(expired, 401, "NOT.AUTHORIZED.ERROR") == EXPIRED


async def test_default_lifetime_is_one_hour(http: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await get_token(http)

    clock.advance(3599)
    assert (await track(http, token, "123456789012")).status_code == 200
    clock.advance(1)
    assert (await track(http, token, "123456789012")).status_code == 401


# -- /track/v1/trackingnumbers --------------------------------------------------------------


async def test_track_answers_in_fedex_shape(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await track(
        http,
        token,
        "123456789012",
        "999999999999999",
        "12345",
        headers={"x-customer-transaction-id": "order-42", "X-locale": "en_US"},
    )

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["transactionId", "customerTransactionId", "output"]
    uuid.UUID(body["transactionId"])
    assert body["customerTransactionId"] == "order-42"
    results = body["output"]["completeTrackResults"]
    assert [r["trackingNumber"] for r in results] == ["123456789012", "999999999999999", "12345"]
    express, ground, unknown = (r["trackResults"][0] for r in results)
    assert express["trackingNumberInfo"]["carrierCode"] == "FDXE"
    assert ground["trackingNumberInfo"]["carrierCode"] == "FDXG"
    assert ground["serviceDetail"] == {
        "type": "FEDEX_GROUND",
        "description": "FedEx Ground",
        "shortDescription": "FG",
    }
    for result in (express, ground):
        assert result["latestStatusDetail"]["code"] in {"OC", "PU", "IT", "AR", "OD", "DL"}
        assert {d["type"] for d in result["dateAndTimes"]} >= {"SHIP"}
        assert result["scanEvents"]
        latest = result["scanEvents"][0]
        assert latest["eventType"] == result["latestStatusDetail"]["code"]
        moments = [datetime.fromisoformat(event["date"]) for event in result["scanEvents"]]
        assert moments == sorted(moments, reverse=True)  # newest first
    assert unknown["error"] == {
        "code": "TRACKING.TRACKINGNUMBER.NOTFOUND",
        "message": "Tracking number cannot be found. "
        "Please correct the tracking number and try again.",
    }


async def test_track_results_are_deterministic(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    first = (await track(http, token, "794600000010", "61290912345678901234")).json()
    second = (await track(http, token, "794600000010", "61290912345678901234")).json()

    assert first["transactionId"] != second["transactionId"]
    assert first["output"] == second["output"]
    economy = first["output"]["completeTrackResults"][1]["trackResults"][0]
    assert economy["trackingNumberInfo"]["carrierCode"] == "FXSP"


async def test_statuses_cover_the_whole_journey(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    numbers = [f"7946000{i:05d}" for i in range(30)]

    response = await track(http, token, *numbers)

    results = [r["trackResults"][0] for r in response.json()["output"]["completeTrackResults"]]
    statuses = {r["latestStatusDetail"]["derivedCode"] for r in results}
    assert statuses == {"IN", "PU", "IT", "OD", "DL"}
    for result in results:
        delivered = result["latestStatusDetail"]["derivedCode"] == "DL"
        types = [d["type"] for d in result["dateAndTimes"]]
        assert ("ACTUAL_DELIVERY" in types) is delivered
        assert ("ESTIMATED_DELIVERY" in types) is not delivered
        assert ("receivedByName" in result["deliveryDetails"]) is delivered


async def test_scan_events_only_when_detailed_scans_are_asked(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await track(http, token, "123456789012", detailed=False)

    result = response.json()["output"]["completeTrackResults"][0]["trackResults"][0]
    assert "scanEvents" not in result
    assert result["latestStatusDetail"]["description"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer not-a-token", "bearer x.y.z"],
)
async def test_track_without_a_valid_token_is_401(
    http: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await http.post(TRACK, json=track_body("123456789012"), headers=headers)

    assert assert_fedex_error(response, 401, "NOT.AUTHORIZED.ERROR") == UNAUTHENTICATED


async def test_track_with_an_expired_token_is_401(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    await http.post(f"{ADMIN}/expire")

    response = await track(http, token, "123456789012")

    assert assert_fedex_error(response, 401, "NOT.AUTHORIZED.ERROR") == EXPIRED


async def test_track_with_a_revoked_token_is_401(http: httpx.AsyncClient) -> None:
    token = await get_token(http)
    await http.post(f"{ADMIN}/revoke")

    response = await track(http, token, "123456789012")

    assert assert_fedex_error(response, 401, "NOT.AUTHORIZED.ERROR") == UNAUTHENTICATED


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"includeDetailedScans": True}, "TRACKING.TRACKINGNUMBER.EMPTY"),
        ({"includeDetailedScans": True, "trackingInfo": []}, "TRACKING.TRACKINGNUMBER.EMPTY"),
        (
            {"includeDetailedScans": True, "trackingInfo": [{"trackingNumberInfo": {}}]},
            "TRACKING.TRACKINGNUMBER.EMPTY",
        ),
        (
            {
                "includeDetailedScans": True,
                "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": " "}}],
            },
            "TRACKING.TRACKINGNUMBER.EMPTY",
        ),
        ({"includeDetailedScans": True, "trackingInfo": [{}]}, "TRACKING.TRACKINGNUMBER.EMPTY"),
        (
            {"trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "123456789012"}}]},
            "INVALID.INPUT.EXCEPTION",
        ),
        (
            {
                "includeDetailedScans": "true",
                "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "123456789012"}}],
            },
            "INVALID.INPUT.EXCEPTION",
        ),
        ({"includeDetailedScans": True, "trackingInfo": "123"}, "INVALID.INPUT.EXCEPTION"),
        (track_body(*[f"1234567890{i:02d}" for i in range(31)]), "INVALID.INPUT.EXCEPTION"),
        ([1, 2], "INVALID.INPUT.EXCEPTION"),
    ],
)
async def test_track_body_errors(http: httpx.AsyncClient, body: Any, code: str) -> None:
    token = await get_token(http)

    response = await http.post(
        TRACK,
        json=body,
        headers={"Authorization": f"Bearer {token}", "x-customer-transaction-id": "t-1"},
    )

    assert_fedex_error(response, 400, code)
    assert response.json()["customerTransactionId"] == "t-1"


async def test_track_body_must_be_json(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await http.post(
        TRACK, content=b"{not json", headers={"Authorization": f"Bearer {token}"}
    )

    assert_fedex_error(response, 400, "INVALID.INPUT.EXCEPTION")


async def test_thirty_numbers_are_allowed(http: httpx.AsyncClient) -> None:
    token = await get_token(http)

    response = await track(http, token, *[f"1234567890{i:02d}" for i in range(30)])

    assert response.status_code == 200
    assert len(response.json()["output"]["completeTrackResults"]) == 30
