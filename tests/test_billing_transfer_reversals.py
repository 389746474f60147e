"""A reversal of a recovery the platform held (its commission ``withheld``, the rest transferred
to the seller) takes the seller's part back from the seller's transfer once, over real HTTP
against the Stripe emulator behind the live server: reversed at Stripe
(``POST /v1/transfers/{id}/reversals``, one per reversal, counted at the emulator) however often
or however concurrently the reversal is requested, also when Stripe's answer was lost; partial
amounts exact in integers (the seller's part and the commission's share add up to what Amazon
took back); lowered (or cancelled) before the transfer is sent; the money ledger and its audit
trail record each reversal once, also after Stripe's ``transfer.reversed``."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from sellerhub.billing.commissions import charge
from sellerhub.billing.commissions.models import CommissionRefund
from sellerhub.billing.commissions.rules import CommissionState as S
from sellerhub.billing.payouts import transfer as payouts
from sellerhub.billing.payouts.models import TransferReversal, TransferState
from sellerhub.billing.transactions.models import StripeTransaction, TransactionAudit
from sellerhub.core.clock import utcnow
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from tests.conftest import Tenant
from tests.stripe_helpers import wait_for_event
from tests.test_billing_commissions import Stripe, commission_of, recovery
from tests.test_billing_commissions_reversals import reversal
from tests.test_billing_payouts import (
    connected_account,
    emulator,
    fund_platform,
    held,
    seller,
    send,
    transfer_of,
    transfers_at_stripe,
)

__all__ = ["emulator", "seller"]  # the fixtures, shared

T = TransferState


async def request(
    runtime: Runtime, emulator: Stripe, seller: Tenant, recovery_id: uuid.UUID
) -> Any:
    """The reversal's commission request (the claims outbox's job, or the API)."""
    return await charge.request(
        runtime.sessionmaker, runtime.settings, emulator.sdk, seller.organization.id, recovery_id
    )


async def paid_transfer(
    runtime: Runtime, emulator: Stripe, seller: Tenant, amount: int
) -> tuple[uuid.UUID, str]:
    """A recovery of ``amount`` the platform held: its commission withheld, the rest paid to
    the seller's connected account. The recovery and the Stripe transfer."""
    await connected_account(runtime, emulator, seller)
    await fund_platform(emulator)
    recovery_id = await recovery(runtime, seller, amount=amount)
    transfer_id = await held(runtime, emulator, seller, recovery_id)
    assert await send(runtime, emulator, seller, transfer_id) is T.PAID
    row = await transfer_of(runtime, seller, recovery_id)
    assert row.transfer_id is not None
    return recovery_id, row.transfer_id


async def reversals_at_stripe(emulator: Stripe, transfer: str) -> list[int]:
    listed = await emulator.sdk.v1.transfers.reversals.list_async(transfer, {"limit": 100})
    return sorted(int(r.amount) for r in listed.data)


async def reversal_row(runtime: Runtime, reversal_id: uuid.UUID) -> TransferReversal:
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            query = select(TransferReversal).where(TransferReversal.reversal_id == reversal_id)
            row: TransferReversal = (await session.execute(query)).scalar_one()
        return row


async def commission_refund(runtime: Runtime, reversal_id: uuid.UUID) -> CommissionRefund:
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            query = select(CommissionRefund).where(CommissionRefund.reversal_id == reversal_id)
            row: CommissionRefund = (await session.execute(query)).scalar_one()
        return row


async def money(runtime: Runtime, seller: Tenant) -> tuple[list[Any], list[Any]]:
    """The ledger's transfer reversals and their audit rows."""
    async with runtime.sessionmaker() as session:
        set_tenant(session, seller.organization.id)
        rows = await session.execute(
            select(StripeTransaction)
            .where(StripeTransaction.kind == "transfer_reversal")
            .order_by(StripeTransaction.id)
        )
        ledger = [(t.stripe_id, t.amount_minor, t.direction, t.status) for t in rows.scalars()]
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            audit = await session.execute(
                select(TransactionAudit)
                .where(TransactionAudit.kind == "transfer_reversal")
                .order_by(TransactionAudit.occurred_at)
            )
            trail = [(a.stripe_id, a.amount_minor, a.action) for a in audit.scalars()]
    return ledger, trail


