"""Credit subscriptions whose renewal payment fails, and disputes of credit purchases that the
platform wins or loses, against the live server's Stripe emulator: a failed renewal is
recorded (past_due, the invoice, shown on /credits) and grants nothing; paying the invoice
afterwards grants once and clears it, whatever the order and number of deliveries. A dispute
won gives back what it took (once, repaying the debt first); lost keeps it taken; a close
delivered before the opening takes nothing. The ledger reconciles after each."""

from __future__ import annotations

import uuid
from typing import Any

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
from tests.test_credits_checkout import (
    _buy,
    _package,
    _pay,
    _plan,
    _reconciled,
    _success_page,
    _wallet,
)

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")

STRIPE = {"Authorization": "Bearer sk_test_sellerhub_emulator"}
DECLINES = "pm_card_chargeDeclinedInsufficientFunds"


def _stripe(live_server: str, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    answer = httpx.request(
        method, f"{live_server}/_emulators/stripe{path}", data=data, headers=STRIPE, timeout=10
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def _subscribe(seller: Browser, live_server: str, plan: uuid.UUID) -> dict[str, Any]:
    started = seller.client.post(
        "/api/v1/credits/subscriptions", json={"package_id": str(plan)}, headers=seller.csrf()
    )
    assert started.status_code == 201, started.text
    _pay(seller, started.json()["url"])
    (sub,) = _stripe(live_server, "GET", "/v1/subscriptions")["data"]
    return dict(sub)


def _subscriptions(seller: Browser) -> list[dict[str, Any]]:
    answer = seller.client.get("/api/v1/credits/subscriptions")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _events(live_server: str, topic: str) -> list[str]:
    seen = admin(live_server, "deliveries")["deliveries"]
    return list(dict.fromkeys(d["event"] for d in seen if d["type"] == topic))


async def _resend(live_server: str, event_ids: list[str]) -> None:
    """POST the events again now (the emulator answers after the server's answer: stored
    once, by their id, and marked to be handled again when they were done)."""
    assert event_ids
    for event_id in event_ids:
        admin(live_server, f"events/{event_id}/resend", {})


async def test_a_failed_renewal_is_shown_then_paid_once(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    plan = await _plan(runtime)
    sub = _subscribe(seller, live_server, plan)
    await wait_for_event(runtime, "invoice.paid")
    await drain(runtime)
    assert _wallet(seller)["balance"] == 40

    failed = admin(live_server, f"subscriptions/{sub['id']}/advance", {"payment_method": DECLINES})
    assert failed["status"] == "open"
    await wait_for_event(runtime, "invoice.payment_failed")
    await drain(runtime)
    await _resend(live_server, _events(live_server, "invoice.payment_failed"))  # a duplicate
    await drain(runtime)
    (row,) = _subscriptions(seller)
    assert (row["status"], row["invoices_paid"], row["payment_failed_invoice"]) == (
        "past_due", 1, failed["id"],
    )  # fmt: skip
    assert row["payment_failed_at"] is not None
    assert _wallet(seller)["balance"] == 40  # nothing granted for the failed invoice
    page = seller.client.get("/credits")
    assert page.status_code == 200
    assert "Your last renewal payment failed" in page.text
    assert "No credits were added for it" in page.text

    # The customer's bank lets the retry through: the same invoice is paid.
    paid = _stripe(
        live_server, "POST", f"/v1/invoices/{failed['id']}/pay", {"payment_method": "pm_card_visa"}
    )
    assert paid["status"] == "paid"
    await wait_for_event(runtime, "invoice.paid", 2)
    await drain(runtime)
    # Every event delivered again, the failure last (out of order): nothing changes.
    await _resend(live_server, _events(live_server, "invoice.paid"))
    await _resend(live_server, _events(live_server, "invoice.payment_failed"))
    await drain(runtime)
    (row,) = _subscriptions(seller)
    assert (row["status"], row["invoices_paid"], row["payment_failed_invoice"]) == (
        "active", 2, None,
    )  # fmt: skip
    assert _wallet(seller)["balance"] == 80
    assert "Your last renewal payment failed" not in seller.client.get("/credits").text
    async with runtime.engine.connect() as conn:
        keys = await conn.execute(
            text("SELECT count(*) FROM credit_transfers WHERE idempotency_key = :k"),
            {"k": f"invoice:{failed['id']}"},
        )
        assert keys.scalar_one() == 1
    await _reconciled(runtime)


async def test_a_failure_delivered_after_its_payment_changes_nothing(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    plan = await _plan(runtime)
    admin(live_server, "config", {"delivery": "hold"})
    sub = _subscribe(seller, live_server, plan)
    failed = admin(live_server, f"subscriptions/{sub['id']}/advance", {"payment_method": DECLINES})
    _stripe(live_server, "POST", f"/v1/invoices/{failed['id']}/pay",
            {"payment_method": "pm_card_visa"})  # fmt: skip
    # A newer renewal fails too, then the older failure arrives last.
    newer = admin(live_server, f"subscriptions/{sub['id']}/advance", {"payment_method": DECLINES})
    held = admin(live_server, "deliveries")["held"]
    admin(live_server, "deliver", {"events": held, "order": "reversed"})
    await wait_for_event(runtime, "invoice.paid", 2)
    await drain(runtime)
    (row,) = _subscriptions(seller)
    assert (row["status"], row["invoices_paid"], row["payment_failed_invoice"]) == (
        "past_due", 2, newer["id"],
    )  # fmt: skip
    assert _wallet(seller)["balance"] == 80
    await _reconciled(runtime)


async def _organization(runtime: Runtime, checkout_session_id: str) -> uuid.UUID:
    async with runtime.engine.connect() as db:
        found = await db.execute(
            text("SELECT organization_id FROM credit_purchases WHERE checkout_session_id = :cs"),
            {"cs": checkout_session_id},
        )
        return uuid.UUID(str(found.scalar_one()))


async def _debt(runtime: Runtime, organization_id: uuid.UUID) -> int:
    async with runtime.sessionmaker() as session:
        return await purchases.debt(await service.raw_connection(session), organization_id)


async def test_a_dispute_won_gives_back_what_it_took_repaying_the_debt_first(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    package_id = await _package(runtime, credits=100, price=1000)
    bought = _buy(seller, package_id)
    _pay(seller, bought["url"])
    _success_page(seller, bought["checkout_session_id"])
    org = await _organization(runtime, bought["checkout_session_id"])
    spent = seller.client.post(
        "/api/cross-app/credits/consume",
        json={"amount": 70, "service": "test", "idempotency_key": "spend-70"},
        headers=seller.csrf(),
    )
    assert spent.status_code == 201, spent.text
    charge = next(c for c in admin(live_server, "charges")["charges"] if c["amount"] == 1000)
    dispute = admin(live_server, "dispute", {"charge": charge["id"]})
    await wait_for_event(runtime, "charge.dispute.created")
    await drain(runtime)
    assert _wallet(seller)["balance"] == 0
    assert await _debt(runtime, org) == 70
    assert _success_page(seller, bought["checkout_session_id"])["reversed_credits"] == 100

    admin(live_server, "dispute", {"dispute": dispute["id"], "status": "won"})
    await wait_for_event(runtime, "charge.dispute.closed")
    await drain(runtime)
    await _resend(live_server, _events(live_server, "charge.dispute.closed"))
    await _resend(live_server, _events(live_server, "charge.dispute.created"))
    await drain(runtime)
    # 100 back: 70 repay the debt, 30 are in the wallet again (as before the dispute).
    assert _wallet(seller)["balance"] == 30
    assert await _debt(runtime, org) == 0
    assert _success_page(seller, bought["checkout_session_id"])["reversed_credits"] == 0
    async with runtime.engine.connect() as conn:
        moves = await conn.execute(
            text(
                "SELECT idempotency_key, amount FROM credit_transfers"
                " WHERE idempotency_key LIKE 'dispute%' ORDER BY idempotency_key"
            )
        )
        assert moves.all() == [
            (f"dispute-won:{dispute['id']}", 100),
            (f"dispute-won:{dispute['id']}:repay", 70),
            (f"dispute:{dispute['id']}:debt", 70),
            (f"dispute:{dispute['id']}:wallet", 30),
        ]
        status = await conn.execute(
            text("SELECT status FROM stripe_transactions WHERE kind = 'dispute'")
        )
        assert status.scalar_one() == "won"
    await _reconciled(runtime)


async def test_a_dispute_lost_keeps_the_credits_and_a_close_before_the_opening_takes_none(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    package_id = await _package(runtime, credits=100, price=1000)
    lost = _buy(seller, package_id)
    _pay(seller, lost["url"])
    _success_page(seller, lost["checkout_session_id"])
    won = _buy(seller, package_id)
    _pay(seller, won["url"])
    _success_page(seller, won["checkout_session_id"])
    assert _wallet(seller)["balance"] == 200
    first, second = [c for c in admin(live_server, "charges")["charges"] if c["amount"] == 1000]

    dispute = admin(live_server, "dispute", {"charge": first["id"]})
    admin(live_server, "dispute", {"dispute": dispute["id"], "status": "lost"})
    await wait_for_event(runtime, "charge.dispute.closed")
    await drain(runtime)
    assert _wallet(seller)["balance"] == 100

    # The second dispute is opened and won, its events delivered newest first.
    admin(live_server, "config", {"delivery": "hold"})
    other = admin(live_server, "dispute", {"charge": second["id"]})
    admin(live_server, "dispute", {"dispute": other["id"], "status": "won"})
    held = admin(live_server, "deliveries")["held"]
    admin(live_server, "deliver", {"events": held, "order": "reversed"})
    await wait_for_event(runtime, "charge.dispute.closed", 2)
    await wait_for_event(runtime, "charge.dispute.created", 2)
    await drain(runtime)
    assert _wallet(seller)["balance"] == 100
    async with runtime.engine.connect() as conn:
        moves = await conn.execute(
            text("SELECT count(*) FROM credit_transfers WHERE idempotency_key LIKE :k"),
            {"k": f"%{other['id']}%"},
        )
        assert moves.scalar_one() == 0
        rows = await conn.execute(
            text("SELECT dispute_id, status, taken, regranted FROM credit_disputes ORDER BY status")
        )
        assert rows.all() == [(dispute["id"], "lost", 100, 0), (other["id"], "won", 0, 0)]
    await _reconciled(runtime)


async def test_a_package_with_an_expiry_grants_expiring_credits_and_a_won_dispute_keeps_it(
    seller: Browser, runtime: Runtime, live_server: str
) -> None:
    package_id = await _package(runtime, credits=100, price=1000)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE credit_packages SET grant_expires_days = 30 WHERE id = :id"),
            {"id": package_id},
        )
    bought = _buy(seller, package_id)
    _pay(seller, bought["url"])
    _success_page(seller, bought["checkout_session_id"])
    await wait_for_event(runtime, "checkout.session.completed")
    await drain(runtime)  # fulfilled once: one lot
    (soon,) = _wallet(seller)["expiring"]
    assert soon["credits"] == 100
    assert "100 credits expire on" in seller.client.get("/credits").text
    charge = next(c for c in admin(live_server, "charges")["charges"] if c["amount"] == 1000)
    dispute = admin(live_server, "dispute", {"charge": charge["id"]})
    await wait_for_event(runtime, "charge.dispute.created")
    await drain(runtime)
    assert _wallet(seller)["expiring"] == []  # the dispute took the lot's credits
    admin(live_server, "dispute", {"dispute": dispute["id"], "status": "won"})
    await wait_for_event(runtime, "charge.dispute.closed")
    await drain(runtime)
    wallet = _wallet(seller)
    assert wallet["balance"] == 100
    assert wallet["expiring"] == [soon]  # given back, expiring when the purchase's did
    async with runtime.engine.connect() as conn:
        count = await conn.execute(text("SELECT count(*) FROM credit_lots"))
        assert count.scalar_one() == 2
    await _reconciled(runtime)
