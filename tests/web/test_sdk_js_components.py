"""The browser SDK's Web Components (``sdk/js/src/components.ts``, from ``dist/sellerhub.js``)
in Chromium under a strict CSP (``style-src 'self'``, no inline script or style): they render,
take their colours from CSS variables (the adopted stylesheet applies under that policy), act
on clicks and report in words and events, with stand-in SDK objects
(``sdk/js/test/browser``). Any console error — a CSP violation among them — fails the test."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

SDK = Path(__file__).resolve().parents[2] / "sdk" / "js"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"


class _StrictCsp(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    bundle = SDK / "dist" / "sellerhub.js"
    if not bundle.exists():
        pytest.fail("build the browser SDK first: cd sdk/js && npm ci && npm run build")
    root = tmp_path_factory.mktemp("components")
    shutil.copytree(SDK / "test" / "browser", root, dirs_exist_ok=True)
    shutil.copy(bundle, root / "sellerhub.js")
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_StrictCsp, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_components_under_a_strict_csp(chromium: Browser, site: str) -> None:
    context = await chromium.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(f"{site}/components.html")

    login = page.locator("sellerhub-login button")
    await expect(login).to_have_text("Sign in with sellerhub")
    colours = await login.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]"
    )
    assert colours == ["rgb(10, 20, 30)", "rgb(250, 240, 230)"]  # the CSS variables
    await login.click()
    await expect(page.locator("sellerhub-login .status")).to_have_text(
        "Signed in as ada@example.com"
    )
    await expect(login).to_have_text("Sign out")

    shop = page.locator("sellerhub-credit-purchase")
    await expect(shop.locator(".status")).to_have_text("Balance: 12 credits")
    await expect(shop.locator("li")).to_have_count(1)  # the subscription plan is not sold here
    await expect(shop.locator("li span")).to_contain_text("Small: 100 credits")
    await shop.locator("li button").click()
    await expect(page.locator("#events")).to_have_text("sellerhub-signed-in sellerhub-purchase")
    await shop.locator("li button").click()
    await expect(shop.locator(".error")).to_have_text("Error: Checkout is closed today")
    assert await page.evaluate("window.purchases") == [[None, "p1", "popup"]] * 2

    subscriptions = page.locator("sellerhub-subscriptions li")
    await expect(subscriptions).to_contain_text("500 credits per period: active since")
    await expect(subscriptions).to_contain_text("2 paid")

    await login.click()
    await expect(login).to_have_text("Sign in with sellerhub")
    await expect(page.locator("#events")).to_contain_text("sellerhub-signed-out")
    await context.close()
    assert errors == [], errors
