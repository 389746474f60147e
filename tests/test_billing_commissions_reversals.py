"""A reversed reimbursement takes back its share of the commission, end to end over real HTTP
(the live server with the Stripe emulator mounted, the test database): refunded at Stripe
once per reversal when the commission was charged — however often the reversal is requested,
when Stripe refunded and then answered 500 — or lowered before it is charged. And a seller's
notice is mailed once however often its job is delivered. Refunds counted at the emulator."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sellerhub.billing.commissions import charge, service, tasks
from sellerhub.billing.commissions.models import Commission, CommissionRefund
from sellerhub.billing.commissions.repository import CommissionRepository
from sellerhub.billing.commissions.rules import CommissionState as S
from sellerhub.billing.stripe.client import StripeConfig, build
from sellerhub.commerce.claims.models import Recovery
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.jobs import app as jobs
from sellerhub.mail.models import OutboundMail
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from sellerhub_emulators.stripe import SECRET_KEY
from tests.conftest import Tenant, make_tenant
from tests.test_billing_commissions import (
    Stripe,
    charged,
    commission_of,
    ledger,
    notices,
    recovery,
    request,
    save_card,
    stored_events,
)
from tests.test_claims_workflow import (
    commission_requests,
    detect,
    lost,
    paid,
    recoveries_of,
    reimburse,
)


@pytest.fixture(name="emulator")
async def _emulator(live_server: str) -> AsyncIterator[Stripe]:
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


@pytest.fixture(name="seller")
async def _seller(runtime: Runtime) -> Tenant:
    return await make_tenant(runtime, "Seller Co")


async def reversal(
    runtime: Runtime, tenant: Tenant, original_id: uuid.UUID, amount: int
) -> uuid.UUID:
    """Amazon takes back ``amount`` of the original reimbursement: claims' negative recovery
    naming it (``Reimbursement_Reversal``)."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        original = (
            await session.execute(select(Recovery).where(Recovery.id == original_id))
        ).scalar_one()
        row = Recovery(
            organization_id=tenant.organization.id,
            claim_id=original.claim_id,
            reimbursement_id=uuid.uuid4().hex[:20],
            original_reimbursement_id=original.reimbursement_id,
            kind="reversal",
            amount_minor=-amount,
            currency=original.currency,
            quantity=-1,
            approved_on=utcnow().date(),
            matched_by="reversal",
        )
        row.ensure_id()
        session.add(row)
    return row.id


async def refunds_at_stripe(emulator: Stripe, payment_intent: str | None) -> list[int]:
    assert payment_intent
    page = await emulator.sdk.v1.refunds.list_async({"payment_intent": payment_intent})
    return sorted(int(r.amount) for r in page.data)


async def refund_row(runtime: Runtime, reversal_id: uuid.UUID) -> CommissionRefund:
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            query = select(CommissionRefund).where(CommissionRefund.reversal_id == reversal_id)
            row: CommissionRefund = (await session.execute(query)).scalar_one()
        return row


async def refund_fault(emulator: Stripe, mode: str, status: int = 500) -> None:
    rule = {"method": "POST", "path": "/v1/refunds", "mode": mode, "status": status, "count": 1}
    (await emulator.admin.post("/faults", json=rule)).raise_for_status()


async def charged_commission(
    runtime: Runtime, emulator: Stripe, seller: Tenant, amount: int
) -> tuple[uuid.UUID, Commission]:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller, amount=amount)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.SUCCEEDED
    return recovery_id, row


async def test_a_full_reversal_refunds_the_commission_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id, row = await charged_commission(runtime, emulator, seller, 12_345)
    assert row.amount_minor == 2469
    reversal_id = await reversal(runtime, seller, recovery_id, 12_345)
    for _ in range(3):  # the job delivered again
        await request(runtime, emulator, seller, reversal_id)
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [2469]
    after = await commission_of(runtime, recovery_id)
    assert after.state is S.REFUNDED and after.refunded_minor == 2469
    assert (await commission_of(runtime, reversal_id)).state is S.WAIVED  # its own: nothing
    refund = await refund_row(runtime, reversal_id)
    assert (refund.state, refund.amount_minor, refund.reversed_minor) == ("succeeded", 2469, 12_345)
    stripe_refund = await emulator.sdk.v1.refunds.retrieve_async(str(refund.stripe_refund_id))
    assert stripe_refund.to_dict()["metadata"]["reversal"] == str(reversal_id)
    # Stripe's charge.refunded (and its duplicate) changes nothing more.
    before = await stored_events(runtime, 1)
    await stored_events(runtime, before + 1, within=3)
    await asyncio.sleep(0.5)
    await webhooks.drain(runtime.sessionmaker)
    await webhooks.drain(runtime.sessionmaker)
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.REFUNDED and final.refunded_minor == 2469
    kinds = sorted((t.kind, t.amount_minor) for t in await ledger(runtime, seller))
    assert kinds == [("charge", 2469), ("refund", 2469)]
    assert await charged(emulator, recovery_id) == 1


