"""Claims in a real browser (issue 14): claims stored for an organization appear on /claims with
the totals, the nearest deadline first; the packet's message is copied to the clipboard and the
evidence CSV downloads; a bad case id is refused in words under the form and a good one marks
the claim filed; a member sees everything with the buttons disabled and the reason; the
dashboard's Claims card shows the money found and recovered and the next deadline."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import io
from pathlib import Path

from playwright.async_api import expect

from sellerhub.commerce.claims import rules, service
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.runtime import Runtime
from tests.test_claims_workflow import CONNECTION, lost, paid, refunded
from tests.web.conftest import WebPage
from tests.web.test_settings import Team, expect_refused_in_console, make_team, sign_in

BASE_DAY = dt.date(2026, 11, 30)  # the day the claim builders count from


def moved(claim: rules.Claim, delta: dt.timedelta) -> rules.Claim:
    return dataclasses.replace(
        claim,
        event_date=claim.event_date + delta,
        eligible_from=claim.eligible_from + delta,
        deadline=claim.deadline + delta,
    )


async def seed(runtime: Runtime, team: Team) -> dt.date:
    """A ready lost claim (deadline in 40 days), a customer return (50 days) and a lost claim
    already reimbursed; returns the ready claim's deadline."""
    today = utcnow().date()
    delta = today - BASE_DAY
    found = [
        moved(lost("a" * 32), delta),
        moved(refunded("b" * 32), delta),
        moved(lost("c" * 32, fnsku="X00LOST002", quantity=2, value_minor=1000), delta),
    ]
    async with unit_of_work(runtime.sessionmaker) as session:
        await service.record_detected(session, team.organization_id, CONNECTION, found, today=today)
    async with unit_of_work(runtime.sessionmaker) as session:
        row = dataclasses.replace(
            paid("R-WEB-1", quantity=2, fnsku="X00LOST002"),
            approval_date=today - dt.timedelta(days=5),
        )
        await service.record_reimbursements(session, team.organization_id, [row])
    return found[0].deadline


async def test_claims_page_packet_and_filing(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    deadline = await seed(runtime, team)
    await web.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await sign_in(web, team.owner.email)

    # the dashboard's card
    card = web.page.locator("#card-claims").locator("..")
    await expect(card.locator("[data-claims-found]")).to_contain_text("40.99 USD")
    await expect(card.locator("[data-claims-found]")).to_contain_text("2 open claims")
    await expect(card.locator("[data-claims-recovered]")).to_contain_text("10.00 USD")
    await expect(card.locator("[data-claims-deadline]")).to_contain_text(deadline.isoformat())

    await web.page.get_by_role("link", name="Claims", exact=True).first.click()
    await expect(web.page).to_have_url(web.base + "/claims")
    await expect(web.page.locator("[data-found]")).to_have_text("40.99 USD")
    await expect(web.page.locator("[data-recovered]")).to_have_text("10.00 USD")
    keys = await web.page.locator("article.claim").evaluate_all(
        "nodes => nodes.map(n => n.dataset.claim)"
    )
    assert keys == ["a" * 32, "c" * 32, "b" * 32]  # the nearest deadline first
    claim = web.page.locator(f"article[data-claim='{'a' * 32}']")
    await expect(claim.locator("[data-status]")).to_have_text("Ready to file")
    await expect(claim).to_contain_text(f"deadline {deadline.isoformat()}")

    # evidence and packet
    await claim.get_by_text("Evidence (1 row)").click()
    await expect(claim.locator("details.evidence")).to_contain_text("ledger Adjustments of -3")
    await claim.get_by_text("Claim packet").click()
    await claim.get_by_role("button", name="Copy the message").click()
    await expect(claim.get_by_role("button", name="Copied")).to_be_visible()
    copied = await web.page.evaluate("navigator.clipboard.readText()")
    assert "I am requesting a reimbursement for 3 units lost" in copied
    assert "FNSKU: X00LOST001" in copied and "Estimated value: 15.00 USD" in copied
    async with web.page.expect_download() as info:
        await claim.get_by_role("link", name="Download the evidence (CSV)").click()
    download = await info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["type"], r["fnsku"], r["quantity"]) for r in rows] == [
        ("LedgerEvent", "X00LOST001", "-3")
    ]

    # filing: a bad case id in words, then a good one
    field = claim.get_by_label("Amazon case id")
    await field.fill("case 12")
    await claim.get_by_role("button", name="Mark filed").click()
    await expect(claim.locator("form.claim-file [data-errors]")).to_contain_text(
        "case id: must be 6 to 20 digits"
    )
    await field.fill("1234567890")
    await claim.get_by_role("button", name="Mark filed").click()
    await expect(claim.locator("[data-status]")).to_have_text("Filed")
    await expect(claim.locator("[data-case]")).to_have_text("1234567890")
    await expect(claim.get_by_role("button", name="Mark filed")).to_have_count(0)

    # the reimbursed claim is shown closed with its recovery
    done = web.page.locator(f"article[data-claim='{'c' * 32}']")
    await expect(done.locator("[data-status]")).to_have_text("Reimbursed")
    await expect(done).to_contain_text("recovered 10.00 USD")

    # a filter
    await web.page.get_by_label("Status").select_option("filed")
    await web.page.get_by_role("button", name="Apply filters").click()
    await expect(web.page.locator("article.claim")).to_have_count(1)


async def test_a_member_sees_claims_but_cannot_file(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await seed(runtime, team)
    await sign_in(web, team.member.email)
    await web.go("/claims")
    claim = web.page.locator(f"article[data-claim='{'a' * 32}']")
    await expect(claim.get_by_role("button", name="Mark filed")).to_be_disabled()
    await expect(claim.get_by_label("Amazon case id")).to_be_disabled()
    await expect(web.page.locator("#claims-admin-only")).to_have_text(
        "Only an owner or admin of the organization can file or reject claims."
    )
    await claim.get_by_text("Claim packet").click()
    await expect(claim.locator("pre.packet-text")).to_contain_text("FNSKU: X00LOST001")


async def test_a_bad_filter_reads_as_words(web: WebPage, runtime: Runtime) -> None:
    team = await make_team(runtime)
    await sign_in(web, team.owner.email)
    await web.go("/claims?deadline_before=soon")
    await expect(web.page.get_by_text("Deadline by: enter a day as YYYY-MM-DD")).to_be_visible()
    expect_refused_in_console(web, 422, "/claims?deadline_before=soon")
    await web.go("/claims")
    await expect(web.page.get_by_text("No claim found yet.")).to_be_visible()