async def test_partial_reversals_take_back_the_sellers_part_once_with_exact_amounts(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    # 10,001 recovered: 2,000 withheld (20 %, half up), 8,001 transferred.
    recovery_id, transfer = await paid_transfer(runtime, emulator, seller, 10_001)
    first = await reversal(runtime, seller, recovery_id, 3_333)
    for _ in range(3):  # the job delivered again
        await request(runtime, emulator, seller, first)
    # The seller's part: 8,001 x 3,333 / 10,001 = 2,666.47 -> 2,666; the commission's share:
    # 2,000 x 3,333 / 10,001 = 666.53 -> 667; together exactly the 3,333 Amazon took back.
    assert await reversals_at_stripe(emulator, transfer) == [2_666]
    row = await reversal_row(runtime, first)
    assert (row.state, row.amount_minor, row.reversed_minor) == ("succeeded", 2_666, 3_333)
    assert row.stripe_reversal_id and row.stripe_reversal_id.startswith("trr_")
    share = await commission_refund(runtime, first)
    assert (share.state, share.amount_minor) == ("reduced", 667)
    assert share.amount_minor + row.amount_minor == 3_333
    commission = await commission_of(runtime, recovery_id)
    assert commission.state is S.WITHHELD and commission.amount_minor == 2_000 - 667
    seller_transfer = await transfer_of(runtime, seller, recovery_id)
    assert (seller_transfer.state, seller_transfer.reversed_minor) == (T.PAID, 2_666)

    # The rest taken back: the seller's part is what is left of the transfer, never more.
    rest = await reversal(runtime, seller, recovery_id, 10_001 - 3_333)
    await request(runtime, emulator, seller, rest)
    assert await reversals_at_stripe(emulator, transfer) == [2_666, 5_335]
    at_stripe = await emulator.sdk.v1.transfers.retrieve_async(transfer)
    assert at_stripe.amount_reversed == 8_001 and at_stripe.reversed is True
    done = await transfer_of(runtime, seller, recovery_id)
    assert (done.state, done.reversed_minor) == (T.REVERSED, 8_001)
    assert (await commission_of(runtime, recovery_id)).amount_minor == 0
    # A third reversal finds nothing left to take back, and sends nothing.
    extra = await reversal(runtime, seller, recovery_id, 100)
    await request(runtime, emulator, seller, extra)
    assert (await reversal_row(runtime, extra)).state == "nothing"
    assert await reversals_at_stripe(emulator, transfer) == [2_666, 5_335]

    ledger, trail = await money(runtime, seller)
    assert sorted((amount, direction) for _, amount, direction, _ in ledger) == [
        (2_666, "in"),
        (5_335, "in"),
    ]
    assert sorted((amount, action) for _, amount, action in trail) == [
        (2_666, "recorded"),
        (5_335, "recorded"),
    ]

    # Stripe's transfer.reversed events, delivered and handled: nothing is recorded twice.
    await wait_for_event(runtime, "transfer.reversed", 2)
    await webhooks.drain(runtime.sessionmaker)
    assert await money(runtime, seller) == (ledger, trail)
    assert (await transfer_of(runtime, seller, recovery_id)).reversed_minor == 8_001


async def test_concurrent_requests_and_a_lost_answer_reverse_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id, transfer = await paid_transfer(runtime, emulator, seller, 10_000)
    reversal_id = await reversal(runtime, seller, recovery_id, 2_500)
    # Stripe makes the reversal, then the answer is lost (a 500 after running it).
    rule = {
        "method": "POST",
        "path": f"/v1/transfers/{transfer}/reversals",
        "mode": "after",
        "status": 500,
    }
    (await emulator.admin.post("/faults", json=rule)).raise_for_status()
    await asyncio.gather(*(request(runtime, emulator, seller, reversal_id) for _ in range(4)))
    assert await reversals_at_stripe(emulator, transfer) == [2_000]
    row = await reversal_row(runtime, reversal_id)
    assert row.state == "processing" and row.amount_minor == 2_000
    # Not due yet: nothing is sent again; once due, it is found at Stripe, not sent again.
    states = await asyncio.gather(
        *(
            payouts.reversal_step(
                runtime.sessionmaker,
                runtime.settings,
                emulator.sdk,
                seller.organization.id,
                reversal_id,
                now=utcnow() + dt.timedelta(minutes=10),
            )
            for _ in range(3)
        )
    )
    assert "succeeded" in states
    assert await reversals_at_stripe(emulator, transfer) == [2_000]
    found = await reversal_row(runtime, reversal_id)
    assert found.state == "succeeded" and found.stripe_reversal_id
    ledger, trail = await money(runtime, seller)
    assert [(amount, direction) for _, amount, direction, _ in ledger] == [(2_000, "in")]
    assert [(amount, action) for _, amount, action in trail] == [(2_000, "recorded")]


async def test_before_the_transfer_is_sent_it_is_lowered_or_cancelled(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await fund_platform(emulator)
    # No connected account yet: the transfers wait.
    partly = await recovery(runtime, seller, amount=10_000)
    partly_transfer = await held(runtime, emulator, seller, partly)
    wholly = await recovery(runtime, seller, amount=5_000)
    wholly_transfer = await held(runtime, emulator, seller, wholly)
    for transfer_id in (partly_transfer, wholly_transfer):
        assert await send(runtime, emulator, seller, transfer_id) is T.WAITING

    back = await reversal(runtime, seller, partly, 2_500)
    await asyncio.gather(*(request(runtime, emulator, seller, back) for _ in range(3)))
    lowered = await transfer_of(runtime, seller, partly)
    assert lowered.amount_minor == 8_000 - 2_000 and lowered.state is T.WAITING
    row = await reversal_row(runtime, back)
    assert (row.state, row.amount_minor) == ("reduced", 2_000)
    all_back = await reversal(runtime, seller, wholly, 5_000)
    await request(runtime, emulator, seller, all_back)
    cancelled = await transfer_of(runtime, seller, wholly)
    assert (cancelled.state, cancelled.amount_minor) == (T.CANCELLED, 0)

    await connected_account(runtime, emulator, seller)
    assert await send(runtime, emulator, seller, partly_transfer) is T.PAID
    assert await send(runtime, emulator, seller, wholly_transfer) is T.CANCELLED
    [made] = await transfers_at_stripe(emulator, partly)
    assert made.amount == 6_000
    assert await transfers_at_stripe(emulator, wholly) == []
    assert await reversals_at_stripe(emulator, made.id) == []  # lowered, never reversed
    assert await money(runtime, seller) == ([], [])


async def test_the_emulator_refuses_a_reversal_beyond_what_is_left(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    _, transfer = await paid_transfer(runtime, emulator, seller, 10_000)
    await emulator.sdk.v1.transfers.reversals.create_async(transfer, {"amount": 7_000})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await emulator.sdk.v1.transfers.reversals.create_async(transfer, {"amount": 1_001})
    assert refused.value.http_status == 400 and refused.value.param == "amount"
    made = await emulator.sdk.v1.transfers.reversals.create_async(transfer, {"amount": 1_000})
    assert made.amount == 1_000 and made.transfer == transfer
    with pytest.raises(stripe.InvalidRequestError):
        await emulator.sdk.v1.transfers.reversals.create_async(transfer, {"amount": 1})
    await wait_for_event(runtime, "transfer.reversed", 2)
