"""Live checks over real HTTP, through the live server and the emulators, for every provider:
``POST /api/v1/connections/{id}/test`` sends one cheap authenticated read with the connection's
token. Accepted → ok; refused at the provider → needs_reauth with the reason, audited, and no
further call until the seller connects again; provider 5xx/429 → ok false, nothing changed, no
5xx from us. ``sellerhub connections check`` does the same from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.config import Settings
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.conftest import make_tenant
from tests.test_connections_e2e import _connect_amazon

EMULATORS = ("amazon", "fedex", "dhl", "shopify", "woocommerce")
FEDEX = {
    "client_id": "fedex-emulator-client",
    "client_secret": "fedex-emulator-secret",
    "account_number": "740561073",
}
DHL = {"client_id": "dhl-emulator-client", "client_secret": "dhl-emulator-secret"}


@pytest.fixture(autouse=True)
def _reset_emulators(live_server: str) -> Iterator[None]:
    yield
    for provider in EMULATORS:
        httpx.post(f"{live_server}/_emulators/{provider}/_admin/reset", timeout=5)


def _admin(live_server: str, provider: str, action: str, body: Any = None) -> None:
    response = httpx.post(
        f"{live_server}/_emulators/{provider}/_admin/{action}", json=body, timeout=5
    )
    assert response.status_code == 200, response.text


def _stats(live_server: str, provider: str) -> dict[str, int]:
    body = httpx.get(f"{live_server}/_emulators/{provider}/_admin/stats", timeout=5).json()
    return dict(body["requests"])


def _check(seller: Browser, live_server: str, connection_id: str) -> dict[str, Any]:
    response = seller.client.post(
        f"{live_server}/api/v1/connections/{connection_id}/test", headers=seller.csrf()
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _connection(seller: Browser, live_server: str, connection_id: str) -> dict[str, Any]:
    response = seller.client.get(f"{live_server}/api/v1/connections/{connection_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _only(seller: Browser, live_server: str, provider: str) -> dict[str, Any]:
    (found,) = [
        c
        for c in seller.client.get(live_server + "/api/v1/connections").json()
        if c["provider"] == provider
    ]
    return dict(found)


def _checks_audited(seller: Browser, live_server: str) -> list[dict[str, Any]]:
    events = seller.client.get(live_server + "/api/v1/audit-events").json()["items"]
    return [e for e in events if e["action"] == "CONNECTION_CHECKED"]


# -- connecting each provider --------------------------------------------------------------------


def _spapi(seller: Browser, live_server: str) -> dict[str, Any]:
    assert _connect_amazon(seller, live_server).status_code == 302
    return _only(seller, live_server, "amazon_spapi")


def _ads(seller: Browser, live_server: str) -> dict[str, Any]:
    start = seller.client.get(live_server + "/api/v1/connections/amazon-ads/authorize?region=na")
    page = seller.get(start.json()["auth_url"])
    back = seller.submit(page, ("decision", "approve"), follow=False)
    assert seller.get(back.headers["location"], follow=False).status_code == 302
    return _only(seller, live_server, "amazon_ads")


def _shopify(seller: Browser, live_server: str) -> dict[str, Any]:
    page = seller.get("/api/v1/auth/shopify/install?shop=check-store.myshopify.com&next=/x")
    back = seller.submit(page, ("decision", "approve"), follow=False)
    assert seller.get(back.headers["location"], follow=False).status_code == 302
    return _only(seller, live_server, "shopify")


def _woocommerce(seller: Browser, live_server: str) -> dict[str, Any]:
    keys = httpx.post(
        f"{live_server}/_emulators/woocommerce/_admin/keys", json={"store": "check"}, timeout=15
    ).json()
    created = seller.client.post(
        live_server + "/integrations/woocommerce/credentials",
        json={
            "store_url": f"{live_server}/_emulators/woocommerce/stores/check",
            "consumer_key": keys["consumer_key"],
            "consumer_secret": keys["consumer_secret"],
        },
        headers=seller.csrf(),
    )
    assert created.status_code == 201, created.text
    return _connection(seller, live_server, created.json()["id"])


def _carrier(seller: Browser, live_server: str, carrier: str) -> dict[str, Any]:
    created = seller.client.post(
        f"{live_server}/api/v1/carriers/{carrier}/credentials",
        json=FEDEX if carrier == "fedex" else DHL,
        headers=seller.csrf(),
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


# (provider, connect, the emulator, the endpoint the check reads, how the provider refuses)
# The carriers refuse for good when the credentials themselves stop working (the secret key
# regenerated at FedEx / DHL): their tokens are then revoked and a new one is refused.
CASES = {
    "amazon_spapi": (_spapi, "amazon", "marketplace_participations", None),
    "amazon_ads": (_ads, "amazon", "ads_profiles", None),
    "shopify": (_shopify, "shopify", "shop", None),
    "woocommerce": (_woocommerce, "woocommerce", "system_status", None),
    "fedex": (
        lambda s, u: _carrier(s, u, "fedex"),
        "fedex",
        "track",
        {"clients": {"fedex-emulator-client": "regenerated-secret-key"}},
    ),
    "dhl": (
        lambda s, u: _carrier(s, u, "dhl"),
        "dhl",
        "track",
        {"clients": {"dhl-emulator-client": "regenerated-secret-key"}},
    ),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_valid_token_is_accepted_by_the_provider(
    seller: Browser, live_server: str, provider: str
) -> None:
    connect, emulator, endpoint, _ = CASES[provider]
    connection = connect(seller, live_server)
    before = _stats(live_server, emulator)[endpoint]
    answer = _check(seller, live_server, connection["id"])
    assert answer["ok"] is True and answer["result"] == "accepted", answer
    assert answer["status"] == "connected" and answer["provider_status"] == 200
    assert _stats(live_server, emulator)[endpoint] == before + 1  # the provider was asked
    (event,) = _checks_audited(seller, live_server)
    assert event["target_id"] == connection["id"] and event["data"]["result"] == "accepted"


@pytest.mark.parametrize("provider", list(CASES))
def test_token_refused_at_the_provider_needs_reauth(
    seller: Browser, live_server: str, provider: str
) -> None:
    connect, emulator, _, credentials_revoked = CASES[provider]
    connection = connect(seller, live_server)
    if credentials_revoked is not None:
        _admin(live_server, emulator, "config", credentials_revoked)
    _admin(live_server, emulator, "revoke")
    answer = _check(seller, live_server, connection["id"])
    assert answer["ok"] is False and answer["result"] == "refused", answer
    assert answer["status"] == "needs_reauth"
    assert "refused" in answer["detail"]
    after = _connection(seller, live_server, connection["id"])
    assert after["status"] == "needs_reauth" and after["status_reason"]
    (event,) = _checks_audited(seller, live_server)
    assert event["data"]["result"] == "refused"
    assert event["data"]["status_before"] == "connected"
    assert event["data"]["status"] == "needs_reauth"
    # Only connecting again brings it back: a second check does not call the provider.
    calls = _stats(live_server, emulator)
    again = _check(seller, live_server, connection["id"])
    assert again["ok"] is False and again["result"] == "not_checked"
    assert again["status"] == "needs_reauth" and again["provider_status"] is None
    assert _stats(live_server, emulator) == calls


def test_a_revoked_carrier_token_is_replaced_with_the_stored_credentials(
    seller: Browser, live_server: str
) -> None:
    """The issue's case: FedEx revoked the token. FedEx has no refresh token; the credentials
    still work, so the refused token is replaced and the check passes — asked live."""
    connection = _carrier(seller, live_server, "fedex")
    before = _stats(live_server, "fedex")
    _admin(live_server, "fedex", "revoke")
    answer = _check(seller, live_server, connection["id"])
    assert answer["ok"] is True and answer["status"] == "connected", answer
    after = _stats(live_server, "fedex")
    assert after["track"] == before["track"] + 2  # refused, then accepted with the new token
    assert after["token"] == before["token"] + 1  # one new token, from the stored credentials


# (provider, the read's endpoint, the failure injected; 4 times 429 outlasts the client's 3 retries)
TRANSIENT = [
    ("amazon_spapi", "marketplace_participations", 500, 1),
    ("amazon_ads", "ads_profiles", 429, 4),
    ("shopify", "shop", 503, 1),
    ("woocommerce", "system_status", 500, 1),
    ("fedex", "track", 503, 1),
    ("dhl", "track", 429, 4),
]


@pytest.mark.parametrize(("provider", "endpoint", "status", "count"), TRANSIENT)
def test_provider_outage_is_transient_and_changes_nothing(
    seller: Browser, live_server: str, provider: str, endpoint: str, status: int, count: int
) -> None:
    connect, emulator, _, _ = CASES[provider]
    connection = connect(seller, live_server)
    _admin(
        live_server,
        emulator,
        "config",
        {"fail": {"endpoint": endpoint, "status": status, "count": count}},
    )
    answer = _check(seller, live_server, connection["id"])  # 200 from us, never a 5xx
    assert answer["ok"] is False and answer["result"] == "unavailable", answer
    assert answer["status"] == "connected" and answer["provider_status"] == status
    assert "try again" in answer["detail"]
    after = _connection(seller, live_server, connection["id"])
    assert after["status"] == "connected" and after["status_reason"] is None
    assert after["updated_at"] == connection["updated_at"]  # the row was not touched
    again = _check(seller, live_server, connection["id"])  # the provider is back
    assert again["ok"] is True and again["status"] == "connected", again


def test_unknown_and_foreign_connections_are_404(seller: Browser, live_server: str) -> None:
    missing = seller.client.post(
        f"{live_server}/api/v1/connections/01890000-0000-7000-8000-000000000000/test",
        headers=seller.csrf(),
    )
    assert missing.status_code == 404


async def test_another_organizations_connection_is_404(
    seller: Browser, live_server: str, runtime: Runtime
) -> None:
    connection = _carrier(seller, live_server, "dhl")
    other = await make_tenant(runtime, "Elsewhere")
    async with httpx.AsyncClient(timeout=15) as http:
        response = await http.post(
            f"{live_server}/api/v1/connections/{connection['id']}/test", headers=other.headers
        )
    assert response.status_code == 404, response.text
    assert _checks_audited(seller, live_server) == []


# -- the command line -----------------------------------------------------------------------------


def _cli(
    settings: Settings, database_url: str, live_server: str, *args: str
) -> subprocess.CompletedProcess[str]:
    assert settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": database_url,
        "SELLERHUB_ENCRYPTION_KEYS": settings.encryption_keys.get_secret_value(),
        "SELLERHUB_PUBLIC_URL": live_server,  # the live server's emulators are the providers
        "SELLERHUB_DATA_DIR": str(settings.data_dir),
        "SELLERHUB_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "sellerhub", "connections", "check", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_cli_checks_one_connection_or_an_organization(
    seller: Browser, live_server: str, runtime: Runtime, settings: Settings, database_url: str
) -> None:
    fedex = _carrier(seller, live_server, "fedex")
    dhl = _carrier(seller, live_server, "dhl")
    async with runtime.engine.connect() as conn:
        slug = (await conn.execute(text("SELECT slug FROM organizations"))).scalar_one()

    one = _cli(settings, database_url, live_server, fedex["id"])
    assert one.returncode == 0, one.stderr
    (line,) = _lines(one.stdout)
    assert line["connection_id"] == fedex["id"] and line["provider"] == "fedex"
    assert line["ok"] is True and line["status"] == "connected" and line["result"] == "accepted"

    # DHL's credentials stop working: the organization's check reports it and exits non-zero.
    _admin(live_server, "dhl", "config", DHL_REVOKED)
    _admin(live_server, "dhl", "revoke")
    everything = _cli(settings, database_url, live_server, "--organization", slug)
    assert everything.returncode == 1, everything.stderr
    by_id = {line["connection_id"]: line for line in _lines(everything.stdout)}
    assert set(by_id) == {fedex["id"], dhl["id"]}
    assert by_id[fedex["id"]]["ok"] is True
    assert by_id[dhl["id"]]["ok"] is False and by_id[dhl["id"]]["status"] == "needs_reauth"
    assert by_id[dhl["id"]]["detail"]
    assert _connection(seller, live_server, dhl["id"])["status"] == "needs_reauth"
    events = _checks_audited(seller, live_server)
    assert {e["actor_type"] for e in events} == {"cli"}

    # Without --all the organization's check leaves out what needs reauthorization already.
    active = _cli(settings, database_url, live_server, "--organization", slug)
    assert active.returncode == 0, active.stderr
    assert [line["connection_id"] for line in _lines(active.stdout)] == [fedex["id"]]
    listed = _cli(settings, database_url, live_server, "--organization", slug, "--all")
    assert listed.returncode == 1
    assert {line["connection_id"]: line["result"] for line in _lines(listed.stdout)} == {
        fedex["id"]: "accepted",
        dhl["id"]: "not_checked",
    }


def test_cli_refuses_what_it_cannot_find(
    live_server: str, settings: Settings, database_url: str
) -> None:
    nothing = _cli(settings, database_url, live_server)
    assert nothing.returncode == 2 and "connection id or --organization" in nothing.stderr
    unknown = _cli(settings, database_url, live_server, "--organization", "no-such-organization")
    assert unknown.returncode == 2 and "no-such-organization" in unknown.stderr
    missing = _cli(settings, database_url, live_server, "01890000-0000-7000-8000-000000000000")
    assert missing.returncode == 2 and "not found" in missing.stderr


DHL_REVOKED = {"clients": {"dhl-emulator-client": "regenerated-secret-key"}}
