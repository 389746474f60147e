"""The orders page in a real browser (issue 12, deliverable 5): a shop connected through the
Shopify emulator, a sync started from the page with a progress bar polled to 100 %, cancelled
(after a confirmation) and resumed; the orders with their totals in their own currency, their
lines, filters and cursor paging; a member sees the sync button disabled with the reason and is
refused by the server too. Money is formatted from integer minor units."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from sellerhub.commerce.money import to_minor
from sellerhub.commerce.sync import channels
from sellerhub.commerce.sync import service as sync
from sellerhub.commerce.sync.schemas import SyncRequest
from sellerhub.config import Settings
from sellerhub.connections.models import Connection
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity.jwt.service import KeyStore, KeyTimings
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.sessions.endpoints import session_policy
from sellerhub.identity.sessions.service import start_session
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from sellerhub.web.pages.orders import format_money
from tests.conftest import make_tenant
from tests.jobs_helpers import run_worker
from tests.web.conftest import WebPage

SEEDED = 30  # the Shopify emulator's orders per shop


# --- money ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (1999, "USD", "USD 19.99"),
        (5, "usd", "USD 0.05"),
        (0, "EUR", "EUR 0.00"),
        (123_456_789, "USD", "USD 1,234,567.89"),
        (1500, "JPY", "JPY 1,500"),
        (12_345, "KWD", "KWD 12.345"),
        (-250, "GBP", "-GBP 2.50"),
        # Beyond a double's exact integers: still exact, so no float was involved.
        (10**17 + 1, "USD", "USD 1,000,000,000,000,000.01"),
    ],
)
def test_totals_are_shown_with_the_currency_s_own_decimals(
    minor: int, currency: str, shown: str
) -> None:
    assert format_money(minor, currency) == shown


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker reaches the emulators of the live server, like a deployed worker."""
    before = jobs.resources()
    jobs.configure(
        dataclasses.replace(
            before, settings=settings.model_copy(update={"public_url": live_server})
        )
    )
    yield
    jobs.configure(before)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "SHOPIFY_PAGE", 10)


async def _sign_in_with_amazon(web: WebPage) -> None:
    await web.go("/login")
    await web.page.get_by_role("link", name="Login with Amazon").click()
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(web.base + "/")


async def _connect_shop(web: WebPage, shop: str) -> None:
    """Through the Shopify emulator's consent page, back to the orders page."""
    await web.go(f"/api/v1/auth/shopify/install?shop={shop}&next=/orders")
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(web.base + "/orders")


