"""The commission on a recovery, end to end over real HTTP: the live server (``sellerhub
serve`` with the Stripe emulator mounted) on the test database, the charging code driven from
here with a Stripe client pointed at that emulator, Stripe's webhooks stored by the live server
and drained here. Counted at the emulator: a recovery is charged once — when the request comes
twice, when workers race, when Stripe answered and we never recorded it, when Stripe failed
before or after running it."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from sqlalchemy import func, select, text

from sellerhub.billing.commissions import charge, service, tasks
from sellerhub.billing.commissions import events as commission_events
from sellerhub.billing.commissions.models import Commission
from sellerhub.billing.commissions.repository import CommissionRepository
from sellerhub.billing.commissions.rules import CommissionState as S
from sellerhub.billing.customers.models import StripeCustomer, StripePaymentMethod
from sellerhub.billing.stripe.client import StripeConfig, build
from sellerhub.billing.transactions.models import StripeTransaction, TransactionAudit
from sellerhub.commerce.claims.models import Claim, Recovery
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.identity.organizations.models import Role
from sellerhub.jobs import app as jobs
from sellerhub.jobs.models import OutboxJob
from sellerhub.mail.models import OutboundMail
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from sellerhub.webhooks.models import WebhookEvent
from sellerhub_emulators.stripe import SECRET_KEY
from tests.conftest import Tenant, make_tenant, remember_secret
from tests.test_claims_workflow import (
    commission_requests,
    detect,
    lost,
    paid,
    recoveries_of,
    reimburse,
)
from tests.test_cross_app import World, bearer, register, world  # noqa: F401 - fixture

remember_secret(SECRET_KEY, "4242424242424242", "4000002760003184", "4000000000009995")


@dataclass
class Stripe:
    base: str
    sdk: stripe.StripeClient
    admin: httpx.AsyncClient

    async def summary(self) -> dict[str, Any]:
        answer = await self.admin.get("/summary", params={"metadata_key": "recovery_id"})
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    async def fault(self, mode: str, *, status: int = 500, count: int = 1) -> None:
        rule = {
            "method": "POST",
            "path": "/v1/payment_intents",
            "mode": mode,
            "status": status,
            "count": count,
        }
        (await self.admin.post("/faults", json=rule)).raise_for_status()


@pytest.fixture
async def emulator(live_server: str) -> AsyncIterator[Stripe]:
    base = f"{live_server}/_emulators/stripe"
    async with httpx.AsyncClient(base_url=f"{base}/_admin", timeout=10) as admin:
        (await admin.post("/reset")).raise_for_status()
        sdk = build(
            StripeConfig(
                api_base=base, secret_key=SECRET_KEY, timeout_seconds=10, max_network_retries=0
            )
        )
        yield Stripe(base, sdk, admin)
        await admin.delete("/faults")


@pytest.fixture
async def seller(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "Seller Co")


async def save_card(
    runtime: Runtime, emulator: Stripe, tenant: Tenant, test_card: str = "pm_card_visa"
) -> str:
    """A customer at the emulator with ``test_card`` attached, stored as the default card."""
    organization_id = tenant.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        customer = (await session.execute(select(StripeCustomer))).scalar_one_or_none()
        if customer is None:
            made = await emulator.sdk.v1.customers.create_async({"email": "seller@example.com"})
            customer = StripeCustomer(organization_id=organization_id, stripe_customer_id=made.id)
            session.add(customer)
        for old in (await session.execute(select(StripePaymentMethod))).scalars():
            old.is_default = False
        await session.flush()
        card = await emulator.sdk.v1.payment_methods.attach_async(
            test_card, {"customer": customer.stripe_customer_id}
        )
        session.add(
            StripePaymentMethod(
                organization_id=organization_id,
                stripe_payment_method_id=card.id,
                stripe_customer_id=customer.stripe_customer_id,
                set_up_at=utcnow(),
                brand="visa",
                last4="4242",
                exp_month=12,
                exp_year=2030,
                is_default=True,
            )
        )
    return str(card.id)


async def recovery(runtime: Runtime, tenant: Tenant, amount: int = 12_345) -> uuid.UUID:
    """A claim reimbursed by Amazon: its recovery (the commission's input)."""
    return await recovery_in(runtime, tenant.organization.id, amount)


async def recovery_in(runtime: Runtime, organization_id: uuid.UUID, amount: int) -> uuid.UUID:
    today = utcnow().date()
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        claim = Claim(
            organization_id=organization_id,
            connection_id=uuid.uuid4(),
            key=uuid.uuid4().hex,
            kind="warehouse_lost",
            quantity=1,
            event_date=today,
            eligible_from=today,
            deadline=today,
            status="reimbursed",
            last_detected_on=today,
        )
        claim.ensure_id()
        session.add(claim)
        await session.flush()
        row = Recovery(
            organization_id=organization_id,
            claim_id=claim.id,
            reimbursement_id=uuid.uuid4().hex[:20],
            kind="reimbursement",
            amount_minor=amount,
            currency="USD",
            quantity=1,
            approved_on=today,
            matched_by="case_id",
        )
        row.ensure_id()
        session.add(row)
    return row.id


async def request(
    runtime: Runtime, emulator: Stripe, tenant: Tenant, recovery_id: uuid.UUID
) -> Commission:
    return await charge.request(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        tenant.organization.id,
        recovery_id,
    )


async def commission_of(runtime: Runtime, recovery_id: uuid.UUID) -> Commission:
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            query = select(Commission).where(Commission.recovery_id == recovery_id)
            row: Commission = (await session.execute(query)).scalar_one()
        return row


async def ledger(runtime: Runtime, tenant: Tenant) -> list[StripeTransaction]:
    async with runtime.sessionmaker() as session:
        set_tenant(session, tenant.organization.id)
        rows = await session.execute(select(StripeTransaction).order_by(StripeTransaction.id))
        return list(rows.scalars())


async def notices(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.sessionmaker() as session:
        rows = await session.execute(
            select(OutboxJob.payload).where(OutboxJob.task_name == service.NOTICE_TASK)
        )
        return [dict(p) for p in rows.scalars()]


async def charged(emulator: Stripe, recovery_id: uuid.UUID) -> int:
    """Succeeded PaymentIntents for the recovery, counted at the emulator."""
    return int((await emulator.summary())["counts"].get(str(recovery_id), 0))


async def stored_events(runtime: Runtime, at_least: int, within: float = 10) -> int:
    """Wait until the live server stored at least ``at_least`` Stripe events."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with runtime.sessionmaker() as session:
            count = (
                await session.execute(
                    select(func.count())
                    .select_from(WebhookEvent)
                    .where(WebhookEvent.source == "stripe")
                )
            ).scalar_one()
        if count >= at_least or asyncio.get_running_loop().time() > deadline:
            return int(count)
        await asyncio.sleep(0.1)


# --- exactly once -----------------------------------------------------------------------------


async def test_a_recovery_is_charged_once_however_often_it_is_requested(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller, amount=12_345)
    first = await request(runtime, emulator, seller, recovery_id)
    assert first.state is S.SUCCEEDED
    assert (first.amount_minor, first.rate_bps, first.currency) == (2469, 2000, "USD")  # 2469.0
    assert first.attempt == 1 and first.payment_intent_id and first.charge_id
    for _ in range(3):  # the job delivered again, the endpoint called again
        again = await request(runtime, emulator, seller, recovery_id)
        assert again.id == first.id and again.state is S.SUCCEEDED and again.attempt == 1
    assert await charged(emulator, recovery_id) == 1
    intent = await emulator.sdk.v1.payment_intents.retrieve_async(first.payment_intent_id)
    assert intent.metadata["recovery_id"] == str(recovery_id)
    assert intent.metadata["commission_id"] == str(first.id)
    assert intent.metadata["organization_id"] == str(seller.organization.id)
    assert intent.amount == 2469 and intent.currency == "usd"
    [row] = await ledger(runtime, seller)
    assert (row.kind, row.stripe_id, row.amount_minor, row.direction) == (
        "charge",
        first.charge_id,
        2469,
        "in",
    )


async def test_two_workers_racing_charge_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    rows = await asyncio.gather(
        *(request(runtime, emulator, seller, recovery_id) for _ in range(6))
    )
    assert len({r.id for r in rows}) == 1
    assert await charged(emulator, recovery_id) == 1
    assert (await commission_of(runtime, recovery_id)).state is S.SUCCEEDED
    assert (await commission_of(runtime, recovery_id)).attempt == 1


@pytest.mark.parametrize("mode", ["after", "after_drop"])
async def test_stripe_charged_but_the_answer_was_lost(
    runtime: Runtime, emulator: Stripe, seller: Tenant, mode: str
) -> None:
    """Stripe ran the charge, then answered 500 (or dropped the connection): the outcome is
    unknown, the commission stays processing, and the reconciler finds the intent by its
    metadata instead of charging again."""
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    await emulator.fault(mode)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.PROCESSING and row.payment_intent_id is None
    assert row.next_attempt_at is not None
    assert await charged(emulator, recovery_id) == 1  # Stripe did charge
    # Asked again before the outcome is due: nothing sent.
    assert (await request(runtime, emulator, seller, recovery_id)).state is S.PROCESSING
    later = utcnow() + dt.timedelta(seconds=runtime.settings.billing_commission_recheck_seconds + 1)
    state = await charge.charge(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        seller.organization.id,
        row.id,
        now=later,
    )
    assert state is S.SUCCEEDED
    done = await commission_of(runtime, recovery_id)
    assert done.attempt == 1 and done.payment_intent_id and done.charge_id
    assert await charged(emulator, recovery_id) == 1


async def test_the_process_died_after_stripe_answered(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """The attempt was committed and sent, Stripe charged, and the process died before it
    recorded the answer: the next run re-sends nothing new; it finds the charge."""
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, seller.organization.id)
        row, _ = await service.open_commission(
            session,
            runtime.settings,
            organization_id=seller.organization.id,
            recovery_id=recovery_id,
            claim_id=None,
            amount_minor=10_000,
            currency="USD",
        )
        state, taken = await charge._start(session, runtime.settings, row, now=utcnow())
        assert state is S.PROCESSING and taken is not None
    assert taken.key == f"commission:{recovery_id}:1"
    answer = await charge.send(emulator.sdk, taken.params, taken.key)
    assert answer.intent is not None and answer.intent["status"] == "succeeded"
    # ...the process dies here. A worker later (the outcome is overdue):
    later = utcnow() + dt.timedelta(hours=1)
    final = await charge.charge(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        seller.organization.id,
        row.id,
        now=later,
    )
    assert final is S.SUCCEEDED
    assert (await commission_of(runtime, recovery_id)).payment_intent_id == answer.intent["id"]
    assert await charged(emulator, recovery_id) == 1


async def test_a_request_that_never_ran_is_sent_again_under_its_key(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """A 500 before Stripe ran anything (or a 429): unknown; later the search finds nothing,
    so the same attempt is sent again with the same key, and charges once."""
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    await emulator.fault("error", status=429)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.PROCESSING
    assert await charged(emulator, recovery_id) == 0
    later = utcnow() + dt.timedelta(minutes=10)
    state = await charge.charge(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        seller.organization.id,
        row.id,
        now=later,
    )
    assert state is S.SUCCEEDED
    assert (await commission_of(runtime, recovery_id)).attempt == 1
    assert await charged(emulator, recovery_id) == 1


async def test_an_attempt_stripe_never_saw_in_a_day_becomes_a_new_attempt(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    await emulator.fault("error", status=500)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.PROCESSING
    next_day = utcnow() + dt.timedelta(hours=25)
    state = await charge.reconcile(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        seller.organization.id,
        row.id,
        now=next_day,
    )
    assert state is S.PENDING
    final = await charge.charge(
        runtime.sessionmaker, runtime.settings, emulator.sdk, seller.organization.id, row.id
    )
    assert final is S.SUCCEEDED
    assert (await commission_of(runtime, recovery_id)).attempt == 2
    assert await charged(emulator, recovery_id) == 1


# --- declines, SCA, no card, minimum ------------------------------------------------------------


async def test_a_decline_fails_with_stripes_reason_and_is_retried_on_schedule(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    recovery_id = await recovery(runtime, seller)
    before = utcnow()
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.FAILED
    assert (row.failure_code, row.decline_code) == ("card_declined", "insufficient_funds")
    assert row.failure_message and row.failed_attempts == 1
    assert row.next_attempt_at is not None
    assert dt.timedelta(hours=23) < row.next_attempt_at - before < dt.timedelta(hours=25)
    assert [n["notice"] for n in await notices(runtime)] == ["failed"]
    # Not due yet: nothing happens.
    assert (await request(runtime, emulator, seller, recovery_id)).attempt == 1
    days = [1, 3, 7]
    at = row.next_attempt_at
    for n, wait in enumerate(days[1:], start=2):
        state = await charge.charge(
            runtime.sessionmaker,
            runtime.settings,
            emulator.sdk,
            seller.organization.id,
            row.id,
            now=at + dt.timedelta(seconds=1),
        )
        assert state is S.FAILED
        again = await commission_of(runtime, recovery_id)
        assert again.attempt == n and again.failed_attempts == n
        assert again.next_attempt_at is not None
        gap = again.next_attempt_at - (at + dt.timedelta(seconds=1))
        assert dt.timedelta(days=wait) - dt.timedelta(minutes=5) < gap
        assert gap < dt.timedelta(days=wait) + dt.timedelta(minutes=5)
        at = again.next_attempt_at
    # The seller saves a card that works; the last retry on the schedule charges it.
    await save_card(runtime, emulator, seller, "pm_card_visa")
    state = await charge.charge(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        seller.organization.id,
        row.id,
        now=at + dt.timedelta(seconds=1),
    )
    assert state is S.SUCCEEDED
    assert (await commission_of(runtime, recovery_id)).attempt == 4
    assert await charged(emulator, recovery_id) == 1


async def test_declined_on_every_try_gives_up(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    recovery_id = await recovery(runtime, seller)
    row = await request(runtime, emulator, seller, recovery_id)
    at = utcnow()
    for _ in range(3):
        at += dt.timedelta(days=8)
        await charge.charge(
            runtime.sessionmaker,
            runtime.settings,
            emulator.sdk,
            seller.organization.id,
            row.id,
            now=at,
        )
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.FAILED and final.failed_attempts == 4
    assert final.next_attempt_at is None  # given up
    assert [n["notice"] for n in await notices(runtime)][-1] == "given_up"
    # Nothing more happens, whenever asked.
    assert (
        await charge.charge(
            runtime.sessionmaker,
            runtime.settings,
            emulator.sdk,
            seller.organization.id,
            row.id,
            now=at + dt.timedelta(days=30),
        )
        is S.FAILED
    )
    assert (await commission_of(runtime, recovery_id)).attempt == 4


async def test_authentication_required_then_confirmed_on_session(
    runtime: Runtime, emulator: Stripe, seller: Tenant, live_server: str
) -> None:
    await save_card(runtime, emulator, seller, "pm_card_authenticationRequired")
    recovery_id = await recovery(runtime, seller)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.REQUIRES_ACTION
    assert row.failure_code == "authentication_required" and row.payment_intent_id
    assert [n["notice"] for n in await notices(runtime)] == ["requires_action"]
    async with runtime.sessionmaker() as session:
        set_tenant(session, seller.organization.id)
        _, body = service.notice_text(
            await service.get(session, row.id), "requires_action", public_url=live_server
        )
    link = f"{live_server}/api/v1/billing/commissions/{row.id}/authenticate"
    assert link in body
    async with httpx.AsyncClient(headers=seller.headers, timeout=20) as browser:
        to_bank = await browser.get(link)
        assert to_bank.status_code == 303, to_bank.text
        bank = to_bank.headers["location"]
        assert bank.startswith(emulator.base)
        page = await browser.get(bank)
        assert page.status_code == 200
        secret = parse_qs(urlsplit(bank).query)["client_secret"][0]
        done = await browser.post(
            bank.split("?")[0], data={"client_secret": secret, "action": "complete"}
        )
        assert done.status_code == 303
        back = done.headers["location"]
        assert back.startswith(f"{live_server}/api/v1/billing/commissions/{row.id}/return")
        final = await browser.get(back)
        assert final.status_code == 303, final.text
        assert final.headers["location"] == f"{live_server}/billing?payment=confirmed#commissions"
        assert (await commission_of(runtime, recovery_id)).state is S.SUCCEEDED
    assert await charged(emulator, recovery_id) == 1
    # Following the link again is a conflict, not a second charge.
    async with httpx.AsyncClient(headers=seller.headers, timeout=20) as browser:
        again = await browser.get(link)
        assert again.status_code == 409
    assert await charged(emulator, recovery_id) == 1


async def test_without_a_card_it_waits_and_is_charged_once_one_is_saved(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id = await recovery(runtime, seller)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.NO_CARD and row.reason and "no card" in row.reason
    assert [n["notice"] for n in await notices(runtime)] == ["no_card"]
    assert (await request(runtime, emulator, seller, recovery_id)).state is S.NO_CARD
    assert len(await notices(runtime)) == 1  # told once
    await save_card(runtime, emulator, seller)
    state = await charge.charge(
        runtime.sessionmaker, runtime.settings, emulator.sdk, seller.organization.id, row.id
    )
    assert state is S.SUCCEEDED
    assert await charged(emulator, recovery_id) == 1


async def test_below_the_minimum_nothing_is_charged(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller, amount=200)  # 20 % = 40 cents < 50
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.WAIVED and row.amount_minor == 0
    assert row.reason and "minimum" in row.reason
    assert await charged(emulator, recovery_id) == 0


# --- webhooks ----------------------------------------------------------------------------------


async def test_webhooks_duplicated_and_out_of_order_never_move_back(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    (await emulator.admin.post("/config", json={"delivery": "hold"})).raise_for_status()
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.SUCCEEDED
    held = (await emulator.admin.get("/deliveries")).json()["held"]
    assert held
    # Every held event, newest first, then each again (duplicates).
    answer = await emulator.admin.post("/deliver", json={"held": True, "order": "reversed"})
    assert answer.status_code == 200, answer.text
    for event_id in held:
        (await emulator.admin.post(f"/events/{event_id}/resend")).raise_for_status()
    await stored_events(runtime, len(held))
    async with runtime.sessionmaker() as session:
        stored = (
            (
                await session.execute(
                    select(WebhookEvent.external_id).where(WebhookEvent.external_id.in_(held))
                )
            )
            .scalars()
            .all()
        )
    assert sorted(stored) == sorted(held)  # each stored once, however often delivered
    await webhooks.drain(runtime.sessionmaker)
    after = await commission_of(runtime, recovery_id)
    assert after.state is S.SUCCEEDED and after.payment_intent_id == row.payment_intent_id
    charges = [t for t in await ledger(runtime, seller) if t.kind == "charge"]
    assert len(charges) == 1
    async with runtime.sessionmaker() as session:
        session.info["sellerhub.system"] = "test"
        failed = (
            await session.execute(
                select(WebhookEvent.topic, WebhookEvent.status, WebhookEvent.last_error).where(
                    WebhookEvent.status != "processed"
                )
            )
        ).all()
    assert failed == []


async def test_an_old_decline_event_does_not_undo_a_success(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """The first attempt declined, the retry succeeded; the first attempt's
    payment_failed arriving last changes nothing, and neither does a stale one for the
    succeeded intent."""
    (await emulator.admin.post("/config", json={"delivery": "hold"})).raise_for_status()
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    recovery_id = await recovery(runtime, seller)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.FAILED
    await save_card(runtime, emulator, seller)
    assert (
        await charge.charge(
            runtime.sessionmaker,
            runtime.settings,
            emulator.sdk,
            seller.organization.id,
            row.id,
            now=utcnow() + dt.timedelta(days=2),
        )
        is S.SUCCEEDED
    )
    held = (await emulator.admin.get("/deliveries")).json()["held"]
    (
        await emulator.admin.post("/deliver", json={"held": True, "order": "reversed"})
    ).raise_for_status()
    await stored_events(runtime, len(held))
    await webhooks.drain(runtime.sessionmaker)
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.SUCCEEDED and final.attempt == 2
    stale = WebhookEvent(
        source="stripe",
        external_id="evt_stale_" + uuid.uuid4().hex[:10],
        topic="payment_intent.payment_failed",
        payload={
            "id": "evt_stale",
            "type": "payment_intent.payment_failed",
            "created": 1,
            "data": {
                "object": {
                    "id": final.payment_intent_id,
                    "status": "requires_payment_method",
                    "last_payment_error": {"code": "card_declined"},
                    "metadata": {"commission_id": str(final.id), "attempt": "2"},
                }
            },
        },
        headers={},
    )
    stale.ensure_id()
    async with unit_of_work(runtime.sessionmaker) as session:
        session.add(stale)
    await webhooks.drain(runtime.sessionmaker)
    assert (await commission_of(runtime, recovery_id)).state is S.SUCCEEDED


async def test_refund_and_dispute_are_recorded_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    row = await request(runtime, emulator, seller, recovery_id)
    before = await stored_events(runtime, 1)
    (await emulator.admin.post("/dispute", json={"charge": row.charge_id})).raise_for_status()
    (await emulator.admin.post("/refund", json={"charge": row.charge_id})).raise_for_status()
    await stored_events(runtime, before + 2)
    await asyncio.sleep(0.5)
    await webhooks.drain(runtime.sessionmaker)
    await webhooks.drain(runtime.sessionmaker)
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.REFUNDED and final.refunded_minor == final.amount_minor
    kinds = sorted(t.kind for t in await ledger(runtime, seller))
    assert kinds == ["charge", "dispute", "refund"]
    async with runtime.sessionmaker() as session:
        set_tenant(session, seller.organization.id)
        audit = (await session.execute(select(TransactionAudit))).scalars().all()
    assert {a.kind for a in audit} == {"charge", "dispute", "refund"}


# --- the HTTP API ------------------------------------------------------------------------------


async def test_charge_commission_over_http(
    runtime: Runtime, emulator: Stripe, seller: Tenant, live_server: str
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    async with httpx.AsyncClient(base_url=live_server, headers=seller.headers, timeout=30) as api:
        answers = await asyncio.gather(
            *(
                api.post("/api/v1/stripe/charge-commission", json={"recovery_id": str(recovery_id)})
                for _ in range(3)
            )
        )
        assert [a.status_code for a in answers] == [200, 200, 200], answers[0].text
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 1
        listed = await api.get("/api/v1/billing/commissions", params={"state": "succeeded"})
        assert listed.status_code == 200
        [item] = listed.json()["items"]
        assert item["recovery_id"] == str(recovery_id) and item["amount_minor"] == 2469
        one = await api.get(f"/api/v1/billing/commissions/{item['id']}")
        assert one.json()["state"] == "succeeded"
        transactions = await api.get("/api/v1/billing/transactions")
        assert [t["kind"] for t in transactions.json()["items"]] == ["charge"]
        bad = await api.get("/api/v1/billing/commissions", params={"cursor": "nope"})
        assert bad.status_code == 422
        unknown = await api.post(
            "/api/v1/stripe/charge-commission", json={"recovery_id": str(uuid.uuid4())}
        )
        assert unknown.status_code == 404
        malformed = await api.post("/api/v1/stripe/charge-commission", json={"recovery_id": 5})
        assert malformed.status_code == 422
    assert await charged(emulator, recovery_id) == 1


async def test_a_member_cannot_charge_and_another_organization_sees_nothing(
    runtime: Runtime, emulator: Stripe, seller: Tenant, live_server: str
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller)
    member = await make_tenant(runtime, "Members", role=Role.MEMBER)
    other = await make_tenant(runtime, "Other Co")
    row = await request(runtime, emulator, seller, recovery_id)
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as api:
        refused = await api.post(
            "/api/v1/stripe/charge-commission",
            json={"recovery_id": str(recovery_id)},
            headers=member.headers,
        )
        assert refused.status_code == 403
        foreign = await api.post(
            "/api/v1/stripe/charge-commission",
            json={"recovery_id": str(recovery_id)},
            headers=other.headers,
        )
        assert foreign.status_code == 404
        hidden = await api.get(f"/api/v1/billing/commissions/{row.id}", headers=other.headers)
        assert hidden.status_code == 404
        assert (await api.get("/api/v1/billing/commissions", headers=other.headers)).json()[
            "items"
        ] == []
        assert (await api.get("/api/v1/billing/transactions", headers=other.headers)).json()[
            "items"
        ] == []
        anonymous = await api.post(
            "/api/v1/stripe/charge-commission", json={"recovery_id": str(recovery_id)}
        )
        assert anonymous.status_code == 401
    assert await charged(emulator, recovery_id) == 1


async def test_the_audit_of_money_is_append_only(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    await request(runtime, emulator, seller, await recovery(runtime, seller))
    async with runtime.engine.connect() as conn:
        for statement in (
            "UPDATE transaction_audit SET status = 'x'",
            "DELETE FROM transaction_audit",
        ):
            with pytest.raises(Exception, match="append-only"):
                await conn.exec_driver_sql(statement)
            await conn.rollback()


# --- the claims workflow's request, through the outbox ----------------------------------------


async def test_a_reimbursed_claim_is_charged_once_through_the_outbox(
    runtime: Runtime, emulator: Stripe, tenant: Tenant
) -> None:
    """Claims records the recovery and requests the commission in the same transaction; the
    job (billing's) opens and charges it, and a second delivery of the job changes nothing."""
    await save_card(runtime, emulator, tenant)
    await detect(runtime, tenant, lost())
    await reimburse(runtime, tenant, paid("R1"))
    [payload] = await commission_requests(runtime)
    [recovered] = await recoveries_of(runtime, tenant)
    assert payload == {
        "organization_id": str(tenant.organization.id),
        "recovery_id": str(recovered.id),
    }
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"stripe_api_base": emulator.base})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        for _ in range(2):  # delivered at least once
            async with unit_of_work(runtime.sessionmaker) as session:
                await tasks.commission_requested(session, **payload)
    finally:
        jobs.configure(previous)
    row = await commission_of(runtime, recovered.id)
    assert row.state is S.SUCCEEDED and row.attempt == 1
    assert row.amount_minor == (recovered.amount_minor * 2000 + 5000) // 10_000
    assert await charged(emulator, recovered.id) == 1
    [after] = await recoveries_of(runtime, tenant)
    assert after.commission_status == "awaiting_billing"  # billing has it


async def test_no_card_number_or_secret_key_in_any_log(
    runtime: Runtime, emulator: Stripe, seller: Tenant, suite_logs: Path
) -> None:
    """A charge, a decline and an SCA case written to the logs (the live server's and this
    process's): no secret key, no card number, no client secret."""
    for card in ("pm_card_visa", "pm_card_chargeDeclinedInsufficientFunds"):
        await save_card(runtime, emulator, seller, card)
        await request(runtime, emulator, seller, await recovery(runtime, seller))
    await save_card(runtime, emulator, seller, "pm_card_authenticationRequired")
    row = await request(runtime, emulator, seller, await recovery(runtime, seller))
    assert row.state is S.REQUIRES_ACTION
    intent = await emulator.sdk.v1.payment_intents.retrieve_async(str(row.payment_intent_id))
    secrets_seen = [SECRET_KEY, "4242424242424242", "4000002760003184", str(intent.client_secret)]
    assert await asyncio.to_thread(holding, suite_logs, secrets_seen) == []


def holding(folder: Path, values: list[str]) -> list[str]:
    """The log files in ``folder`` that hold any of ``values``."""
    found = []
    for path in sorted(folder.iterdir()):
        text = path.read_text(errors="replace")
        found += [path.name for value in values if value in text]
    return found


async def test_an_organizations_own_rate(
    runtime: Runtime, emulator: Stripe, seller: Tenant, live_server: str
) -> None:
    operator = await make_tenant(runtime, "Platform")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE users SET user_type = 'admin' WHERE id = :id"), {"id": operator.user.id}
        )
    body = {"organization_id": str(seller.organization.id), "rate_bps": 1500}
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as api:
        refused = await api.put(
            "/api/v1/billing/commission-rates", json=body, headers=seller.headers
        )
        assert refused.status_code == 403  # a seller does not set its own rate
        done = await api.put(
            "/api/v1/billing/commission-rates", json=body, headers=operator.headers
        )
        assert done.status_code == 200 and done.json() == {"rate_bps": 1500, "default": False}
        mine = await api.get("/api/v1/billing/commission-rate", headers=seller.headers)
        assert mine.json() == {"rate_bps": 1500, "default": False}
        theirs = await api.get("/api/v1/billing/commission-rate", headers=operator.headers)
        assert theirs.json() == {"rate_bps": 2000, "default": True}
        nobody = body | {"organization_id": str(uuid.uuid4())}
        missing = await api.put(
            "/api/v1/billing/commission-rates", json=nobody, headers=operator.headers
        )
        assert missing.status_code == 404
        too_high = body | {"rate_bps": 10_001}
        invalid = await api.put(
            "/api/v1/billing/commission-rates", json=too_high, headers=operator.headers
        )
        assert invalid.status_code == 422
    await save_card(runtime, emulator, seller)
    row = await request(runtime, emulator, seller, await recovery(runtime, seller, amount=10_001))
    assert (row.rate_bps, row.amount_minor) == (1500, 1500)  # 1500.15 -> 1500
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as api:
        back = body | {"rate_bps": None}
        reset = await api.put(
            "/api/v1/billing/commission-rates", json=back, headers=operator.headers
        )
        assert reset.json() == {"rate_bps": 2000, "default": True}


