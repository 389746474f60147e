"""The billing page's money history in a real browser: commissions in words (paid, declined
with the bank's reason and the next try, waiting for the seller's confirmation) paged by their
own cursor, the ledger's payments and the payouts to the seller, a member seeing the same; the
emailed on-session confirmation ending on the billing page (the emulator's 3-D Secure page,
then back with "Payment confirmed" and the commission paid once Stripe's webhook is handled);
the dashboard's billing card."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from sellerhub.billing.commissions import charge
from sellerhub.billing.commissions.models import Commission
from sellerhub.billing.commissions.rules import CommissionState as S
from sellerhub.billing.customers.models import StripeCustomer, StripePaymentMethod
from sellerhub.billing.payouts.models import SellerTransfer, TransferState
from sellerhub.billing.stripe.client import client_of
from sellerhub.billing.transactions.models import StripeTransaction, TransactionKind
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.stripe_helpers import (
    drain,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)
from tests.test_billing_commissions import recovery_in
from tests.web.conftest import WebPage
from tests.web.test_settings import make_team, sign_in

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")


def _commission(organization_id: uuid.UUID, state: S, amount: int, **values: object) -> Commission:
    row = Commission(
        organization_id=organization_id,
        recovery_id=uuid.uuid4(),
        recovery_amount_minor=amount * 5,
        currency="USD",
        rate_bps=2000,
        amount_minor=amount,
        state=state,
        **values,
    )
    row.ensure_id()
    return row


async def history(runtime: Runtime, organization_id: uuid.UUID, paid: int = 1) -> None:
    """``paid`` commissions charged, then one declined (the newest), a charge in the ledger and
    a payout to the seller."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        first = None
        for n in range(paid):
            row = _commission(
                organization_id,
                S.SUCCEEDED,
                1_000 + n,
                payment_intent_id=f"pi_test{uuid.uuid4().hex[:12]}",
                attempt=1,
                succeeded_at=utcnow(),
            )
            first = first or row
            session.add(row)
            await session.flush()
        session.add(
            _commission(
                organization_id,
                S.FAILED,
                2_469,
                attempt=1,
                failed_attempts=1,
                failure_code="card_declined",
                decline_code="insufficient_funds",
                next_attempt_at=dt.datetime(2031, 3, 4, 9, 0),
            )
        )
        assert first is not None
        session.add(
            StripeTransaction(
                organization_id=organization_id,
                kind=TransactionKind.CHARGE,
                stripe_id="ch_test_history",
                amount_minor=1_000,
                currency="USD",
                status="succeeded",
                direction="in",
                commission_id=first.id,
                source="api",
            )
        )
        session.add(
            SellerTransfer(
                organization_id=organization_id,
                recovery_id=uuid.uuid4(),
                commission_id=first.id,
                amount_minor=9_876,
                currency="EUR",
                state=TransferState.PAID,
                transfer_id="tr_test_history",
                transfer_group="recovery_test",
                attempts=1,
            )
        )


