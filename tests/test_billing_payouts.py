"""Transfers to the seller where the platform holds a recovery, over real HTTP against the Stripe
emulator behind the live server: the recovery less the commission reaches the seller's connected
account once (asked again, by racing workers, after an answer lost), with ``transfer_group`` and
``source_transaction``; without an account it waits; the transfer's and the account's payout
events are recorded once, whatever their order; the organization's list."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sellerhub.billing.commissions import charge, tasks
from sellerhub.billing.commissions.rules import CommissionState as S
from sellerhub.billing.connect.models import StripeAccount
from sellerhub.billing.payouts import transfer as payouts
from sellerhub.billing.payouts.models import SellerTransfer, TransferState
from sellerhub.billing.transactions.models import StripeTransaction
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from tests.conftest import Tenant, make_tenant
from tests.test_billing_commissions import (
    Stripe,
    emulator,
    recovery,
    save_card,
    stored_events,
)

__all__ = ["emulator"]  # the fixture, shared

T = TransferState
CONTROLLER: Any = {
    "controller": {
        "fees": {"payer": "application"},
        "losses": {"payments": "application"},
        "stripe_dashboard": {"type": "express"},
        "requirement_collection": "stripe",
    },
    "country": "US",
    "email": "seller@example.com",
    "capabilities": {"transfers": {"requested": True}},
}


@pytest.fixture
async def seller(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "Held Money Co")


async def connected_account(
    runtime: Runtime, emulator: Stripe, tenant: Tenant, *, onboard: bool = True
) -> str:
    """The seller's connected account at the emulator (onboarded), stored as Connect does."""
    account = await emulator.sdk.v1.accounts.create_async(CONTROLLER)
    if onboard:
        link = await emulator.sdk.v1.account_links.create_async(
            {
                "account": account.id,
                "type": "account_onboarding",
                "refresh_url": "https://app.example/refresh",
                "return_url": "https://app.example/return",
            }
        )
        async with httpx.AsyncClient(timeout=10) as browser:
            assert (await browser.get(link.url)).status_code == 200
            done = await browser.post(
                link.url, data={"session": link.url.rsplit("/", 1)[1], "action": "submit"}
            )
            assert done.headers["location"] == "https://app.example/return"
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        session.add(
            StripeAccount(
                organization_id=tenant.organization.id,
                stripe_account_id=account.id,
                idempotency_key=f"connect:{tenant.organization.id}",
                country="US",
                payouts_enabled=onboard,
            )
        )
    return str(account.id)


async def fund_platform(emulator: Stripe, amount: int = 1_000_000) -> None:
    answer = await emulator.admin.post("/balance", json={"currency": "usd", "amount": amount})
    answer.raise_for_status()


async def held(
    runtime: Runtime, emulator: Stripe, tenant: Tenant, recovery_id: uuid.UUID, **extra: Any
) -> uuid.UUID:
    """The recovery's commission opened as paid to the platform; its transfer's id."""
    row = await charge.request(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        tenant.organization.id,
        recovery_id,
        paid_to_platform=True,
        **extra,
    )
    assert row.state is S.WITHHELD
    transfer = await transfer_of(runtime, tenant, recovery_id)
    return transfer.id


async def transfer_of(runtime: Runtime, tenant: Tenant, recovery_id: uuid.UUID) -> SellerTransfer:
    async with runtime.sessionmaker() as session:
        set_tenant(session, tenant.organization.id)
        query = select(SellerTransfer).where(SellerTransfer.recovery_id == recovery_id)
        row: SellerTransfer = (await session.execute(query)).scalar_one()
        return row


async def send(
    runtime: Runtime, emulator: Stripe, tenant: Tenant, transfer_id: uuid.UUID, **kw: Any
) -> TransferState | None:
    return await payouts.transfer(
        runtime.sessionmaker,
        runtime.settings,
        emulator.sdk,
        tenant.organization.id,
        transfer_id,
        **kw,
    )