def _emulator_order(live_server: str, shop: str, order: dict[str, Any]) -> None:
    answer = httpx.post(
        f"{live_server}/_emulators/shopify/_admin/orders",
        json={"shop": shop, "order": order},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _emulator_orders(live_server: str, shop: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{live_server}/_emulators/shopify/_admin/orders?shop={shop}", timeout=10)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["orders"])


async def _api_orders(web: WebPage, query: str) -> dict[str, Any]:
    """The JSON API's answer for the same filters, in the same signed-in browser."""
    answer = await web.page.request.get(f"{web.base}/api/v1/orders?{query}")
    assert answer.ok, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


# --- the journey ---------------------------------------------------------------------------


async def test_a_sync_started_from_the_page_fills_the_order_list(
    web: WebPage, live_server: str, live_jobs: None, small_pages: None
) -> None:
    page = web.page
    await _sign_in_with_amazon(web)
    shop = f"web-{uuid.uuid4().hex[:8]}.myshopify.com"
    await _connect_shop(web, shop)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Orders")
    await expect(page.locator("#orders")).to_contain_text("No orders yet")

    # Two orders in currencies with other decimals than the dollar's.
    seeded = _emulator_orders(live_server, shop)
    yen, dinar = seeded[0], seeded[1]
    _emulator_order(
        live_server,
        shop,
        {
            "id": yen["id"],
            "currency": "JPY",
            "total_price": "4500",
            "line_items": [
                {"id": 1, "sku": "JP-TEA", "title": "Sencha", "quantity": 3, "price": "1500"}
            ],
        },
    )
    _emulator_order(
        live_server,
        shop,
        {
            "id": dinar["id"],
            "currency": "KWD",
            "total_price": "12.345",
            "line_items": [
                {"id": 2, "sku": "KW-DATE", "title": "Dates", "quantity": 1, "price": "12.345"}
            ],
        },
    )

    # Start a full sync; cancel it (after the confirmation) before it runs; resume it.
    await page.get_by_label("Store").select_option(label=f"Shopify · {shop}")
    await page.get_by_label("Full: every order again").check()
    await page.get_by_role("button", name="Start sync").click()
    job = page.locator("#sync-jobs li.job").first
    await expect(job).to_contain_text("Full sync of Shopify")
    await expect(job.locator(".job-status")).to_have_text("Waiting to start")
    await expect(job.locator("[hx-trigger='every 1s']")).to_have_count(1)  # polling

    await job.get_by_role("button", name="Cancel sync").click()
    dialog = page.locator("#modal")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Stop this sync after the page in flight?")
    await dialog.get_by_role("button", name="OK").click()
    await expect(job.locator(".job-status")).to_have_text("Cancelled")
    await expect(job.locator("[hx-trigger]")).to_have_count(0)  # polling stopped
    await job.get_by_role("button", name="Resume sync").click()
    await expect(job.locator(".job-status")).to_have_text("Waiting to start")

    # The worker runs it; the page polls the progress until it reaches 100 %.
    await run_worker()
    bar = job.locator("progress")
    await expect(bar).to_have_attribute("value", "100")
    await expect(bar).to_have_attribute("max", "100")
    await expect(job.locator(".job-status")).to_have_text("Finished · 100 %")
    await expect(job).to_contain_text(f"3 pages and {SEEDED} orders done, {SEEDED} new")
    await expect(job.locator("[hx-trigger]")).to_have_count(0)  # no more polling
    await expect(job.get_by_role("button", name="Cancel sync")).to_have_count(0)

    # The list reloaded by itself: every order, with its total in its own currency.
    rows = page.locator("#orders tbody tr")
    await expect(rows).to_have_count(SEEDED)
    api = await _api_orders(web, "limit=50")
    for item in api["items"]:
        row = rows.filter(has=page.get_by_role("rowheader", name=item["number"], exact=True))
        await expect(row).to_contain_text(format_money(item["total_minor"], item["currency"]))
    for order in _emulator_orders(live_server, shop):
        row = rows.filter(has=page.get_by_role("rowheader", name=order["name"], exact=True))
        total = format_money(to_minor(order["total_price"], order["currency"]), order["currency"])
        await expect(row).to_contain_text(total)
    yen_row = rows.filter(has=page.get_by_role("rowheader", name=yen["name"], exact=True))
    await expect(yen_row.locator("td.num")).to_have_text("JPY 4,500")
    dinar_row = rows.filter(has=page.get_by_role("rowheader", name=dinar["name"], exact=True))
    await expect(dinar_row.locator("td.num")).to_have_text("KWD 12.345")
    # An order's lines, in a disclosure.
    await yen_row.get_by_text("1 line").click()
    times = "\N{MULTIPLICATION SIGN}"
    line = yen_row.locator("details li")
    await expect(line).to_have_text(f"3 {times} Sencha JP-TEA at JPY 1,500")

    # Cursor paging: three pages of ten, the same orders as the API's pages, none twice.
    await web.go("/orders?limit=10")
    seen: list[str] = []
    cursor = ""
    for number in range(3):
        api = await _api_orders(web, "limit=10" + (f"&cursor={cursor}" if cursor else ""))
        expected = [item["number"] for item in api["items"]]
        await expect(page.locator("#orders tbody th")).to_have_text(expected)
        seen += expected
        next_link = page.get_by_role("link", name="Next page")
        if number < 2:
            await next_link.click()
            cursor = api["next_cursor"]
            await expect(page).to_have_url(re.compile(rf"cursor={cursor}"))
        else:
            assert api["next_cursor"] is None
            await expect(next_link).to_have_count(0)
    assert len(set(seen)) == SEEDED
    await page.get_by_role("link", name="First page").click()
    await expect(page.locator("#orders tbody tr")).to_have_count(10)

    # Filters: by status (the API's own filter), then a channel without orders.
    await web.go("/orders")
    await page.get_by_label("Status").fill("refunded")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page).to_have_url(re.compile(r"status=refunded"))
    refunded = await _api_orders(web, "status=refunded")
    assert refunded["items"]
    await expect(page.locator("#orders tbody th")).to_have_text(
        [item["number"] for item in refunded["items"]]
    )
    await page.get_by_label("Channel").select_option("woocommerce")
    await page.get_by_label("Status").fill("")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.locator("#orders")).to_contain_text("No order matches these filters.")

    # A bad filter reads as words on a page, not JSON (fetched aside: a 422 page load would be
    # logged by the browser as a console error).
    bad = await page.request.get(f"{web.base}/orders?channel=ebay")
    assert bad.status == 422 and bad.headers["content-type"].startswith("text/html")
    text = await bad.text()
    assert "choose Shopify, WooCommerce or Amazon" in text and '"detail"' not in text


