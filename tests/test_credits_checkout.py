"""Buying credits through Stripe Checkout against the live server's Stripe emulator: fulfilled
exactly once whether the webhook, the success page or both arrive (in either order or at
once), bank debits settled or failed, a refund after the credits were spent booked as debt
and repaid by the next purchase, the ledger still reconciled."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from sellerhub.billing.credits import purchases, service
from sellerhub.runtime import Runtime
from tests.browser import Browser
from tests.stripe_helpers import (
    admin,
    drain,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)
from tests.test_credits_api import _no_packages  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")


async def _package(runtime: Runtime, credits: int = 100, price: int = 1000) -> uuid.UUID:
    package_id = uuid.uuid4()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO credit_packages (id, name, credits, price_minor, currency, active)"
                " VALUES (:id, :name, :credits, :price, 'USD', true)"
            ),
            {"id": package_id, "name": f"{credits} credits", "credits": credits, "price": price},
        )
    return package_id


def _buy(seller: Browser, package_id: uuid.UUID) -> dict[str, Any]:
    answer = seller.client.post(
        "/api/v1/credits/purchase", json={"package_id": str(package_id)}, headers=seller.csrf()
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _pay(seller: Browser, url: str, method: str = "pm_card_visa") -> str:
    page = seller.get(url)
    assert page.status_code == 200, page.text
    back = seller.submit(
        page, ("action", "pay"), follow=False, overrides={"payment_method": method}
    )
    assert back.status_code == 303, back.text
    return str(back.headers["location"])


def _wallet(seller: Browser) -> dict[str, Any]:
    answer = seller.client.get("/api/v1/credits")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _success_page(seller: Browser, cs_id: str) -> dict[str, Any]:
    answer = seller.client.get(f"/api/v1/credits/purchases/{cs_id}", params={"fulfil": "true"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _reconciled(runtime: Runtime) -> None:
    async with runtime.sessionmaker() as session:
        report = await service.reconcile(await service.raw_connection(session))
        assert report.ok, report


@pytest.mark.parametrize("order", ["webhook_first", "page_first", "together"])
async def test_one_session_fulfilled_once(seller: Browser, runtime: Runtime, order: str) -> None:
    package_id = await _package(runtime)
    bought = _buy(seller, package_id)
    back = _pay(seller, bought["url"])
    assert parse_qs(urlsplit(back).query)["session_id"] == [bought["checkout_session_id"]]
    await wait_for_event(runtime, "checkout.session.completed")
    cs_id = bought["checkout_session_id"]
    if order == "webhook_first":
        await drain(runtime)
        assert _success_page(seller, cs_id)["status"] == "paid"
    elif order == "page_first":
        assert _success_page(seller, cs_id)["status"] == "paid"
        await drain(runtime)
    else:
        loop = asyncio.get_running_loop()
        page = loop.run_in_executor(None, _success_page, seller, cs_id)
        await asyncio.gather(drain(runtime), page)
    assert _success_page(seller, cs_id)["status"] == "paid"
    assert _wallet(seller)["balance"] == 100
    async with runtime.engine.connect() as conn:
        grants = await conn.execute(
            text("SELECT count(*) FROM credit_transfers WHERE idempotency_key = :k"),
            {"k": f"checkout:{cs_id}"},
        )
        assert grants.scalar_one() == 1
        money = await conn.execute(
            text("SELECT count(*) FROM stripe_transactions WHERE kind = 'charge'")
        )
        assert money.scalar_one() >= 1
    await _reconciled(runtime)


async def test_bank_debit_succeeds_or_fails(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    package_id = await _package(runtime, credits=50, price=500)
    ok = _buy(seller, package_id)
    _pay(seller, ok["url"], "async_succeeds")
    bad = _buy(seller, package_id)
    _pay(seller, bad["url"], "async_fails")
    await wait_for_event(runtime, "checkout.session.completed", 2)
    await drain(runtime)
    assert _success_page(seller, ok["checkout_session_id"])["status"] == "processing"
    assert _wallet(seller)["balance"] == 0
    admin(live_server, f"checkout/{ok['checkout_session_id']}/settle", {})
    admin(live_server, f"checkout/{bad['checkout_session_id']}/settle", {})
    await wait_for_event(runtime, "checkout.session.async_payment_succeeded")
    await wait_for_event(runtime, "checkout.session.async_payment_failed")
    await drain(runtime)
    assert _success_page(seller, ok["checkout_session_id"])["status"] == "paid"
    assert _success_page(seller, bad["checkout_session_id"])["status"] == "failed"
    assert _wallet(seller)["balance"] == 50
    await _reconciled(runtime)


async def test_refund_after_spending_is_debt_repaid_by_the_next_purchase(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    package_id = await _package(runtime)
    first = _buy(seller, package_id)
    _pay(seller, first["url"])
    await wait_for_event(runtime, "checkout.session.completed")
    await drain(runtime)
    spent = seller.client.post(
        "/api/cross-app/credits/consume",
        json={"amount": 70, "service": "test", "idempotency_key": "spend-70"},
        headers=seller.csrf(),
    )
    assert spent.status_code == 201, spent.text
    charges = admin(live_server, "charges")
    charge = next(c for c in charges["charges"] if c["amount"] == 1000)
    admin(live_server, "refund", {"charge": charge["id"]})
    await wait_for_event(runtime, "charge.refunded")
    await drain(runtime)
    await drain(runtime)  # a second delivery changes nothing
    assert _wallet(seller)["balance"] == 0
    async with runtime.engine.connect() as db:
        found = await db.execute(
            text("SELECT organization_id FROM credit_purchases WHERE checkout_session_id = :cs"),
            {"cs": first["checkout_session_id"]},
        )
        org = found.scalar_one()
    async with runtime.sessionmaker() as session:
        assert await purchases.debt(await service.raw_connection(session), org) == 70
    second = _buy(seller, package_id)
    _pay(seller, second["url"])
    _success_page(seller, second["checkout_session_id"])
    assert _wallet(seller)["balance"] == 30
    async with runtime.sessionmaker() as session:
        assert await purchases.debt(await service.raw_connection(session), org) == 0
    await _reconciled(runtime)


async def test_purchase_refusals(seller: Browser, runtime: Runtime) -> None:
    package_id = await _package(runtime)
    foreign = seller.client.post(
        "/api/v1/credits/purchase",
        json={"package_id": str(package_id), "success_url": "https://evil.example/x"},
        headers=seller.csrf(),
    )
    assert foreign.status_code == 422, foreign.text
    assert foreign.json()["code"] == "redirect-not-allowed"
    missing = seller.client.post(
        "/api/v1/credits/purchase", json={"package_id": str(uuid.uuid4())}, headers=seller.csrf()
    )
    assert missing.status_code == 404, missing.text
    both = seller.client.post(
        "/api/v1/credits/purchase",
        json={"package_id": str(package_id), "amount": 5},
        headers=seller.csrf(),
    )
    assert both.status_code == 422, both.text
    other = seller.client.get(f"/api/v1/credits/purchases/cs_test_{uuid.uuid4().hex}")
    assert other.status_code == 404


async def _plan(runtime: Runtime, credits: int = 40) -> uuid.UUID:
    package_id = await _package(runtime, credits=credits, price=900)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE credit_packages SET interval = 'month' WHERE id = :id"),
            {"id": package_id},
        )
    return package_id


async def test_subscription_grants_once_per_invoice_in_any_order(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    plan = await _plan(runtime)
    admin(live_server, "config", {"delivery": "hold"})
    started = seller.client.post(
        "/api/v1/credits/subscriptions", json={"package_id": str(plan)}, headers=seller.csrf()
    )
    assert started.status_code == 201, started.text
    _pay(seller, started.json()["url"])
    async with httpx.AsyncClient(timeout=10) as http:
        listing = await http.get(
            f"{live_server}/_emulators/stripe/v1/subscriptions",
            headers={"Authorization": "Bearer sk_test_sellerhub_emulator"},
        )
    subs = listing.json()["data"]
    (sub,) = subs
    admin(live_server, f"subscriptions/{sub['id']}/advance", {})
    admin(live_server, f"subscriptions/{sub['id']}/advance", {})
    held = admin(live_server, "deliveries")["held"]
    # Everything delivered newest first (invoice.paid before checkout.session.completed)...
    admin(live_server, "deliver", {"events": held, "order": "reversed"})
    await wait_for_event(runtime, "invoice.paid", 3)
    await drain(runtime)
    # ... and every invoice.paid delivered again.
    paid = [
        d["event"]
        for d in admin(live_server, "deliveries")["deliveries"]
        if d["type"] == "invoice.paid"
    ]
    assert len(set(paid)) == 3
    async with httpx.AsyncClient(timeout=10) as http:
        for event_id in set(paid):
            await http.post(f"{live_server}/_emulators/stripe/_admin/events/{event_id}/resend")
    await asyncio.sleep(0.5)
    await drain(runtime)
    assert _wallet(seller)["balance"] == 120
    listed = seller.client.get("/api/v1/credits/subscriptions").json()
    assert [(s["status"], s["invoices_paid"], s["stripe_subscription_id"]) for s in listed] == [
        ("active", 3, sub["id"])
    ]
    async with runtime.engine.connect() as conn:
        keys = await conn.execute(
            text("SELECT count(*) FROM credit_transfers WHERE idempotency_key LIKE 'invoice:%'")
        )
        assert keys.scalar_one() == 3
    cancelled = seller.client.delete(
        f"/api/v1/credits/subscriptions/{listed[0]['id']}", headers=seller.csrf()
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "canceled"
    assert _wallet(seller)["balance"] == 120
    await _reconciled(runtime)


async def test_cross_app_purchase_of_an_amount(seller: Browser, runtime: Runtime) -> None:
    """The seed's path for the organization's own user: ``amount`` credits priced at the
    smallest package's unit price (rounded up), back to sellerhub's /credits."""
    await _package(runtime, credits=100, price=999)
    answer = seller.client.post(
        "/api/cross-app/credits/purchase", json={"amount": 30}, headers=seller.csrf()
    )
    assert answer.status_code == 201, answer.text
    bought = answer.json()
    back = _pay(seller, bought["url"])
    assert urlsplit(back).path == "/credits"
    status = _success_page(seller, bought["checkout_session_id"])
    assert (status["status"], status["credits"], status["amount_minor"]) == ("paid", 30, 300)
    await wait_for_event(runtime, "checkout.session.completed")
    await drain(runtime)
    assert _wallet(seller)["balance"] == 30
    await _reconciled(runtime)


async def test_partial_refund_and_dispute_take_back_their_share(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    """A 30.5 % refund takes back floor(100 * 0.305) = 30 credits;
    a dispute then takes back the remaining 70."""
    package_id = await _package(runtime, credits=100, price=1000)
    bought = _buy(seller, package_id)
    _pay(seller, bought["url"])
    _success_page(seller, bought["checkout_session_id"])
    charge = next(c for c in admin(live_server, "charges")["charges"] if c["amount"] == 1000)
    admin(live_server, "refund", {"charge": charge["id"], "amount": 305})
    await wait_for_event(runtime, "charge.refunded")
    await drain(runtime)
    assert _wallet(seller)["balance"] == 70
    assert _success_page(seller, bought["checkout_session_id"])["reversed_credits"] == 30
    admin(live_server, "dispute", {"charge": charge["id"]})
    await wait_for_event(runtime, "charge.dispute.created")
    await drain(runtime)
    assert _wallet(seller)["balance"] == 0
    assert _success_page(seller, bought["checkout_session_id"])["reversed_credits"] == 100
    async with runtime.engine.connect() as conn:
        kinds = await conn.execute(
            text("SELECT kind, count(*) FROM stripe_transactions GROUP BY kind ORDER BY kind")
        )
        assert dict(kinds.all()) == {"charge": 1, "dispute": 1, "refund": 1}
    await _reconciled(runtime)


async def test_an_expired_session_grants_nothing(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    package_id = await _package(runtime)
    bought = _buy(seller, package_id)
    async with httpx.AsyncClient(timeout=10) as http:
        expired = await http.post(
            f"{live_server}/_emulators/stripe/v1/checkout/sessions/"
            f"{bought['checkout_session_id']}/expire",
            headers={"Authorization": "Bearer sk_test_sellerhub_emulator"},
        )
    assert expired.status_code == 200, expired.text
    await wait_for_event(runtime, "checkout.session.expired")
    await drain(runtime)
    status = seller.client.get(f"/api/v1/credits/purchases/{bought['checkout_session_id']}")
    assert status.json()["status"] == "expired"
    assert _success_page(seller, bought["checkout_session_id"])["status"] == "expired"
    assert _wallet(seller)["balance"] == 0


async def test_a_refund_before_the_payment_is_applied_waits(
    seller: Browser, runtime: Runtime
) -> None:
    """Events out of order: a refund of a purchase still processing is not applied (nor marked
    done unseen); it raises so the webhook event stays pending for the re-drive."""
    package_id = await _package(runtime, credits=50, price=500)
    bought = _buy(seller, package_id)
    _pay(seller, bought["url"], "async_succeeds")
    await wait_for_event(runtime, "checkout.session.completed")
    await drain(runtime)
    async with runtime.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT payment_intent_id FROM credit_purchases WHERE checkout_session_id = :c"),
            {"c": bought["checkout_session_id"]},
        )
        intent = found.scalar_one()
    charge = {"id": "ch_early", "payment_intent": intent, "amount": 500, "amount_refunded": 500}
    async with runtime.sessionmaker() as session:
        with pytest.raises(purchases.NotFulfilledYet):
            await purchases.reverse_refund(session, charge, source="test")
        await session.rollback()
