"""The credits page in a real browser: an owner buys a package through Stripe's hosted page
(the emulator's Checkout), comes back to ``/credits``, sees "Credits added" once the purchase
is fulfilled and the balance risen, and the history lists the purchase; a member sees the page
with Buy disabled and the reason, and a forged buy is refused; a subscription whose renewal
payment fails shows the failure in words until the invoice is paid."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from sellerhub.runtime import Runtime
from tests.stripe_helpers import (
    admin,
    drain,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)
from tests.test_credits_api import _no_packages  # noqa: F401 - fixture
from tests.test_credits_renewals_disputes import DECLINES, _stripe
from tests.web.conftest import WebPage
from tests.web.test_settings import csrf_token, make_team, sign_in

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")


async def _package(runtime: Runtime) -> tuple[uuid.UUID, str]:
    package_id = uuid.uuid4()
    name = f"Starter {package_id.hex[:6]}"
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO credit_packages (id, name, credits, price_minor, currency, active)"
                " VALUES (:id, :name, 250, 1900, 'USD', true)"
            ),
            {"id": package_id, "name": name},
        )
    return package_id, name


async def _monthly_plan(runtime: Runtime) -> str:
    """A package that is a monthly subscription plan; its name."""
    package_id, name = await _package(runtime)
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE credit_packages SET interval = 'month' WHERE id = :id"),
            {"id": package_id},
        )
    return name


async def _subscribe(web: WebPage, runtime: Runtime, name: str) -> None:
    """Subscribe to ``name`` on /credits through the emulator's Checkout; back on /credits once
    the first invoice is paid and handled."""
    page = web.page
    await page.get_by_role("button", name=f"Subscribe to {name}").click()
    await expect(page).to_have_url(re.compile(r"/_emulators/stripe/pages/checkout/cs_"))
    await page.get_by_role("button", name=re.compile("^(Pay|Subscribe)")).click()
    await expect(page).to_have_url(re.compile(r"/credits\?subscription=started"))
    await wait_for_event(runtime, "invoice.paid")


async def test_owner_buys_a_package_through_the_hosted_page(web: WebPage, runtime: Runtime) -> None:
    _, name = await _package(runtime)
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await web.go("/credits")
    page = web.page
    await expect(page.locator("[data-credits-balance]")).to_have_text("0")
    await expect(page.get_by_text("No credit movements yet")).to_be_visible()
    await page.get_by_role("button", name=f"Buy {name}").click()
    await expect(page).to_have_url(re.compile(r"/_emulators/stripe/pages/checkout/cs_"))
    await page.get_by_role("button", name=re.compile("^Pay")).click()
    await expect(page).to_have_url(re.compile(r"/credits\?session_id=cs_"))
    status = page.locator("#credits-purchase")
    await expect(status).to_contain_text("Credits added. 250 credits are in your wallet.")
    await page.get_by_role("link", name="Show the balance").click()
    await expect(page.locator("[data-credits-balance]")).to_have_text("250")
    await expect(page.locator("table.credits-history")).to_contain_text("Credits bought")
    await expect(page.locator("table.credits-purchases")).to_contain_text("Paid")
    await web.go("/")
    await expect(page.locator("[data-credits-card]")).to_contain_text("Balance: 250")
    await expect(page.get_by_role("link", name="Buy credits")).to_be_visible()


async def test_member_sees_buy_disabled(web: WebPage, runtime: Runtime) -> None:
    package_id, name = await _package(runtime)
    team = await make_team(runtime)
    await sign_in(web, team.member.email)
    await web.go("/credits")
    page = web.page
    await expect(page.locator("#credits-admin-only")).to_contain_text("owner or admin")
    await expect(page.get_by_role("button", name=f"Buy {name}")).to_be_disabled()
    token = await csrf_token(web)
    forged = await page.request.post(
        f"{web.base}/credits/buy/{package_id}",
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert forged.status == 403
    assert "owner or admin" in await forged.text()


async def test_owner_subscribes_and_cancels_after_the_dialog(
    web: WebPage, runtime: Runtime
) -> None:
    name = await _monthly_plan(runtime)
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await web.go("/credits")
    page = web.page
    await expect(page.get_by_text("No subscription.")).to_be_visible()
    await _subscribe(web, runtime, name)
    await wait_for_event(runtime, "checkout.session.completed")
    await drain(runtime)
    await web.go("/credits")
    row = page.locator("table.credits-subscriptions tbody tr")
    await expect(row).to_contain_text("Active")
    await expect(page.locator("[data-credits-balance]")).to_have_text("250")
    await page.get_by_role("button", name=f"Cancel {name}").click()
    dialog = page.locator("#modal")
    await expect(dialog).to_contain_text("Stripe stops billing it now")
    await dialog.get_by_role("button", name="OK").click()
    await expect(page.get_by_text("The subscription was cancelled")).to_be_visible()
    await expect(row).to_contain_text("Canceled")
    await expect(page.locator("[data-credits-balance]")).to_have_text("250")


async def test_a_failed_renewal_reads_as_words_until_the_invoice_is_paid(
    web: WebPage, runtime: Runtime
) -> None:
    name = await _monthly_plan(runtime)
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await web.go("/credits")
    page = web.page
    await _subscribe(web, runtime, name)
    await drain(runtime)
    (sub,) = _stripe(web.base, "GET", "/v1/subscriptions")["data"]

    # The next period's payment is declined by the bank.
    failed = admin(web.base, f"subscriptions/{sub['id']}/advance", {"payment_method": DECLINES})
    await wait_for_event(runtime, "invoice.payment_failed")
    await drain(runtime)
    await web.go("/credits")
    alert = page.get_by_role("alert").filter(has_text="renewal payment failed")
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text(f"Your last renewal payment failed for {name}")
    await expect(alert).to_contain_text("No credits were added for it")
    await expect(alert).to_contain_text("the plan's 250 credits are added once it is paid")
    row = page.locator("table.credits-subscriptions tbody tr")
    await expect(row).to_contain_text("Past Due")
    await expect(page.locator("[data-credits-balance]")).to_have_text("250")

    # Stripe's retry goes through: the notice is gone and the period's credits are added once.
    _stripe(
        web.base, "POST", f"/v1/invoices/{failed['id']}/pay", {"payment_method": "pm_card_visa"}
    )
    await wait_for_event(runtime, "invoice.paid", 2)
    await drain(runtime)
    await web.go("/credits")
    await expect(page.locator("[data-credits-balance]")).to_have_text("500")
    await expect(row).to_contain_text("Active")
    await expect(page.locator("[data-credits-renewal-failed]")).to_have_count(0)
    assert not web.console_errors