async def test_a_second_sync_of_the_same_store_is_refused_in_words(
    web: WebPage, live_server: str, live_jobs: None
) -> None:
    await _sign_in_with_amazon(web)
    shop = f"web-{uuid.uuid4().hex[:8]}.myshopify.com"
    await _connect_shop(web, shop)
    start = web.page.get_by_role("button", name="Start sync")
    await start.click()
    await expect(web.page.locator("#sync-jobs .job-status")).to_have_text("Waiting to start")
    await start.click()
    flash = web.page.locator("#flash [role=alert]")
    await expect(flash).to_contain_text("wait for it or cancel it")
    await expect(web.page.locator("#sync-jobs li.job")).to_have_count(1)
    # The browser logs the refused request; that one refusal is what this test expects.
    refused = f"status of 409 (Conflict) ({web.base}/orders/sync)"
    assert [e for e in web.console_errors if e.endswith(refused)] == web.console_errors != []
    web.console_errors.clear()


# --- a member ------------------------------------------------------------------------------


async def _member_with_a_store(
    runtime: Runtime, settings: Settings, live_server: str
) -> tuple[Any, str]:
    """An organization with a connected shop and an active sync; a member signed in to it
    (a session started the way every sign-in starts one, its token issued for the live
    server)."""
    keystore = KeyStore(
        runtime.sessionmaker, runtime.keyring, issuer=live_server, timings=KeyTimings.of(settings)
    )
    await keystore.load()
    member = await make_tenant(runtime, role=Role.MEMBER)
    organization_id = member.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        shop = f"member-{uuid.uuid4().hex[:6]}.myshopify.com"
        connection = Connection(
            organization_id=organization_id,
            provider="shopify",
            external_account_id=shop,
            scopes=[],
            details={"shop": shop},
        )
        connection.ensure_id()
        session.add(connection)
        await session.flush()
        await sync.request_sync(
            session, organization_id, SyncRequest(connection_id=connection.id), requested_by=None
        )
        issued = await start_session(
            session,
            keystore,
            session_policy(settings),
            user_id=member.user.id,
            organization_id=organization_id,
            method="test",
        )
    return issued, shop


async def test_a_member_sees_why_they_cannot_start_or_cancel_a_sync(
    web: WebPage, runtime: Runtime, settings: Settings, live_server: str
) -> None:
    issued, shop = await _member_with_a_store(runtime, settings, live_server)
    await web.page.context.add_cookies(
        [
            {"name": "sh_access", "value": issued.access_token, "url": web.base},
            {"name": "sh_csrf", "value": issued.csrf_token, "url": web.base},
        ]
    )
    await web.go("/orders")
    reason = "Only an owner or admin of the organization can start, cancel or resume a sync."
    start = web.page.get_by_role("button", name="Start sync")
    await expect(start).to_be_disabled()
    await expect(start).to_have_accessible_description(reason)
    await expect(web.page.get_by_label("Store")).to_contain_text(shop)
    cancel = web.page.get_by_role("button", name="Cancel sync")
    await expect(cancel).to_be_disabled()
    await expect(cancel).to_have_accessible_description(reason)
    # The server refuses it too, in words.
    connection_id = await web.page.get_by_label("Store").input_value()
    answer = await web.page.request.post(
        f"{web.base}/orders/sync",
        form={"connection_id": connection_id, "mode": "full"},
        headers={"X-CSRF-Token": issued.csrf_token, "HX-Request": "true"},
    )
    assert answer.status == 403
    assert "only an owner or admin" in await answer.text()
    # A job id that is not one, or of no job, is not found.
    missing = await web.page.request.get(f"{web.base}/orders/sync/{uuid.uuid4()}")
    assert missing.status == 404
    assert (await web.page.request.get(f"{web.base}/orders/sync/nope")).status == 404


async def test_signed_out_the_orders_page_sends_to_sign_in(web: WebPage) -> None:
    await web.go("/orders?status=paid")
    await expect(web.page).to_have_url(re.compile(r"/login\?next=%2Forders%3Fstatus%3Dpaid$"))
    polled = await web.page.request.get(
        f"{web.base}/orders/sync/{uuid.uuid4()}", headers={"HX-Request": "true"}
    )
    assert polled.status == 204
    assert polled.headers["hx-redirect"].startswith("/login?next=")