async def test_a_service_app_with_billing_charge_may_charge(
    runtime: Runtime,
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
) -> None:
    """The seed's path: a service app whose token carries billing:charge, acting in an
    organization it created; without the permission it is refused."""
    charger = await register(
        client,
        world.admin_headers,
        "commission-svc",
        kind="service",
        allowed_origins=[],
        permissions=["billing:charge", "users:create"],
    )
    other = await register(
        client,
        world.admin_headers,
        "other-svc",
        kind="service",
        allowed_origins=[],
        permissions=["credits:read", "users:create"],
    )
    signup = await client.post(
        "/api/cross-app/signup",
        json={"email": f"seller-{uuid.uuid4().hex[:8]}@example.com", "name": "Seller"},
        headers=charger.basic,
    )
    assert signup.status_code == 201, signup.text
    organization = signup.json()["organization_id"]
    # 20 % of 100 cents is below the minimum: answered without calling Stripe.
    recovery_id = await recovery_in(runtime, uuid.UUID(organization), 100)
    body = {"recovery_id": str(recovery_id)}
    for app, status in ((charger, 200), (other, 403)):
        token = await client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers=app.basic
        )
        assert token.status_code == 200, token.text
        headers = bearer(token.json()["access_token"]) | {"X-Sellerhub-Organization": organization}
        answer = await client.post("/api/v1/stripe/charge-commission", json=body, headers=headers)
        assert answer.status_code == status, answer.text
        if status == 200:
            assert answer.json()["state"] == "waived"