async def transfers_at_stripe(emulator: Stripe, recovery_id: uuid.UUID) -> list[Any]:
    listed = await emulator.sdk.v1.transfers.list_async(
        {"transfer_group": f"recovery_{recovery_id}", "limit": 100}
    )
    return list(listed.data)


async def test_the_recovery_less_the_commission_is_transferred_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    account = await connected_account(runtime, emulator, seller)
    await fund_platform(emulator)
    recovery_id = await recovery(runtime, seller, amount=10_000)
    transfer_id = await held(runtime, emulator, seller, recovery_id)
    assert await send(runtime, emulator, seller, transfer_id) is T.PAID
    for _ in range(2):  # the job again, the sweep
        assert await send(runtime, emulator, seller, transfer_id) is T.PAID
    again = await charge.request(
        runtime.sessionmaker, runtime.settings, emulator.sdk, seller.organization.id, recovery_id
    )
    assert again.state is S.WITHHELD and again.amount_minor == 2000
    [made] = await transfers_at_stripe(emulator, recovery_id)
    assert (made.amount, made.currency, made.destination) == (8000, "usd", account)
    assert made.metadata["recovery_id"] == str(recovery_id)
    row = await transfer_of(runtime, seller, recovery_id)
    assert row.transfer_id == made.id and row.amount_minor == 8000
    assert (await emulator.summary())["counts"].get(str(recovery_id)) is None  # no card charge
    async with runtime.sessionmaker() as session:
        set_tenant(session, seller.organization.id)
        ledger = (await session.execute(select(StripeTransaction))).scalars().all()
    assert [(t.kind, t.stripe_id, t.amount_minor, t.direction) for t in ledger] == [
        ("transfer", made.id, 8000, "out")
    ]


async def test_racing_workers_and_a_lost_answer_transfer_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await connected_account(runtime, emulator, seller)
    await fund_platform(emulator)
    recovery_id = await recovery(runtime, seller)
    transfer_id = await held(runtime, emulator, seller, recovery_id)
    rule = {"method": "POST", "path": "/v1/transfers", "mode": "after", "status": 500}
    (await emulator.admin.post("/faults", json=rule)).raise_for_status()
    states = await asyncio.gather(*(send(runtime, emulator, seller, transfer_id) for _ in range(5)))
    assert T.PAID not in states and T.PROCESSING in states  # the answer was lost
    assert len(await transfers_at_stripe(emulator, recovery_id)) == 1  # Stripe made it
    later = utcnow() + dt.timedelta(minutes=10)
    assert await send(runtime, emulator, seller, transfer_id, now=later) is T.PAID
    assert len(await transfers_at_stripe(emulator, recovery_id)) == 1
    row = await transfer_of(runtime, seller, recovery_id)
    assert row.attempts == 1