async def test_the_history_in_words_paged_and_seen_by_a_member(
    web: WebPage, runtime: Runtime
) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await web.go("/billing")
    page = web.page
    await expect(page.get_by_text("No commissions yet")).to_be_visible()
    await expect(page.get_by_text("No payments yet")).to_be_visible()
    await expect(page.get_by_text("No payouts yet")).to_be_visible()

    await history(runtime, team.organization_id, paid=21)
    await web.go("/billing")
    rows = page.locator("table.billing-commissions tbody tr")
    await expect(rows).to_have_count(20)
    declined = page.locator("table.billing-commissions tr[data-state=failed]")
    await expect(declined).to_contain_text("USD 24.69")
    await expect(declined).to_contain_text("Declined")
    await expect(declined).to_contain_text("the card has insufficient funds")
    await expect(declined).to_contain_text("Tried again on 4 Mar 2031")
    await expect(rows.first).to_contain_text("Declined")  # the newest first
    paid = page.locator("table.billing-commissions tr[data-state=succeeded]")
    await expect(paid.first).to_contain_text("USD 10.20")
    await expect(paid.first).to_contain_text("Charged to your card")
    ledger = page.locator("table.billing-transactions tbody tr")
    await expect(ledger).to_have_count(1)
    await expect(ledger).to_contain_text("Commission charged to your card")
    await expect(ledger).to_contain_text("USD 10.00")
    payout = page.locator("table.billing-payouts tbody tr")
    await expect(payout).to_contain_text("EUR 98.76")
    await expect(payout).to_contain_text("On your Stripe account")

    await page.get_by_role("link", name="Older commissions").click()
    await expect(page).to_have_url(re.compile(r"/billing\?commissions=[0-9a-f-]+#commissions$"))
    await expect(rows).to_have_count(2)
    await expect(rows.last).to_contain_text("USD 10.00")
    await expect(page.get_by_role("link", name="Older commissions")).to_have_count(0)
    await expect(ledger).to_have_count(1)  # the other lists keep their place
    await page.get_by_role("link", name="Newest commissions").click()
    await expect(rows).to_have_count(20)

    # Codes in the URL show their fixed words only; a cursor that is not one is refused in words.
    await web.go("/billing?payment=<b>hacked</b>")
    await expect(page.locator("[data-payment-notice]")).to_have_count(0)
    await expect(page.get_by_text("hacked")).to_have_count(0)
    await web.go("/billing?payment=failed&reason=<i>your_card_is_stolen</i>")
    await expect(page.locator("[data-payment-notice]")).to_contain_text("The payment failed:")
    await expect(page.get_by_text("your_card_is_stolen")).to_have_count(0)
    await web.go("/billing?payment=confirmed")
    await expect(page.locator("[data-payment-notice]")).to_have_text(
        "Payment confirmed. Thank you: the commission is paid."
    )
    bad = await page.request.get(web.base + "/billing?payouts=nope")
    assert bad.status == 422
    assert "does not exist" in await bad.text()

    await page.context.clear_cookies()
    await sign_in(web, team.member.email)
    await web.go("/billing")
    await expect(declined).to_contain_text("the card has insufficient funds")
    await expect(payout).to_contain_text("EUR 98.76")


async def test_another_organizations_history_is_not_shown(web: WebPage, runtime: Runtime) -> None:
    ours, theirs = await make_team(runtime), await make_team(runtime)
    await history(runtime, theirs.organization_id)
    await sign_in(web, ours.owner.email)
    await web.go("/billing")
    await expect(web.page.get_by_text("No commissions yet")).to_be_visible()
    await expect(web.page.get_by_text("No payouts yet")).to_be_visible()


async def save_card(organization_id: uuid.UUID, runtime: Runtime, test_card: str) -> None:
    client = client_of(jobs.resources())
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        made = await client.v1.customers.create_async({"email": "seller@example.com"})
        session.add(StripeCustomer(organization_id=organization_id, stripe_customer_id=made.id))
        card = await client.v1.payment_methods.attach_async(test_card, {"customer": made.id})
        session.add(
            StripePaymentMethod(
                organization_id=organization_id,
                stripe_payment_method_id=card.id,
                stripe_customer_id=made.id,
                set_up_at=utcnow(),
                brand="visa",
                last4="3184",
                exp_month=12,
                exp_year=2030,
                is_default=True,
            )
        )


async def test_the_bank_asks_and_the_seller_confirms_on_session(
    web: WebPage, runtime: Runtime
) -> None:
    team = await make_team(runtime)
    await save_card(team.organization_id, runtime, "pm_card_authenticationRequired")
    recovery_id = await recovery_in(runtime, team.organization_id, 12_345)
    res = jobs.resources()
    assert res.settings is not None
    row = await charge.request(
        res.sessionmaker, res.settings, client_of(res), team.organization_id, recovery_id
    )
    assert row.state is S.REQUIRES_ACTION

    await sign_in(web, team.owner.email)
    await web.go("/billing")
    page = web.page
    waiting = page.locator(f"#commission-{row.id}")
    await expect(waiting).to_contain_text("Warehouse lost claim")
    await expect(waiting).to_contain_text("Your bank wants you to confirm this payment")
    await waiting.get_by_role("link", name="Confirm the payment").click()
    await expect(page).to_have_url(re.compile(r"/_emulators/stripe/"))
    await page.get_by_role("button", name="Complete authentication").click()
    await expect(page).to_have_url(web.base + "/billing?payment=confirmed#commissions")
    await expect(page.locator("[data-payment-notice]")).to_contain_text("Payment confirmed")
    await wait_for_event(runtime, "payment_intent.succeeded")
    await drain(runtime)
    await web.go("/billing")
    await expect(waiting).to_have_attribute("data-state", "succeeded")
    await expect(waiting).to_contain_text("Paid")
    async with runtime.sessionmaker() as session:
        set_tenant(session, team.organization_id)
        states = (await session.execute(select(Commission.state))).scalars().all()
    assert states == [S.SUCCEEDED]