async def test_partial_reversals_refund_their_share_each_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id, row = await charged_commission(runtime, emulator, seller, 10_000)
    assert row.amount_minor == 2000
    first = await reversal(runtime, seller, recovery_id, 3_333)  # 666.6 -> 667
    second = await reversal(runtime, seller, recovery_id, 1_000)  # 200
    await request(runtime, emulator, seller, first)
    await request(runtime, emulator, seller, second)
    await request(runtime, emulator, seller, first)
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [200, 667]
    after = await commission_of(runtime, recovery_id)
    assert after.state is S.SUCCEEDED and after.refunded_minor == 867
    # The rest taken back: 1133.4 -> 1133, exactly what is left; refunded in full.
    rest = await reversal(runtime, seller, recovery_id, 5_667)
    await request(runtime, emulator, seller, rest)
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [200, 667, 1133]
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.REFUNDED and final.refunded_minor == 2000
    refunds = sorted(t.amount_minor for t in await ledger(runtime, seller) if t.kind == "refund")
    assert refunds == [200, 667, 1133]


async def test_a_reversal_requested_by_racing_jobs_refunds_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id, row = await charged_commission(runtime, emulator, seller, 10_000)
    reversal_id = await reversal(runtime, seller, recovery_id, 5_000)
    await asyncio.gather(*(request(runtime, emulator, seller, reversal_id) for _ in range(5)))
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [1000]
    assert (await refund_row(runtime, reversal_id)).state == "succeeded"


