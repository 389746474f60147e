"""Connections end to end over real HTTP, through the live server and its emulators: Amazon
SP-API website authorization, FedEx and DHL credentials, the proxy with refresh on 401,
revocation ending in needs_reauth, and the 200-callers single flight seen in emulator stats."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from sellerhub.runtime import Runtime
from tests.browser import Browser

APPROVE = ("decision", "approve")
DENY = ("decision", "deny")
MARKETPLACE = "ATVPDKIKX0DER"


@pytest.fixture(autouse=True)
def _reset_emulators(live_server: str) -> Iterator[None]:
    yield
    for provider in ("amazon", "fedex", "dhl"):
        httpx.post(f"{live_server}/_emulators/{provider}/_admin/reset", timeout=5)


def _connect_amazon(
    browser: Browser, live_server: str, decision: tuple[str, str] = APPROVE
) -> httpx.Response:
    start = browser.client.get(live_server + "/api/v1/connections/amazon-sp/authorize?next=/done")
    assert start.status_code == 200, start.text
    assert "/_emulators/amazon/apps/authorize/consent" in start.json()["auth_url"]
    page = browser.get(start.json()["auth_url"])
    assert page.status_code == 200, page.text
    back = browser.submit(page, decision, follow=False)
    assert back.status_code == 302
    return browser.get(back.headers["location"], follow=False)


def _stats(live_server: str, provider: str) -> dict[str, int]:
    body = httpx.get(f"{live_server}/_emulators/{provider}/_admin/stats", timeout=5).json()
    return dict(body["requests"])


def test_amazon_sp_api_consent_journey(seller: Browser, live_server: str) -> None:
    landed = _connect_amazon(seller, live_server)
    assert landed.status_code == 302 and landed.headers["location"] == "/done"
    connections = seller.client.get(live_server + "/api/v1/connections").json()
    assert len(connections) == 1
    connection = connections[0]
    assert connection["provider"] == "amazon_spapi" and connection["status"] == "connected"
    assert connection["external_account_id"]
    assert connection["details"]["region"] == "na"
    assert MARKETPLACE in {m["id"] for m in connection["details"]["marketplaces"]}
    assert "Atz" not in str(connection)
    events = seller.client.get(live_server + "/api/v1/audit-events").json()["items"]
    assert "CHANNEL_CONNECTED" in {e["action"] for e in events}


async def test_follow_up_jobs_are_requested(
    seller: Browser, live_server: str, runtime: Runtime
) -> None:
    _connect_amazon(seller, live_server)
    async with runtime.engine.connect() as conn:
        tasks = {name for (name,) in await conn.execute(text("SELECT task_name FROM job_outbox"))}
    assert {"commerce.fba_sync_after_connect", "connections.billing_onboarding"} <= tasks


async def test_tokens_are_ciphertext(seller: Browser, live_server: str, runtime: Runtime) -> None:
    _connect_amazon(seller, live_server)
    async with runtime.engine.connect() as conn:
        access, refresh = (
            await conn.execute(text("SELECT access_token, refresh_token FROM connections"))
        ).one()
    assert access.startswith("v1.") and refresh.startswith("v1.")
    assert "Atza|" not in access and "Atzr|" not in refresh


def test_denied_consent_is_a_readable_error(seller: Browser, live_server: str) -> None:
    result = _connect_amazon(seller, live_server, DENY)
    # A browser goes back to the connections page, which says why in its own words.
    assert result.status_code == 303
    assert result.headers["location"] == "/connections?failed=amazon-denied"
    page = seller.get(result.headers["location"])
    assert "Connection failed: you denied permission on Amazon" in page.text
    assert seller.client.get(live_server + "/api/v1/connections").json() == []
    events = seller.client.get(live_server + "/api/v1/audit-events").json()["items"]
    assert "CHANNEL_CONNECT_FAILED" in {e["action"] for e in events}


def test_proxy_refreshes_on_401_then_revocation_needs_reauth(
    seller: Browser, live_server: str
) -> None:
    _connect_amazon(seller, live_server)
    (connection,) = seller.client.get(live_server + "/api/v1/connections").json()
    url = (
        f"{live_server}/api/v1/connections/{connection['id']}/proxy/fba/inventory/v1/summaries"
        f"?granularityType=Marketplace&granularityId={MARKETPLACE}&marketplaceIds={MARKETPLACE}"
    )
    first = seller.client.get(url)
    assert first.status_code == 200, first.text
    assert "payload" in first.json()
    tokens_before = _stats(live_server, "amazon")["token"]
    httpx.post(f"{live_server}/_emulators/amazon/_admin/expire", timeout=5)
    again = seller.client.get(url)
    assert again.status_code == 200, again.text
    assert _stats(live_server, "amazon")["token"] == tokens_before + 1  # one refresh
    httpx.post(f"{live_server}/_emulators/amazon/_admin/revoke", timeout=5)
    revoked = seller.client.get(url)
    assert revoked.status_code == 409 and revoked.json()["code"] == "connection-needs-reauth"
    (after,) = seller.client.get(live_server + "/api/v1/connections").json()
    assert after["status"] == "needs_reauth" and after["status_reason"]


def test_fedex_credentials_are_checked_and_stored(seller: Browser, live_server: str) -> None:
    url = live_server + "/api/v1/carriers/fedex/credentials"
    good = {
        "client_id": "fedex-emulator-client",
        "client_secret": "fedex-emulator-secret",
        "account_number": "740561073",
    }
    no_csrf = seller.client.post(url, json=good)
    assert no_csrf.status_code == 403
    created = seller.client.post(url, json=good, headers=seller.csrf())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["provider"] == "fedex" and body["external_account_id"] == "740561073"
    assert body["has_secret"] is True and "fedex-emulator-secret" not in created.text
    replaced = seller.client.post(url, json=good, headers=seller.csrf())
    assert replaced.status_code == 200 and replaced.json()["id"] == body["id"]
    wrong = seller.client.post(url, json={**good, "client_secret": "wrong"}, headers=seller.csrf())
    assert wrong.status_code == 422 and wrong.json()["code"] == "credentials-rejected"
    missing = seller.client.post(
        url, json={k: v for k, v in good.items() if k != "account_number"}, headers=seller.csrf()
    )
    assert missing.status_code == 422


def test_carrier_outage_is_a_502_not_a_500(seller: Browser, live_server: str) -> None:
    httpx.post(
        f"{live_server}/_emulators/dhl/_admin/config",
        json={"fail": {"endpoint": "token", "status": 503, "count": 1}},
        timeout=5,
    )
    response = seller.client.post(
        live_server + "/api/v1/carriers/dhl/credentials",
        json={"client_id": "dhl-emulator-client", "client_secret": "dhl-emulator-secret"},
        headers=seller.csrf(),
    )
    assert response.status_code == 502 and response.json()["code"] == "provider-unavailable"
    ok = seller.client.post(
        live_server + "/api/v1/carriers/dhl/credentials",
        json={"client_id": "dhl-emulator-client", "client_secret": "dhl-emulator-secret"},
        headers=seller.csrf(),
    )
    assert ok.status_code == 201, ok.text


async def test_expired_token_refreshed_once_under_200_concurrent_callers(
    seller: Browser, live_server: str, runtime: Runtime
) -> None:
    created = seller.client.post(
        live_server + "/api/v1/carriers/fedex/credentials",
        json={
            "client_id": "fedex-emulator-client",
            "client_secret": "fedex-emulator-secret",
            "account_number": "740561073",
        },
        headers=seller.csrf(),
    ).json()
    async with runtime.engine.begin() as conn:  # the stored token has reached its expiry
        await conn.execute(
            text("UPDATE connections SET access_expires_at = now() - interval '1 second'")
        )
    before = _stats(live_server, "fedex")["token"]
    cookies = dict(seller.client.cookies)
    async with httpx.AsyncClient(cookies=cookies, timeout=60) as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{live_server}/api/v1/connections/{created['id']}/test",
                    headers={"X-CSRF-Token": cookies.get("sh_csrf", "")},
                )
                for _ in range(200)
            )
        )
    assert all(a.status_code == 200 and a.json()["ok"] for a in answers)
    assert _stats(live_server, "fedex")["token"] == before + 1


def test_amazon_ads_consent_journey(seller: Browser, live_server: str) -> None:
    start = seller.client.get(live_server + "/api/v1/connections/amazon-ads/authorize?region=na")
    assert start.status_code == 200, start.text
    auth_url = start.json()["auth_url"]
    assert "scope=advertising%3A%3Acampaign_management" in auth_url
    assert "code_challenge_method=S256" in auth_url
    page = seller.get(auth_url)
    back = seller.submit(page, APPROVE, follow=False)
    landed = seller.get(back.headers["location"], follow=False)
    assert landed.status_code == 302, landed.text
    (connection,) = [
        c
        for c in seller.client.get(live_server + "/api/v1/connections").json()
        if c["provider"] == "amazon_ads"
    ]
    assert connection["status"] == "connected" and connection["details"]["profiles"]
    profiles = seller.client.get(
        f"{live_server}/api/v1/connections/{connection['id']}/proxy/v2/profiles"
    )
    assert profiles.status_code == 200, profiles.text
    assert {str(p["profileId"]) for p in profiles.json()} >= {
        connection["details"]["default_profile_id"]
    }


def _fedex(seller: Browser, live_server: str) -> dict[str, str]:
    created = seller.client.post(
        live_server + "/api/v1/carriers/fedex/credentials",
        json={
            "client_id": "fedex-emulator-client",
            "client_secret": "fedex-emulator-secret",
            "account_number": "740561073",
        },
        headers=seller.csrf(),
    )
    assert created.status_code in (200, 201), created.text
    return dict(created.json())


def _track(seller: Browser, live_server: str, connection_id: str) -> httpx.Response:
    return seller.client.post(
        f"{live_server}/api/v1/connections/{connection_id}/proxy/track/v1/trackingnumbers",
        json={
            "includeDetailedScans": False,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": "123456789012"}}],
        },
        headers=seller.csrf(),
    )


def test_429_is_backed_off_and_succeeds(seller: Browser, live_server: str) -> None:
    connection = _fedex(seller, live_server)
    httpx.post(
        f"{live_server}/_emulators/fedex/_admin/config",
        json={"rate_limit": {"endpoint": "track", "per_second": 1, "burst": 1}},
        timeout=5,
    )
    answers = [_track(seller, live_server, connection["id"]) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200], answers[-1].text
    assert _stats(live_server, "fedex")["track"] > 3  # some calls were throttled and retried


def test_breaker_opens_and_recovers(seller: Browser, live_server: str) -> None:
    import time

    connection = _fedex(seller, live_server)
    httpx.post(
        f"{live_server}/_emulators/fedex/_admin/config",
        json={"fail": {"endpoint": "track", "status": 503, "count": 5}},
        timeout=5,
    )
    failing = [_track(seller, live_server, connection["id"]).status_code for _ in range(5)]
    assert failing == [503] * 5  # the provider's own answers, passed through
    calls = _stats(live_server, "fedex")["track"]
    paused = _track(seller, live_server, connection["id"])
    assert paused.status_code == 503 and paused.json()["code"] == "provider-circuit-open"
    assert _stats(live_server, "fedex")["track"] == calls  # the provider was not called
    time.sleep(1.6)  # the live server's cool-down
    probe = _track(seller, live_server, connection["id"])
    assert probe.status_code == 200, probe.text
    assert _track(seller, live_server, connection["id"]).status_code == 200