async def test_the_sellers_admins_are_mailed_the_reason_and_the_next_try(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    row = await request(runtime, emulator, seller, await recovery(runtime, seller))
    [notice] = await notices(runtime)
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"public_url": "https://sellerhub.example"})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            await tasks.commission_notice(session, **notice)
    finally:
        jobs.configure(previous)
    async with runtime.sessionmaker() as session:
        mails = (await session.execute(select(OutboundMail))).scalars().all()
    [mail] = [m for m in mails if m.to_address == seller.user.email]
    assert mail.subject == "A sellerhub payment was declined"
    assert "insufficient_funds" in mail.body_text and "2469 USD" in mail.body_text
    assert row.next_attempt_at is not None
    assert row.next_attempt_at.date().isoformat() in mail.body_text
    assert f"https://sellerhub.example/api/v1/billing/commissions/{row.id}" in mail.body_text


async def test_an_event_hidden_by_a_scoped_drain_session_is_handled_again_alone(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """An earlier handler of the same drain scoped its session to another organization: the
    commission's event is not found under that scope, so it stays pending (not done unseen)
    and is handled on its own later."""
    (await emulator.admin.post("/config", json={"delivery": "off"})).raise_for_status()
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    row = await request(runtime, emulator, seller, await recovery(runtime, seller))
    assert row.state is S.FAILED
    other = await make_tenant(runtime, "Scoped Co")
    intent = (
        await emulator.sdk.v1.payment_intents.retrieve_async(str(row.payment_intent_id))
    ).to_dict()
    intent |= {"status": "succeeded", "latest_charge": "ch_late", "amount_received": 2469}
    event = WebhookEvent(
        source="stripe",
        external_id=f"evt_{uuid.uuid4().hex[:12]}",
        topic="payment_intent.succeeded",
        payload={"type": "payment_intent.succeeded", "created": 2, "data": {"object": intent}},
        headers={},
    )
    event.ensure_id()
    async with unit_of_work(runtime.sessionmaker) as session:
        session.add(event)
    handlers = {("stripe", "payment_intent.succeeded"): commission_events.payment_intent_event}
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, other.organization.id)  # what another handler left behind
        stored = await session.get(WebhookEvent, event.id)
        assert stored is not None
        assert not await webhooks._handle(session, stored, handlers)
        assert stored.status == "pending" and stored.last_error
    async with unit_of_work(runtime.sessionmaker) as session:
        await webhooks.process(session, event.id, handlers=handlers)
    final = await commission_of(runtime, row.recovery_id)
    assert final.state is S.SUCCEEDED and final.charge_id == "ch_late"