async def test_stripe_refunded_then_answered_500(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """Stripe ran the refund and answered 500 (its key replays the 500): the row stays
    ``processing``; asked again nothing is sent; when due, the refund is found among the
    intent's refunds by its reversal instead of being sent again."""
    recovery_id, row = await charged_commission(runtime, emulator, seller, 10_000)
    reversal_id = await reversal(runtime, seller, recovery_id, 10_000)
    await refund_fault(emulator, "after")
    await request(runtime, emulator, seller, reversal_id)
    refund = await refund_row(runtime, reversal_id)
    assert refund.state == "processing" and refund.stripe_refund_id is None
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [2000]  # it did run
    await request(runtime, emulator, seller, reversal_id)  # delivered again: nothing sent
    org = seller.organization.id
    assert (
        await charge.refund_step(
            runtime.sessionmaker, runtime.settings, emulator.sdk, org, reversal_id
        )
        == "processing"  # not due yet
    )
    later = utcnow() + dt.timedelta(seconds=runtime.settings.billing_commission_recheck_seconds + 1)
    for _ in range(2):
        state = await charge.refund_step(
            runtime.sessionmaker, runtime.settings, emulator.sdk, org, reversal_id, now=later
        )
        assert state == "succeeded"
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [2000]
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.REFUNDED and final.refunded_minor == 2000
    assert [str(t.kind) for t in await ledger(runtime, seller)].count("refund") == 1


@pytest.mark.parametrize("status", [500, 429])
async def test_a_refund_stripe_never_ran_is_sent_again_under_its_key(
    runtime: Runtime, emulator: Stripe, seller: Tenant, status: int
) -> None:
    recovery_id, row = await charged_commission(runtime, emulator, seller, 10_000)
    reversal_id = await reversal(runtime, seller, recovery_id, 2_500)
    await refund_fault(emulator, "error", status)
    await request(runtime, emulator, seller, reversal_id)
    assert (await refund_row(runtime, reversal_id)).state == "processing"
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == []
    later = utcnow() + dt.timedelta(seconds=runtime.settings.billing_commission_recheck_seconds + 1)
    org = seller.organization.id
    state = await charge.refund_step(
        runtime.sessionmaker, runtime.settings, emulator.sdk, org, reversal_id, now=later
    )
    assert state == "succeeded"
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [500]


async def test_a_reversal_before_the_charge_lowers_the_commission(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id = await recovery(runtime, seller, amount=12_345)
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.NO_CARD and row.amount_minor == 2469
    reversal_id = await reversal(runtime, seller, recovery_id, 6_000)  # 2469*6000/12345 = 1200
    for _ in range(2):
        await request(runtime, emulator, seller, reversal_id)
    lowered = await commission_of(runtime, recovery_id)
    assert lowered.state is S.NO_CARD and lowered.amount_minor == 1269
    refund = await refund_row(runtime, reversal_id)
    assert (refund.state, refund.amount_minor) == ("reduced", 1200)
    await save_card(runtime, emulator, seller)
    for _ in range(2):
        await request(runtime, emulator, seller, recovery_id)
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.SUCCEEDED and final.amount_minor == 1269
    assert await charged(emulator, recovery_id) == 1
    intent = await emulator.sdk.v1.payment_intents.retrieve_async(str(final.payment_intent_id))
    assert intent.amount == 1269
    assert await refunds_at_stripe(emulator, final.payment_intent_id) == []


async def test_a_reversal_of_everything_before_the_charge_waives_it(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id = await recovery(runtime, seller, amount=12_345)
    await request(runtime, emulator, seller, recovery_id)  # no card yet
    await request(runtime, emulator, seller, await reversal(runtime, seller, recovery_id, 12_345))
    await save_card(runtime, emulator, seller)
    await request(runtime, emulator, seller, recovery_id)
    final = await commission_of(runtime, recovery_id)
    assert final.state is S.WAIVED and final.amount_minor == 0 and final.reason
    assert await charged(emulator, recovery_id) == 0


async def test_a_reversal_during_an_open_attempt_waits_for_its_outcome(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller)
    recovery_id = await recovery(runtime, seller, amount=10_000)
    await emulator.fault("after")  # charged, outcome unknown: processing
    row = await request(runtime, emulator, seller, recovery_id)
    assert row.state is S.PROCESSING
    reversal_id = await reversal(runtime, seller, recovery_id, 5_000)
    await request(runtime, emulator, seller, reversal_id)
    assert (await refund_row(runtime, reversal_id)).state == "waiting"
    later = utcnow() + dt.timedelta(seconds=runtime.settings.billing_commission_recheck_seconds + 1)
    org = seller.organization.id
    await charge.charge(
        runtime.sessionmaker, runtime.settings, emulator.sdk, org, row.id, now=later
    )
    assert (await commission_of(runtime, recovery_id)).state is S.SUCCEEDED
    state = await charge.refund_step(
        runtime.sessionmaker, runtime.settings, emulator.sdk, org, reversal_id, now=later
    )
    assert state == "succeeded"
    final = await commission_of(runtime, recovery_id)
    assert await refunds_at_stripe(emulator, final.payment_intent_id) == [1000]


# --- notices once -------------------------------------------------------------------------------


async def mails_to(runtime: Runtime, address: str) -> list[OutboundMail]:
    async with runtime.sessionmaker() as session:
        rows = (await session.execute(select(OutboundMail))).scalars().all()
    return [m for m in rows if m.to_address == address]


async def deliver_notice(runtime: Runtime, notice: dict[str, Any]) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        await tasks.commission_notice(session, **notice)


async def test_a_notice_delivered_twice_is_mailed_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    row = await request(runtime, emulator, seller, await recovery(runtime, seller))
    [notice] = await notices(runtime)
    assert notice["attempt"] == 1
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"public_url": "https://sellerhub.example"})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        await deliver_notice(runtime, notice)
        await deliver_notice(runtime, notice)  # delivered again
        await asyncio.gather(*(deliver_notice(runtime, notice) for _ in range(3)))  # racing
    finally:
        jobs.configure(previous)
    [mail] = await mails_to(runtime, seller.user.email)
    assert mail.subject == "A sellerhub payment was declined"
    # The same decision taken again (a replayed answer, the webhook after the API's answer)
    # requests no second notice.
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, seller.organization.id)
        again = await CommissionRepository(session).get(row.id, lock=True)
        assert again is not None
        await service.notify(session, again, "failed")
    assert len(await notices(runtime)) == 1