async def test_a_failed_confirmation_comes_back_with_the_reason(
    web: WebPage, runtime: Runtime
) -> None:
    team = await make_team(runtime)
    await save_card(team.organization_id, runtime, "pm_card_authenticationRequired")
    recovery_id = await recovery_in(runtime, team.organization_id, 12_345)
    res = jobs.resources()
    assert res.settings is not None
    row = await charge.request(
        res.sessionmaker, res.settings, client_of(res), team.organization_id, recovery_id
    )
    await sign_in(web, team.member.email)  # any member may confirm the payment
    await web.go(f"/api/v1/billing/commissions/{row.id}/authenticate")
    page = web.page
    await page.get_by_role("button", name="Fail authentication").click()
    await expect(page).to_have_url(re.compile(r"/billing\?payment=failed&reason=\w+#commissions$"))
    notice = page.locator("[data-payment-notice]")
    await expect(notice).to_contain_text("The payment failed: the bank's confirmation failed.")
    await expect(page.locator(f"#commission-{row.id}")).not_to_contain_text("Paid")


async def test_the_dashboards_billing_card(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.member.email)
    await web.go("/")
    page = web.page
    card = page.locator("section[aria-labelledby=card-billing]")
    await expect(card.locator("[data-billing-card-on-file]")).to_have_text("No card on file")
    await expect(card.locator("[data-billing-charged]")).to_contain_text("none yet")
    await expect(card.locator("[data-billing-connect]")).to_contain_text("not started")
    await expect(card.locator("[data-billing-next]")).to_have_text("Add a card")

    await history(runtime, team.organization_id, paid=2)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, team.organization_id)
        session.add(
            StripePaymentMethod(
                organization_id=team.organization_id,
                stripe_payment_method_id="pm_test_dashboard",
                stripe_customer_id="cus_test_dashboard",
                set_up_at=utcnow(),
                brand="mastercard",
                last4="4444",
                exp_month=1,
                exp_year=2031,
                is_default=True,
            )
        )
    await web.go("/")
    await expect(card.locator("[data-billing-card-on-file]")).to_contain_text("Mastercard •• 4444")
    await expect(card.locator("[data-billing-charged]")).to_contain_text("20.01 USD")
    await expect(card.locator("[data-billing-open]")).to_contain_text("24.69 USD")
    next_step = card.locator("[data-billing-next]")
    await expect(next_step).to_have_text("See why a charge was declined")
    await next_step.click()
    await expect(page).to_have_url(web.base + "/billing#commissions")
    await expect(page.locator("tr[data-state=failed]")).to_contain_text("insufficient funds")


async def test_the_return_of_another_organizations_commission_is_not_found(
    web: WebPage, runtime: Runtime
) -> None:
    ours, theirs = await make_team(runtime), await make_team(runtime)
    await save_card(theirs.organization_id, runtime, "pm_card_authenticationRequired")
    recovery_id = await recovery_in(runtime, theirs.organization_id, 12_345)
    res = jobs.resources()
    assert res.settings is not None
    row = await charge.request(
        res.sessionmaker, res.settings, client_of(res), theirs.organization_id, recovery_id
    )
    await sign_in(web, ours.owner.email)
    for path in ("return", "authenticate"):
        answer = await web.page.request.get(
            f"{web.base}/api/v1/billing/commissions/{row.id}/{path}", max_redirects=0
        )
        assert answer.status == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json")