async def test_source_transaction_is_passed_and_without_an_account_it_waits(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    # The money came in through Stripe: a charge on the platform, the transfer's source.
    await save_card(runtime, emulator, seller)
    customer = (await emulator.sdk.v1.customers.list_async({"limit": 1})).data[0].id
    incoming = await emulator.sdk.v1.payment_intents.create_async(
        {
            "amount": 20_000,
            "currency": "usd",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "confirm": True,
            "off_session": True,
        }
    )
    source = str(incoming.latest_charge)
    recovery_id = await recovery(runtime, seller, amount=20_000)
    transfer_id = await held(runtime, emulator, seller, recovery_id, source_transaction=source)
    assert await send(runtime, emulator, seller, transfer_id) is T.WAITING
    waiting = await transfer_of(runtime, seller, recovery_id)
    assert waiting.reason and "connected account" in waiting.reason
    await connected_account(runtime, emulator, seller)
    assert await send(runtime, emulator, seller, transfer_id) is T.PAID
    [made] = await transfers_at_stripe(emulator, recovery_id)
    assert made.source_transaction == source and made.amount == 16_000


async def test_a_refusal_fails_and_is_retried_a_day_later(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await connected_account(runtime, emulator, seller)  # the platform's balance is empty
    recovery_id = await recovery(runtime, seller)
    transfer_id = await held(runtime, emulator, seller, recovery_id)
    assert await send(runtime, emulator, seller, transfer_id) is T.FAILED
    failed = await transfer_of(runtime, seller, recovery_id)
    assert failed.reason and failed.next_attempt_at is not None
    assert await send(runtime, emulator, seller, transfer_id) is T.FAILED  # not due yet
    await fund_platform(emulator)
    due = failed.next_attempt_at + dt.timedelta(seconds=1)
    assert await send(runtime, emulator, seller, transfer_id, now=due) is T.PAID
    assert len(await transfers_at_stripe(emulator, recovery_id)) == 1


async def test_transfer_and_payout_events_recorded_once_in_any_order(
    runtime: Runtime, emulator: Stripe, seller: Tenant, live_server: str
) -> None:
    (await emulator.admin.post("/config", json={"delivery": "hold"})).raise_for_status()
    account = await connected_account(runtime, emulator, seller)
    await fund_platform(emulator)
    recovery_id = await recovery(runtime, seller, amount=10_000)
    transfer_id = await held(runtime, emulator, seller, recovery_id)
    assert await send(runtime, emulator, seller, transfer_id) is T.PAID
    row = await transfer_of(runtime, seller, recovery_id)
    assert row.transfer_id is not None
    await emulator.sdk.v1.transfers.reversals.create_async(row.transfer_id, {"amount": 8000})
    topped = {"account": account, "currency": "usd", "amount": 500}
    (await emulator.admin.post("/balance", json=topped)).raise_for_status()
    payout = await emulator.admin.post(
        "/payouts", json={"account": account, "amount": 500, "currency": "usd", "outcome": "paid"}
    )
    assert payout.status_code == 200, payout.text
    held_ids = (await emulator.admin.get("/deliveries")).json()["held"]
    answer = await emulator.admin.post("/deliver", json={"held": True, "order": "reversed"})
    assert answer.status_code == 200
    for event_id in held_ids:
        (await emulator.admin.post(f"/events/{event_id}/resend")).raise_for_status()
    await stored_events(runtime, len(held_ids))
    await webhooks.drain(runtime.sessionmaker)
    final = await transfer_of(runtime, seller, recovery_id)
    assert final.state is T.REVERSED and final.reversed_minor == 8000
    async with runtime.sessionmaker() as session:
        set_tenant(session, seller.organization.id)
        ledger = (await session.execute(select(StripeTransaction))).scalars().all()
    kinds = sorted((t.kind, t.status) for t in ledger)
    assert kinds == [("payout", "paid"), ("transfer", "paid"), ("transfer_reversal", "reversed")]
    async with httpx.AsyncClient(base_url=live_server, headers=seller.headers) as api:
        listed = await api.get("/api/v1/billing/payouts")
        assert listed.status_code == 200
        [item] = listed.json()["items"]
        assert item["state"] == "reversed" and item["amount_minor"] == 8000
        other = await make_tenant(runtime, "Nosy Co")
        hidden = await api.get("/api/v1/billing/payouts", headers=other.headers)
        assert hidden.json()["items"] == []
        payouts_only = await api.get("/api/v1/billing/transactions", params={"kind": "payout"})
        assert [t["account_id"] for t in payouts_only.json()["items"]] == [account]


async def test_the_sweep_sends_a_waiting_transfer_once_the_account_exists(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await fund_platform(emulator)
    recovery_id = await recovery(runtime, seller)
    transfer_id = await held(runtime, emulator, seller, recovery_id)
    assert await send(runtime, emulator, seller, transfer_id) is T.WAITING
    await connected_account(runtime, emulator, seller)
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"stripe_api_base": emulator.base})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        for _ in range(2):
            async with unit_of_work(runtime.sessionmaker) as session:
                await tasks.sweep(session)
    finally:
        jobs.configure(previous)
    assert (await transfer_of(runtime, seller, recovery_id)).state is T.PAID
    assert len(await transfers_at_stripe(emulator, recovery_id)) == 1
