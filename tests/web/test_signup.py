"""Email sign-up in a real browser (issue 12): /signup → the 6-digit code read from the
development outbox → /verify-email → the dashboard. Confirming the address starts no session
(``POST /api/auth/verify-email``), so the journey signs in with the password it chose and lands
on the dashboard; a wrong code is refused in words and leaves the address unconfirmed."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.async_api import expect

from sellerhub.runtime import Runtime
from tests.web.conftest import WebPage

PASSWORD = "brand new pass 7"  # a fixture password, registered in tests/conftest.py
CODE = re.compile(r"Your verification code is (\d{6})\b")


async def mailed_code(base: str, email: str) -> str:
    """The code of the newest verification mail to ``email``, from the development mailbox
    (served in development and tests, to loopback clients only)."""
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get("/api/v1/dev/mail", params={"to": email})
    assert answer.status_code == 200, answer.text
    mails = [m for m in answer.json()["items"] if m["subject"].startswith("Confirm your email")]
    assert len(mails) == 1, mails
    found = CODE.search(mails[0]["body_text"])
    assert found, "no code in the verification mail"
    return found.group(1)


async def test_email_signup_to_the_dashboard(web: WebPage, runtime: Runtime) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    page = web.page
    await web.go("/signup")
    await page.get_by_label("Your name").fill("Nora New")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Company (optional)").fill("Nora's Notions")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(re.compile(r"/verify-email\?next=(/|%2F)$"))
    await expect(page.get_by_label("Email")).to_have_value(email)  # remembered from the form

    code = await mailed_code(web.base, email)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    errors = page.locator("form[action='/api/auth/verify-email'] [data-errors]")
    await page.get_by_label("Code").fill(wrong)
    await page.get_by_role("button", name="Confirm").click()
    await expect(errors).to_be_visible()
    await expect(errors).to_contain_text("code")
    await expect(errors).not_to_contain_text("{")
    await expect(page).to_have_url(re.compile(r"/verify-email"))

    await page.get_by_label("Code").fill(code)
    await page.get_by_role("button", name="Confirm").click()
    # No session yet: the dashboard asks to sign in, and comes back after it.
    await expect(page).to_have_url(web.base + "/login?next=%2F")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(web.base + "/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Nora New")
    await expect(page.locator("header .org")).to_have_text("Nora's Notions")
    await expect(page.locator("header .user")).to_have_text(email)
    me = await page.request.get(web.base + "/api/auth/me")
    assert me.status == 200
    assert (await me.json())["user"]["email_verified"] is True


async def test_a_wrong_code_is_refused_in_words(web: WebPage, runtime: Runtime) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    await web.go("/signup")
    await web.page.get_by_label("Email").fill(email)
    await web.page.get_by_label("Password").fill(PASSWORD)
    await web.page.get_by_role("button", name="Create account").click()
    await expect(web.page).to_have_url(re.compile(r"/verify-email"))
    code = await mailed_code(web.base, email)
    errors = web.page.locator("form[action='/api/auth/verify-email'] [data-errors]")
    for wrong in {"000000", "999999"} - {code}:
        await web.page.get_by_label("Code").fill(wrong)
        await web.page.get_by_role("button", name="Confirm").click()
        await expect(errors).to_be_visible()
        text = (await errors.text_content() or "").strip()
        assert text and "{" not in text and "invalid-code" not in text, text
        assert "code" in text.lower(), text
    # Still unconfirmed: sign in and ask.
    async with httpx.AsyncClient(base_url=web.base) as client:
        login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200
        assert login.json()["email_verified"] is False
