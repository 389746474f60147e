"""Silent Connect onboarding, end to end over real HTTP: the seller connects Amazon (live
server, Amazon emulator), the onboarding job creates the Stripe account once (also when it runs
twice, or when Stripe's answer was lost), the seller follows a fresh Account Link to the
emulator's hosted onboarding, ``account.updated`` (signed, from the emulator) enables it;
requirements due again, events late or duplicated, roles and another organization."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.billing import flows
from sellerhub.billing.connect import service as connect
from sellerhub.billing.stripe.client import client_of
from sellerhub.billing.stripe.errors import StripeUnavailable
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.organizations.models import Role
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.conftest import make_tenant
from tests.stripe_helpers import (
    admin,
    drain,
    event_statuses,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")

CONNECT = "/api/v1/billing/connect"
SECRET = {"Authorization": "Bearer sk_test_sellerhub_emulator"}


@pytest.fixture(autouse=True)
def _reset_amazon(live_server: str) -> Any:
    yield
    httpx.post(f"{live_server}/_emulators/amazon/_admin/reset", timeout=5)


def _connect_amazon(browser: Browser, marketplaces: str = "A1F83G8C2ARO7P") -> str:
    start = browser.client.get("/api/v1/connections/amazon-sp/authorize?next=/done")
    assert start.status_code == 200, start.text
    page = browser.get(start.json()["auth_url"])
    overrides = {"marketplace_ids": marketplaces}
    back = browser.submit(page, ("decision", "approve"), follow=False, overrides=overrides)
    assert browser.get(back.headers["location"], follow=False).status_code == 302
    (connection,) = [
        c
        for c in browser.client.get("/api/v1/connections").json()
        if c["provider"] == "amazon_spapi"
    ]
    return str(connection["id"])


def _status(browser: Browser) -> dict[str, Any]:
    answer = browser.client.get(CONNECT)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _accounts(live_server: str, organization_id: str | None = None) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{live_server}/_emulators/stripe/v1/accounts", params={"limit": 100}, headers=SECRET
    )
    assert answer.status_code == 200, answer.text
    rows = list(answer.json()["data"])
    if organization_id is not None:
        rows = [a for a in rows if a["metadata"].get("organization_id") == organization_id]
    return rows


async def _organization(runtime: Runtime, browser: Browser) -> str:
    me = browser.client.get("/api/auth/me")
    assert me.status_code == 200, me.text
    return str(me.json()["organization_id"])


async def _onboard(runtime: Runtime, organization_id: str, connection_id: str) -> None:
    res = jobs.resources()
    assert res.settings is not None
    await flows.onboard_after_amazon(
        res.sessionmaker,
        client_of(res),
        res.settings,
        uuid.UUID(organization_id),
        uuid.UUID(connection_id),
    )


async def test_amazon_connected_then_account_created_once_and_enabled(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    assert _status(seller)["status"] == "not_started"
    connection_id = _connect_amazon(seller)
    await drain(runtime)  # the after-connect jobs, billing onboarding among them
    status = _status(seller)
    assert status["status"] == "verification_needed", status
    assert status["stripe_account_id"].startswith("acct_")
    assert status["country"] == "GB"  # the Amazon marketplace's (amazon.co.uk)
    assert status["requirements_due"] and not status["charges_enabled"]
    organization_id = await _organization(runtime, seller)
    (account,) = _accounts(live_server, organization_id)
    assert account["id"] == status["stripe_account_id"]
    assert account["controller"]["fees"]["payer"] == "application"
    assert account["controller"]["losses"]["payments"] == "application"
    assert account["controller"]["stripe_dashboard"]["type"] == "express"
    assert account["controller"]["requirement_collection"] == "stripe"
    assert account["country"] == "GB" and account["email"]
    assert account["business_profile"]["name"]

    # The job again (at-least-once delivery): nothing more at Stripe.
    await _onboard(runtime, organization_id, connection_id)
    assert len(_accounts(live_server, organization_id)) == 1

    # A fresh link to the hosted onboarding; submitting it enables the account.
    link = seller.client.post(f"{CONNECT}/link", headers=seller.csrf())
    assert link.status_code == 201, link.text
    url = link.json()["url"]
    assert "/_emulators/stripe/" in url
    page = seller.get(url)
    assert page.status_code == 200, page.text
    back = seller.submit(page, ("action", "submit"), follow=False)
    assert back.status_code == 303 and back.headers["location"].endswith("/billing")
    await wait_for_event(runtime, "account.updated")
    await drain(runtime)
    enabled = _status(seller)
    assert enabled["status"] == "enabled", enabled
    assert enabled["charges_enabled"] and enabled["payouts_enabled"]
    assert enabled["details_submitted"] and enabled["requirements_due"] == []

    # The used link sends the browser to our refresh route, which makes a new link.
    again = seller.get(url)
    assert again.status_code == 200, again.text
    assert "onboarding" in str(again.url) and str(again.url) != url
    assert any(r.status_code == 303 and f"{CONNECT}/refresh" in str(r.url) for r in seller.history)


async def test_requirements_due_again_and_late_events(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    _connect_amazon(seller)
    await drain(runtime)
    link = seller.client.post(f"{CONNECT}/link", headers=seller.csrf()).json()["url"]
    seller.submit(seller.get(link), ("action", "submit"), follow=False)
    await wait_for_event(runtime, "account.updated")
    await drain(runtime)
    assert _status(seller)["status"] == "enabled"
    account_id = _status(seller)["stripe_account_id"]
    admin(
        live_server,
        f"accounts/{account_id}/requirements",
        {"currently_due": ["individual.verification.document"]},
    )
    await wait_for_event(runtime, "account.updated", 2)
    await drain(runtime)
    due = _status(seller)
    assert due["status"] == "verification_needed"
    assert due["requirements_due"] == ["individual.verification.document"]
    assert due["charges_enabled"] and not due["payouts_enabled"]
    # The older event (onboarding completed) arrives again, late, under another id: ignored.
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_events (id, source, external_id, topic, payload, headers, "
                "account, status, attempts) SELECT gen_random_uuid(), source, external_id || "
                "'-late', topic, payload, headers, account, 'pending', 0 FROM webhook_events "
                "WHERE topic = 'account.updated' ORDER BY received_at LIMIT 1"
            )
        )
    # ... and the newest again, as Stripe's own duplicate (same id): stored once.
    deliveries = admin(live_server, "deliveries")["deliveries"]
    newest = [d for d in deliveries if d.get("type") == "account.updated"][-1]
    admin(live_server, f"events/{newest['event']}/resend", {})
    await drain(runtime)
    assert _status(seller)["requirements_due"] == ["individual.verification.document"]
    assert {s for s, _ in await event_statuses(runtime, "account.updated")} == {"processed"}
    assert len(await event_statuses(runtime, "account.updated")) == 3


async def test_lost_answer_finds_the_account_instead_of_creating_another(
    runtime: Runtime, live_server: str
) -> None:
    """Stripe created the account but answered 500 (stored under the key, so every retry with
    it replays the 500): the next run looks the account up by its metadata and records it."""
    tenant = await make_tenant(runtime)
    organization_id = str(tenant.organization.id)
    admin(
        live_server,
        "faults",
        {"method": "POST", "path": "/v1/accounts", "mode": "after", "status": 500, "count": 1},
    )
    with pytest.raises(StripeUnavailable):
        await _onboard(runtime, organization_id, str(uuid.uuid4()))
    admin(live_server, "faults", method="DELETE")
    assert len(_accounts(live_server, organization_id)) == 1
    # At once, the attempt may still be answered: the run stands back (the job retries later).
    with pytest.raises(connect.CreationInFlight):
        await _onboard(runtime, organization_id, str(uuid.uuid4()))
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE stripe_accounts SET attempted_at = now() - interval '1 hour'")
        )
    await _onboard(runtime, organization_id, str(uuid.uuid4()))
    (account,) = _accounts(live_server, organization_id)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        row = await connect.account_of(session, tenant.organization.id)
        assert row is not None
        assert row.stripe_account_id == account["id"] and row.attempt == 1
        assert row.country == "US"  # no Amazon connection to tell
    # And again: nothing more.
    await _onboard(runtime, organization_id, str(uuid.uuid4()))
    assert len(_accounts(live_server, organization_id)) == 1


async def test_member_reads_admin_links_other_organization_sees_nothing(
    runtime: Runtime, client: httpx.AsyncClient, seller: Browser
) -> None:
    _connect_amazon(seller)
    await drain(runtime)
    assert _status(seller)["stripe_account_id"]
    member = await make_tenant(runtime, role=Role.MEMBER)
    assert (await client.get(CONNECT, headers=member.headers)).json()["status"] == "not_started"
    refused = await client.post(f"{CONNECT}/link", headers=member.headers)
    assert refused.status_code == 403, refused.text
    assert (await client.get(f"{CONNECT}/refresh", headers=member.headers)).status_code == 403
    stranger = await make_tenant(runtime)
    answer = await client.post(f"{CONNECT}/link", headers=stranger.headers)
    assert answer.status_code == 409 and answer.json()["code"] == "connect-account-not-ready"
    assert (await client.get(CONNECT, headers=stranger.headers)).json()["stripe_account_id"] is None


async def test_two_runs_at_once_make_one_account(runtime: Runtime, live_server: str) -> None:
    tenant = await make_tenant(runtime)
    organization_id = str(tenant.organization.id)
    results = await asyncio.gather(
        _onboard(runtime, organization_id, str(uuid.uuid4())),
        _onboard(runtime, organization_id, str(uuid.uuid4())),
        return_exceptions=True,
    )
    # One created it; the other found it made, or stood back while the attempt was in flight.
    assert all(r is None or isinstance(r, connect.CreationInFlight) for r in results), results
    assert len(_accounts(live_server, organization_id)) == 1


async def test_the_sweep_creates_what_the_job_gave_up_on(
    runtime: Runtime, live_server: str
) -> None:
    """Stripe down for every try of the job (nothing made): the periodic sweep creates the
    account later, once."""
    tenant = await make_tenant(runtime)
    organization_id = str(tenant.organization.id)
    admin(live_server, "faults", {"method": "POST", "path": "/v1/accounts", "count": 20})
    with pytest.raises(StripeUnavailable):
        await _onboard(runtime, organization_id, str(uuid.uuid4()))
    admin(live_server, "faults", method="DELETE")
    assert _accounts(live_server, organization_id) == []
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE stripe_accounts SET attempted_at = now() - interval '1 hour'")
        )
    res = jobs.resources()
    assert res.settings is not None
    created = await connect.create_awaiting(res.sessionmaker, client_of(res), res.settings)
    assert created == 1
    (account,) = _accounts(live_server, organization_id)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        row = await connect.account_of(session, tenant.organization.id)
        assert row is not None and row.stripe_account_id == account["id"] and row.attempt == 2
    assert await connect.create_awaiting(res.sessionmaker, client_of(res), res.settings) == 0
