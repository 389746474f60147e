"""The connections page in a real browser (issue 12): connecting Shopify and WooCommerce through
the emulators, a refused grant found by Test and fixed by Reconnect, failures in words (an
invalid shop, a denied consent, a wrong carrier secret), Disconnect behind the confirmation
dialog, and a member who sees the page but whose admin-only buttons say why they are off."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import Locator, expect

from sellerhub.connections import service as connection_service
from sellerhub.connections.endpoints import failures
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.identity import service as identity
from sellerhub.identity.organizations.models import Membership, Role
from sellerhub.identity.sessions.cookies import CSRF_COOKIE
from sellerhub.runtime import Runtime
from sellerhub.web.pages.connections import FAILURES
from tests.web.conftest import WebPage

SHOP = "acme-web.myshopify.com"
PASSWORD = "correct horse 42"  # a fixture password, registered in tests/conftest.py
FEDEX = {"client_id": "fedex-emulator-client", "account_number": "740561073"}


@pytest.fixture(autouse=True)
def _fresh(runtime: Runtime, live_server: str) -> Iterator[None]:
    """Tables are truncated after each test (``runtime``); the emulators start over too."""
    yield
    for provider in ("amazon", "shopify", "woocommerce", "fedex"):
        httpx.post(f"{live_server}/_emulators/{provider}/_admin/reset", timeout=5)


async def _sign_in(web: WebPage) -> None:
    """Login with Amazon through the emulator: the owner of a personal organization."""
    await web.go("/login")
    await web.page.get_by_role("link", name="Login with Amazon").click()
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(web.base + "/")
    await web.go("/connections")


def _card(web: WebPage, text: str) -> Locator:
    return web.page.locator("article.connection", has_text=text)


async def _connect_shopify(web: WebPage) -> None:
    await web.page.get_by_label("Shop address").fill(SHOP)
    await web.page.get_by_role("button", name="Connect", exact=True).click()
    await expect(web.page).to_have_url(re.compile(rf"/_emulators/shopify/{SHOP}/admin/oauth/"))
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(web.base + "/connections?connected=shopify")


async def test_shopify_connect_revoke_test_and_reconnect(web: WebPage, live_server: str) -> None:
    await _sign_in(web)
    await _connect_shopify(web)
    await expect(web.page.get_by_role("status").first).to_have_text(
        "Your Shopify shop is connected."
    )
    card = _card(web, SHOP)
    await expect(card.locator("[data-status]")).to_have_text("Connected")
    await expect(card.get_by_role("button", name="Reconnect")).to_have_count(0)
    # Test while the grant stands: the answer in words, in place.
    await card.get_by_role("button", name="Test").click()
    await expect(card.locator("[data-check]")).to_contain_text("Test passed: Shopify accepted")
    # The shop revokes every token: the live check finds out and says what to do.
    async with httpx.AsyncClient(timeout=5) as emulator:
        revoked = await emulator.post(f"{live_server}/_emulators/shopify/_admin/revoke")
    assert revoked.status_code == 200
    await card.get_by_role("button", name="Test").click()
    await expect(card.locator("[data-status]")).to_have_text("Needs re-auth")
    await expect(card.locator("[data-check]")).to_contain_text("Test did not pass")
    await expect(card.locator("[data-reason]")).to_contain_text("Reconnect")
    await web.go("/connections")  # the status is stored, not only shown
    await expect(card.locator("[data-status]")).to_have_text("Needs re-auth")
    await card.get_by_role("button", name="Reconnect").click()
    await expect(web.page).to_have_url(re.compile(rf"/_emulators/shopify/{SHOP}/admin/oauth/"))
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(web.base + "/connections?connected=shopify")
    await expect(card.locator("[data-status]")).to_have_text("Connected")
    await expect(web.page.locator("article.connection")).to_have_count(1)  # the same one


async def test_invalid_shop_and_cancelled_install_read_as_words(web: WebPage) -> None:
    await _sign_in(web)
    await web.page.get_by_label("Shop address").fill("evil.example.com")
    await web.page.get_by_role("button", name="Connect", exact=True).click()
    error = web.page.locator("#shopify-shop-error")
    await expect(error).to_contain_text("That is not a Shopify shop address")
    await expect(web.page.get_by_label("Shop address")).to_have_attribute("aria-invalid", "true")
    await expect(web.page).to_have_url(web.base + "/connections")
    # Cancelling at the shop comes back here with the reason.
    await web.page.get_by_label("Shop address").fill(SHOP)
    await web.page.get_by_role("button", name="Connect", exact=True).click()
    await web.page.locator("button[name=decision][value=deny]").click()
    await expect(web.page).to_have_url(web.base + "/connections?failed=shopify-denied")
    await expect(web.page.locator("[data-connections-failure]")).to_have_text(
        FAILURES["shopify-denied"]
    )
    await expect(web.page.locator("article.connection")).to_have_count(0)


async def test_denied_amazon_consent_and_unknown_codes(web: WebPage) -> None:
    await _sign_in(web)
    await web.page.get_by_label("Region of your seller account").select_option("eu")
    await web.page.get_by_role("button", name="Connect Amazon Seller Central").click()
    await expect(web.page).to_have_url(re.compile(r"/_emulators/amazon/apps/authorize/consent"))
    await web.page.locator("button[name=decision][value=deny]").click()
    await expect(web.page).to_have_url(web.base + "/connections?failed=amazon-denied")
    await expect(web.page.locator("[data-connections-failure]")).to_have_text(
        re.compile(r"^Connection failed: you denied permission on Amazon")
    )
    # Text in the URL is never shown: only the fixed words of a known code.
    await web.go("/connections?failed=%3Cb%3Eowned%3C%2Fb%3E&connected=owned")
    await expect(web.page.locator("[data-connections-failure]")).to_have_count(0)
    await expect(web.page.locator("[data-connections-success]")).to_have_count(0)
    assert "owned" not in await web.page.locator("main").inner_text()


async def test_woocommerce_key_grant(web: WebPage) -> None:
    await _sign_in(web)
    store = f"{web.base}/_emulators/woocommerce/stores/demo"
    await web.page.get_by_label("Store address").first.fill(store)
    await web.page.get_by_role("button", name="Connect WooCommerce").click()
    await expect(web.page).to_have_url(re.compile(r"/stores/demo/wc-auth/v1/authorize"))
    await web.page.locator("button[name=decision][value=approve]").click()
    await expect(web.page).to_have_url(web.base + "/connections?connected=woocommerce")
    card = _card(web, "WooCommerce")
    await expect(card.locator("[data-status]")).to_have_text("Connected")
    await expect(card).to_contain_text("read_write")  # the scopes


async def test_fedex_wrong_secret_then_right_one(web: WebPage) -> None:
    await _sign_in(web)
    form = web.page.locator("#connect-fedex form")
    await form.get_by_label("API key").fill(FEDEX["client_id"])
    await form.get_by_label("Secret key").fill("not-the-secret")
    await form.get_by_label("FedEx account number").fill(FEDEX["account_number"])
    await form.get_by_role("button", name="Connect FedEx").click()
    form = web.page.locator("#connect-fedex form")
    await expect(form.locator("[data-form-message]")).to_have_text(
        re.compile(r"^FedEx did not accept this API key and secret key, so nothing was saved")
    )
    await expect(form.get_by_label("Secret key")).to_have_value("")  # never sent back
    await expect(form.get_by_label("API key")).to_have_value("")
    await expect(form.get_by_label("FedEx account number")).to_have_value("740561073")
    # A missing field is named beside the field.
    await form.get_by_role("button", name="Connect FedEx").click()
    await expect(web.page.locator("#fedex-client-secret-error")).to_have_text(
        "Enter the secret key."
    )
    form = web.page.locator("#connect-fedex form")
    await form.get_by_label("API key").fill(FEDEX["client_id"])
    await form.get_by_label("Secret key").fill("fedex-emulator-secret")
    await form.get_by_role("button", name="Connect FedEx").click()
    await expect(web.page).to_have_url(web.base + "/connections?connected=fedex")
    card = _card(web, "FedEx")
    await expect(card.locator("[data-status]")).to_have_text("Connected")
    assert "fedex-emulator-secret" not in await web.page.content()


async def test_disconnect_asks_first(web: WebPage) -> None:
    await _sign_in(web)
    form = web.page.locator("#connect-fedex form")
    await form.get_by_label("API key").fill(FEDEX["client_id"])
    await form.get_by_label("Secret key").fill("fedex-emulator-secret")
    await form.get_by_label("FedEx account number").fill(FEDEX["account_number"])
    await form.get_by_role("button", name="Connect FedEx").click()
    await expect(web.page).to_have_url(web.base + "/connections?connected=fedex")
    card = _card(web, "FedEx")
    dialog = web.page.locator("#modal")
    await card.get_by_role("button", name="Disconnect").click()
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#modal-text")).to_contain_text("Disconnect FedEx")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(card.locator("[data-status]")).to_have_text("Connected")
    await card.get_by_role("button", name="Disconnect").click()
    await dialog.get_by_role("button", name="OK").click()
    await expect(card.locator("[data-status]")).to_have_text("Disconnected")
    await expect(card.get_by_role("button")).to_have_count(0)  # no Test, no Disconnect
    await expect(card.get_by_role("link", name="Enter new credentials")).to_be_visible()
    await web.go("/connections")
    await expect(web.page.get_by_text("Nothing is connected yet.")).to_be_visible()
    # It stays listed, folded away under "Disconnected", with its way back.
    gone = web.page.locator("details.disconnected-list")
    await expect(gone.locator("summary")).to_have_text("Disconnected (1)")
    await gone.locator("summary").click()
    await expect(gone.locator("[data-status]")).to_have_text("Disconnected")
    await expect(gone.get_by_role("link", name="Enter new credentials")).to_be_visible()


async def test_a_member_sees_why_buttons_are_off(web: WebPage, runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:8]
    async with unit_of_work(runtime.sessionmaker) as session:
        owner = await identity.create_user(session, email=f"owner-{tag}@example.com")
        organization = await identity.create_organization(session, name="Members Inc", owner=owner)
        member = await identity.create_user(
            session, email=f"member-{tag}@example.com", password=PASSWORD
        )
        session.add(
            Membership(organization_id=organization.id, user_id=member.id, role=Role.MEMBER.value)
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization.id)
        connection, _ = await connection_service.activate(
            session,
            organization_id=organization.id,
            provider="fedex",
            account="740561073",
            display_name="FedEx 1073",
        )
        connection_id = connection.id
    await web.go("/login")
    await web.page.get_by_label("Email").fill(f"member-{tag}@example.com")
    await web.page.get_by_label("Password").fill(PASSWORD)
    await web.page.get_by_role("button", name="Sign in").click()
    await expect(web.page).to_have_url(web.base + "/")
    await web.go("/connections")
    await expect(web.page.locator("#admin-needed")).to_contain_text("owner or admin")
    card = _card(web, "FedEx")
    await expect(card.get_by_role("button", name="Disconnect")).to_be_disabled()
    await expect(card.get_by_role("button", name="Disconnect")).to_have_attribute(
        "aria-describedby", "admin-needed"
    )
    await expect(card.get_by_role("button", name="Test")).to_be_enabled()
    await expect(web.page.get_by_role("button", name="Connect FedEx")).to_be_disabled()
    await expect(web.page.get_by_role("button", name="Connect", exact=True)).to_be_disabled()
    # The server refuses too, whatever the page shows.
    cookies = await web.page.context.cookies()
    csrf = next(c["value"] for c in cookies if c["name"] == CSRF_COOKIE)
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    refused = await web.page.request.delete(
        f"{web.base}/connections/{connection_id}", headers=headers
    )
    assert refused.status == 403
    started = await web.page.request.post(
        f"{web.base}/connections/shopify", form={"shop": SHOP}, headers=headers
    )
    assert started.status == 403 and not started.headers.get("hx-redirect")
    await web.go("/connections")
    await expect(card.locator("[data-status]")).to_have_text("Connected")


def test_every_failure_code_has_words() -> None:
    assert set(FAILURES) == set(failures.CODES)
    assert all(text.startswith("Connection failed") for text in FAILURES.values())


async def test_manual_keys_are_validated_in_words(web: WebPage) -> None:
    await _sign_in(web)
    form = web.page.locator("#manual-woocommerce form")
    await form.get_by_label("Store address").fill("https://shop.example.com")
    await form.get_by_label("Consumer key").fill("ck_not-a-key")
    await form.get_by_label("Consumer secret").fill("cs_" + "0" * 40)
    await form.get_by_role("button", name="Save WooCommerce keys").click()
    await expect(web.page.locator("#manual-wc-consumer-key-error")).to_have_text(
        "The consumer key is ck_ followed by 40 characters from 0-9 and a-f."
    )
    form = web.page.locator("#manual-woocommerce form")
    await expect(form.get_by_label("Consumer key")).to_have_attribute("aria-invalid", "true")
    await expect(form.get_by_label("Consumer secret")).to_have_value("")  # never sent back
    await expect(form.get_by_label("Store address")).to_have_value("https://shop.example.com")
    # An address that is no address: the rule in words, beside the field.
    await form.get_by_label("Store address").fill("https://user:pw@shop.example.com")
    await form.get_by_label("Consumer key").fill("ck_" + "a" * 40)
    await form.get_by_label("Consumer secret").fill("cs_" + "b" * 40)
    await form.get_by_role("button", name="Save WooCommerce keys").click()
    await expect(web.page.locator("#manual-wc-store-url-error")).to_have_text(
        "The store address must not contain credentials."
    )
    await expect(web.page.locator("article.connection")).to_have_count(0)
