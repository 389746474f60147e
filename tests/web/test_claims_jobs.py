"""The claims page's reports pull and detection in a real browser (issue 14): an Amazon seller
account connected through the emulator's consent page; "Pull reports now" starts the pull, whose
progress the page polls; when it finishes the page reloads and shows the detection the pull
requested, then the claims it found; "Run detection" again finds nothing new; a second pull
while one is active is refused in words; a member sees the buttons disabled with the reason."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import expect

from sellerhub.config import Settings
from sellerhub.runtime import Runtime
from tests.jobs_helpers import live_worker, run_worker
from tests.web.conftest import WebPage
from tests.web.test_settings import expect_refused_in_console, make_team, sign_in

US = "ATVPDKIKX0DER"


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker reaches the live server's emulators; reports anchored at today."""
    async with (
        live_worker(settings, live_server),
        httpx.AsyncClient(base_url=f"{live_server}/_emulators/amazon", timeout=10) as admin,
    ):
        configured = await admin.post(
            "/_admin/config", json={"reports": {"anchor": datetime.now(UTC).date().isoformat()}}
        )
        configured.raise_for_status()
        yield
        await admin.post("/_admin/reset")


async def _connect_amazon(web: WebPage, seller: str) -> None:
    await web.go("/connections")
    await web.page.get_by_role("button", name="Connect Amazon Seller Central").click()
    await expect(web.page).to_have_url(re.compile(r"/_emulators/amazon/apps/authorize/consent"))
    await web.page.locator("input[name=selling_partner_id]").fill(seller)
    await web.page.locator("input[name=marketplace_ids]").fill(US)
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(re.compile(r"/connections\?connected="))


async def test_pull_and_detection_started_from_the_claims_page(
    web: WebPage, runtime: Runtime, live_jobs: None
) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await _connect_amazon(web, "A3CLAIMSPAGE01")

    await web.go("/claims")
    panel = web.page.locator("#claims-jobs")
    await expect(panel.locator(".claims-account h3")).to_contain_text("Amazon Seller Central")
    await expect(panel).to_contain_text("No pull has run yet.")
    await expect(web.page.locator("article.claim")).to_have_count(0)

    await panel.get_by_role("button", name="Pull reports now").click()
    pull = panel.locator("li.job", has_text="Reports pull")
    await expect(pull.locator(".job-status")).to_have_text("Waiting to start")
    # a second pull while this one waits: refused, in words
    await panel.get_by_role("button", name="Pull reports now").click()
    flash = web.page.locator("#flash [role=alert]")
    await expect(flash).to_contain_text("wait for it or cancel it")
    await expect(panel.locator("li.job")).to_have_count(1)
    expect_refused_in_console(web, 409, f"{web.base}/claims/jobs")

    # The worker pulls (and the detection the pull requests); the page polls, then reloads.
    await run_worker()
    detection = web.page.locator("#claims-jobs li.job", has_text="Detection")
    await expect(detection.locator(".job-status")).to_have_text("Finished · 100 %", timeout=15_000)
    pulled = web.page.locator("#claims-jobs li.job", has_text="Reports pull")
    await expect(pulled.locator(".job-status")).to_have_text("Finished · 100 %")
    await expect(pulled.locator("progress")).to_have_attribute("value", "5")
    await expect(pulled).to_contain_text("5 of 5 steps done")
    # The page reloads once the detection finished: its claims appear then.
    await expect(web.page.locator("article.claim").first).to_be_visible(timeout=15_000)
    found = await web.page.locator("article.claim").count()
    assert found > 0
    await expect(detection).to_contain_text(f"{found} new claim")

    # detection again, by hand: nothing new
    await web.page.locator("#claims-jobs").get_by_role("button", name="Run detection").click()
    again = web.page.locator("#claims-jobs li.job", has_text="Detection")
    await expect(again.locator(".job-status")).to_have_text("Waiting to start")
    await run_worker()
    await expect(again.locator(".job-status")).to_have_text("Finished · 100 %", timeout=15_000)
    await expect(web.page.locator("#claims-jobs li.job", has_text="Detection")).to_contain_text(
        "0 new claims"
    )
    await expect(web.page.locator("article.claim")).to_have_count(found)


async def test_a_member_sees_the_pull_buttons_disabled_with_the_reason(
    web: WebPage, runtime: Runtime, live_jobs: None
) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await _connect_amazon(web, "A3CLAIMSPAGE02")
    await web.page.context.clear_cookies()
    await sign_in(web, team.member.email)
    await web.go("/claims")
    panel = web.page.locator("#claims-jobs")
    await expect(panel.get_by_role("button", name="Pull reports now")).to_be_disabled()
    await expect(panel.get_by_role("button", name="Run detection")).to_be_disabled()
    await expect(panel.locator("#claims-jobs-why")).to_have_text(
        "Only an owner or admin of the organization can pull reports or run detection."
    )