async def test_the_sweep_moves_every_due_commission_on(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """The periodic job: a commission whose answer was lost (now overdue) is reconciled, one
    that waited for a card is charged once a card is saved, one not yet due is left alone."""
    waiting_id = await recovery(runtime, seller)
    waiting = await request(runtime, emulator, seller, waiting_id)
    assert waiting.state is S.NO_CARD
    await save_card(runtime, emulator, seller)
    lost_id = await recovery(runtime, seller)
    await emulator.fault("after")
    lost = await request(runtime, emulator, seller, lost_id)
    assert lost.state is S.PROCESSING
    declined_id = await recovery(runtime, seller)
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    declined = await request(runtime, emulator, seller, declined_id)
    assert declined.state is S.FAILED
    await save_card(runtime, emulator, seller)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, seller.organization.id)
        row = await service.get(session, lost.id)
        row.next_attempt_at = utcnow() - dt.timedelta(seconds=1)  # its re-check is due
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"stripe_api_base": emulator.base})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            await tasks.sweep(session)
    finally:
        jobs.configure(previous)
    assert (await commission_of(runtime, waiting_id)).state is S.SUCCEEDED
    assert (await commission_of(runtime, lost_id)).state is S.SUCCEEDED
    assert (await commission_of(runtime, declined_id)).state is S.FAILED  # due in a day
    assert (await commission_of(runtime, declined_id)).attempt == 1
    for recovery_id in (waiting_id, lost_id):
        assert await charged(emulator, recovery_id) == 1
    assert await charged(emulator, declined_id) == 0


async def test_commissions_waiting_for_a_card_never_hold_back_the_due_ones(
    runtime: Runtime, seller: Tenant
) -> None:
    now = utcnow()

    def commission(state: S, **extra: Any) -> Commission:
        row = Commission(
            organization_id=seller.organization.id,
            recovery_id=uuid.uuid4(),
            recovery_amount_minor=1000,
            currency="USD",
            rate_bps=2000,
            amount_minor=200,
            state=state,
            **extra,
        )
        row.ensure_id()
        return row

    waiting = [commission(S.NO_CARD) for _ in range(5)]
    due = commission(S.FAILED, attempt=1, next_attempt_at=now - dt.timedelta(minutes=1))
    later = commission(S.FAILED, attempt=1, next_attempt_at=now + dt.timedelta(days=1))
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, seller.organization.id)
        session.add_all([*waiting, due, later])
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            found = await CommissionRepository(session).due(now, 2)
    # No card is saved: the waiting ones are not even looked at; the due one is.
    assert found == [(seller.organization.id, due.id)]