async def test_a_notice_job_of_an_older_payload_is_mailed_once(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """A job written before notices carried their attempt: the commission's attempt is used."""
    await save_card(runtime, emulator, seller, "pm_card_chargeDeclinedInsufficientFunds")
    await request(runtime, emulator, seller, await recovery(runtime, seller))
    [notice] = await notices(runtime)
    notice.pop("attempt")
    await deliver_notice(runtime, notice)
    await deliver_notice(runtime, notice)
    assert len(await mails_to(runtime, seller.user.email)) == 1


# --- through claims' outbox and the periodic job ------------------------------------------------


async def run_jobs(runtime: Runtime, emulator: Stripe, payloads: list[dict[str, str]]) -> None:
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"stripe_api_base": emulator.base})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        for payload in payloads:
            async with unit_of_work(runtime.sessionmaker) as session:
                await tasks.commission_requested(session, **payload)
    finally:
        jobs.configure(previous)


async def test_a_reimbursement_reversed_through_claims_refunds_its_share(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """Claims records the reimbursement, then Amazon's ``Reimbursement_Reversal`` naming it; each
    requests billing's job (delivered twice here): charged once, refunded its share once."""
    await save_card(runtime, emulator, seller)
    await detect(runtime, seller, lost())
    await reimburse(runtime, seller, paid("R1"))  # 3 x 500
    await run_jobs(runtime, emulator, (await commission_requests(runtime)) * 2)
    [original] = await recoveries_of(runtime, seller)
    row = await commission_of(runtime, original.id)
    assert row.state is S.SUCCEEDED and row.amount_minor == 300
    await reimburse(runtime, seller, paid("R1-REV", quantity=-1, original="R1"))  # -500
    payloads = await commission_requests(runtime)
    assert len(payloads) == 2
    await run_jobs(runtime, emulator, payloads * 2)
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [100]
    after = await commission_of(runtime, original.id)
    assert after.state is S.SUCCEEDED and after.refunded_minor == 100
    assert await charged(emulator, original.id) == 1


async def test_the_sweep_resolves_a_refund_whose_answer_was_lost(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    recovery_id, row = await charged_commission(runtime, emulator, seller, 10_000)
    reversal_id = await reversal(runtime, seller, recovery_id, 10_000)
    await refund_fault(emulator, "after_drop")
    await request(runtime, emulator, seller, reversal_id)
    assert (await refund_row(runtime, reversal_id)).state == "processing"
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, seller.organization.id)
        found = (
            await session.execute(
                select(CommissionRefund).where(CommissionRefund.reversal_id == reversal_id)
            )
        ).scalar_one()
        found.next_attempt_at = utcnow() - dt.timedelta(seconds=1)  # its re-check is due
    previous = jobs.resources()
    settings = runtime.settings.model_copy(update={"stripe_api_base": emulator.base})
    jobs.configure(dataclasses.replace(previous, settings=settings))
    try:
        for _ in range(2):
            async with unit_of_work(runtime.sessionmaker) as session:
                await tasks.sweep(session)
    finally:
        jobs.configure(previous)
    assert (await refund_row(runtime, reversal_id)).state == "succeeded"
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [2000]
    assert (await commission_of(runtime, recovery_id)).state is S.REFUNDED


async def test_a_refund_stripe_refuses_is_settled_without_another(
    runtime: Runtime, emulator: Stripe, seller: Tenant
) -> None:
    """The charge was refunded in full at Stripe (the dashboard) before we heard of it: the
    reversal's refund is refused (400) and settled as nothing, never retried."""
    recovery_id, row = await charged_commission(runtime, emulator, seller, 10_000)
    (await emulator.admin.post("/refund", json={"charge": row.charge_id})).raise_for_status()
    reversal_id = await reversal(runtime, seller, recovery_id, 5_000)
    await request(runtime, emulator, seller, reversal_id)
    refund = await refund_row(runtime, reversal_id)
    assert refund.state == "nothing" and refund.reason and "refused" in refund.reason
    assert refund.next_attempt_at is None
    assert await refunds_at_stripe(emulator, row.payment_intent_id) == [2000]  # the dashboard's
