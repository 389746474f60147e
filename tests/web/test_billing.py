"""The billing page in a real browser: an owner adds a card through Stripe's hosted page (the
emulator's Checkout in setup mode), sees it as the default once Stripe's signed webhook is
handled, removes it after the confirmation dialog; Finish verification goes through the hosted
onboarding and the account shows verified; a member sees everything with the buttons disabled
and the reason."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import expect

from sellerhub.billing import flows
from sellerhub.billing.stripe.client import client_of
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from tests.stripe_helpers import (
    drain,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)
from tests.web.conftest import WebPage
from tests.web.test_settings import csrf_token, make_team, sign_in

pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")


async def test_owner_adds_and_removes_a_card(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await web.go("/billing")
    page = web.page
    await expect(page.get_by_role("heading", name="Card on file")).to_be_visible()
    await expect(page.get_by_text("No card on file yet")).to_be_visible()
    await page.get_by_role("button", name="Add card").click()
    await expect(page).to_have_url(re.compile(r"/_emulators/stripe/pages/checkout/cs_"))
    await page.get_by_role("button", name="Save card").click()
    await expect(page).to_have_url(web.base + "/billing?card=added")
    await expect(page.get_by_text("Stripe saved your card")).to_be_visible()
    await wait_for_event(runtime, "setup_intent.succeeded")
    await drain(runtime)
    await web.go("/billing")
    row = page.locator("table.billing-cards tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Visa •••• 4242")
    await expect(row).to_contain_text("Default")

    await page.get_by_role("button", name="Remove the card ending in 4242").click()
    dialog = page.locator("#modal")
    await expect(dialog).to_contain_text("Remove the Visa card ending in 4242?")
    await dialog.get_by_role("button", name="OK").click()
    await expect(page.get_by_text("The card was removed")).to_be_visible()
    await expect(page.get_by_text("No card on file yet")).to_be_visible()


async def test_finish_verification_through_the_hosted_onboarding(
    web: WebPage, runtime: Runtime
) -> None:
    team = await make_team(runtime)
    res = jobs.resources()
    assert res.settings is not None
    await flows.onboard_after_amazon(
        res.sessionmaker, client_of(res), res.settings, team.organization_id, uuid.uuid4()
    )
    await sign_in(web, team.owner.email)
    await web.go("/billing")
    page = web.page
    status = page.locator("[data-connect-status]")
    await expect(status).to_have_attribute("data-connect-status", "verification_needed")
    await page.get_by_role("button", name="Finish verification").click()
    await expect(page).to_have_url(re.compile(r"/_emulators/stripe/pages/onboarding/"))
    await page.get_by_role("button", name="Submit").click()
    await expect(page).to_have_url(web.base + "/billing")
    await wait_for_event(runtime, "account.updated")
    await drain(runtime)
    await web.go("/billing")
    await expect(status).to_have_attribute("data-connect-status", "enabled")
    await expect(status).to_contain_text("Verified")


async def test_member_sees_the_buttons_disabled(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.member.email)
    await web.go("/billing")
    page = web.page
    await expect(page.locator("#billing-admin-only")).to_contain_text("owner or admin")
    await expect(page.get_by_role("button", name="Add card")).to_be_disabled()
    await expect(page.locator("[data-connect-status]")).to_have_attribute(
        "data-connect-status", "not_started"
    )
    # A forged request is refused in words (the flash region), nothing is made at Stripe.
    token = await csrf_token(web)
    forged = await page.request.post(
        web.base + "/billing/cards", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert forged.status == 403
    assert "owner or admin" in await forged.text()
    unsigned = await page.request.post(web.base + "/billing/cards", headers={"HX-Request": "true"})
    assert unsigned.status == 403
