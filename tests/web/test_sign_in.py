"""Signing in through the web UI, in a real browser (issue 12): Login with Amazon through the
emulator lands on the dashboard; denying says why in words; every page sends a strict CSP."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.web.conftest import WebPage


async def _amazon_consent(web: WebPage, decision: str) -> None:
    await web.go("/login")
    await web.page.get_by_role("link", name="Login with Amazon").click()
    await expect(web.page).to_have_url(re.compile(r"/_emulators/amazon/ap/oa"))
    await web.page.locator(f"button[name=decision][value={decision}]").click()


async def test_login_with_amazon_lands_on_the_dashboard(web: WebPage) -> None:
    await _amazon_consent(web, "approve")
    await expect(web.page).to_have_url(web.base + "/")
    await expect(web.page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    await expect(web.page.get_by_role("link", name="Connect your Amazon account")).to_be_visible()
    nav = web.page.get_by_role("navigation", name="Main")
    await expect(nav.get_by_role("link", name="Dashboard")).to_have_attribute(
        "aria-current", "page"
    )
    await web.page.get_by_role("button", name="Sign out").click()
    await expect(web.page).to_have_url(re.compile(r"/login$"))
    await web.go("/")  # signed out: the dashboard sends to sign in
    await expect(web.page).to_have_url(re.compile(r"/login\?next=%2F$"))


async def test_denying_on_amazon_reads_as_words(web: WebPage) -> None:
    await _amazon_consent(web, "deny")
    await expect(web.page).to_have_url(re.compile(r"/login\?failed=amazon-denied$"))
    await expect(web.page.get_by_role("alert")).to_have_text(
        "Sign-in cancelled: you denied permission on Amazon, so you are not signed in."
    )


async def test_pages_send_a_strict_content_security_policy(web: WebPage) -> None:
    for path in ("/login", "/signup", "/verify-email", "/reset-password"):
        response = await web.page.goto(web.base + path)
        assert response is not None and response.status == 200, path
        csp = await response.header_value("content-security-policy")
        assert csp is not None, path
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, path
        assert "frame-ancestors 'none'" in csp, path


async def test_wrong_password_is_shown_in_words(web: WebPage) -> None:
    await web.go("/login")
    await web.page.get_by_label("Email").fill("nobody@example.com")
    await web.page.get_by_label("Password").fill("not the password 1")
    await web.page.get_by_role("button", name="Sign in").click()
    error = web.page.locator("form [data-errors]")
    await expect(error).to_be_visible()
    await expect(error).not_to_contain_text("{")
    await expect(web.page).to_have_url(re.compile(r"/login$"))


async def test_pages_fit_a_phone_and_work_from_the_keyboard(web: WebPage) -> None:
    """Readable on a phone (nothing wider than a 375 px screen) and usable without a mouse:
    the sign-in form is reached and submitted from the keyboard."""
    await web.page.set_viewport_size({"width": 375, "height": 740})
    await _amazon_consent(web, "approve")
    for path in ("/", "/connections", "/orders", "/settings", "/settings/api-keys"):
        await web.go(path)
        overflow = await web.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
    await web.page.get_by_role("button", name="Sign out").click()
    await expect(web.page).to_have_url(re.compile(r"/login$"))
    overflow = await web.page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await web.page.keyboard.press("Tab")  # the skip link comes first
    focused = await web.page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"
    await web.page.get_by_label("Email").focus()
    await web.page.keyboard.type("nobody@example.com")
    await web.page.keyboard.press("Tab")
    await web.page.keyboard.type("not the password 1")
    await web.page.keyboard.press("Enter")
    await expect(web.page.locator("form [data-errors]")).to_be_visible()
