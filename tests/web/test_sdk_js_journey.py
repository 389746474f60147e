"""The browser SDK (``sdk/js``, bundle ``dist/sellerhub.js``) end to end in Debian's chromium:
its example app, served from ANOTHER origin (another port of 127.0.0.1) registered as a browser
app's origin, logs a user in through sellerhub's popup (sign-in inside the popup, Continue),
shows the user, reads the balance (0), buys a package through Checkout at the Stripe emulator's
hosted page, sees the balance grow once the purchase is fulfilled, consumes a credit and logs
out (the app sign-in is revoked at sellerhub). The same example on an UNREGISTERED origin is
refused: the popup says so in words and the page receives nothing (an error once the popup is
closed)."""

from __future__ import annotations

import asyncio
import functools
import re
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import text

from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.stripe_helpers import (
    drain,
    live_jobs,  # noqa: F401 - fixture
    stripe_reset,  # noqa: F401 - fixture
    wait_for_event,
)
from tests.test_credits_api import _no_packages  # noqa: F401 - fixture
from tests.test_cross_app import World
from tests.web.conftest import WebPage
from tests.web.test_credits import _package
from tests.web.test_settings import PASSWORD, make_team

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry
pytestmark = pytest.mark.usefixtures("live_jobs", "stripe_reset")

SDK = Path(__file__).resolve().parents[2] / "sdk" / "js"
BUNDLE = SDK / "dist" / "sellerhub.js"
EXAMPLE = SDK / "examples" / "app"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":  # the browser asks; the example has none
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example app and the SDK bundle it imports (``./sellerhub.js``), in one folder."""
    if not BUNDLE.exists():
        pytest.fail("build the browser SDK first: cd sdk/js && npm ci && npm run build")
    site = tmp_path_factory.mktemp("example-app")
    shutil.copytree(EXAMPLE, site, dirs_exist_ok=True)
    shutil.copy(BUNDLE, site / "sellerhub.js")
    return site


@pytest.fixture(scope="module")
def app_origin(example_site: Path) -> Iterator[str]:
    """A static HTTP server of the example on its own port: another origin than sellerhub's."""
    yield from _serve(example_site)


@pytest.fixture(scope="module")
def stranger_origin(example_site: Path) -> Iterator[str]:
    """The same example on a third port: an origin no app registered."""
    yield from _serve(example_site)


def _serve(site: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _register(live_server: str, world: World, app_origin: str) -> str:
    app_id = f"example-{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=live_server, timeout=15) as http:
        body = {
            "app_id": app_id,
            "name": "Example App",
            "allowed_origins": [app_origin],
            "redirect_urls": [f"{app_origin}/index.html"],
            "permissions": cross_app.ALL_PERMS,
        }
        response = http.post("/api/cross-app/register", json=body, headers=world.admin.headers)
    assert response.status_code == 201, response.text
    return app_id


def _example(origin: str, live_server: str, app_id: str, **extra: str) -> str:
    return f"{origin}/index.html?" + urlencode({"hub": live_server, "app": app_id, **extra})


async def _live_sign_ins(runtime: Runtime, app_id: str) -> int:
    async with runtime.engine.connect() as conn:
        live = await conn.scalar(
            text(
                "SELECT count(*) FROM app_refresh_tokens WHERE app_id = :a AND revoked_at IS NULL"
            ),
            {"a": app_id},
        )
    return int(live or 0)


async def _eventually(read: Callable[[], Awaitable[int]], wanted: int, within: float = 10) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while await read() != wanted:
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _popup_sign_in(page: Page, email: str) -> Page:
    async with page.expect_popup() as opened:
        await page.locator("#login").click()
    popup = await opened.value
    await expect(popup).to_have_url(re.compile(r"/embed/login\?app_id="))
    await popup.get_by_label("Email").fill(email)
    await popup.get_by_label("Password").fill(PASSWORD)
    await popup.get_by_role("button", name="Sign in").click()
    await expect(popup.locator("#embed-who")).to_contain_text(f"Sign in to Example App as {email}")
    await popup.get_by_role("button", name="Continue").click()
    await popup.wait_for_event("close")
    return popup


async def test_example_app_logs_in_buys_consumes_and_logs_out(
    web: WebPage, runtime: Runtime, live_server: str, world: World, app_origin: str
) -> None:
    app_id = _register(live_server, world, app_origin)
    _, package = await _package(runtime)
    team = await make_team(runtime)
    email = team.owner.email
    page = web.page
    await page.goto(_example(app_origin, live_server, app_id, checkout="popup"))
    await expect(page.locator("#status")).to_have_text("Not signed in")

    await _popup_sign_in(page, email)
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#user")).to_have_text(f"Signed in as {email}")
    await expect(page.locator("#error")).to_have_text("")

    await page.locator("#balance").click()
    await expect(page.locator("#balance-value")).to_have_text("Balance: 0 credits")

    async with page.expect_popup() as opened:
        await page.locator("#buy").click()
    checkout = await opened.value
    await expect(checkout).to_have_url(re.compile(r"/_emulators/stripe/pages/checkout/cs_"))
    await expect(page.locator("#status")).to_contain_text(f"Checkout opened for {package}")
    await checkout.get_by_role("button", name=re.compile("^Pay")).click()
    await expect(checkout).to_have_url(re.compile(re.escape(app_origin) + r"/index\.html\?"))
    await checkout.close()
    await wait_for_event(runtime, "checkout.session.completed")
    await drain(runtime)

    await page.locator("#balance").click()
    await expect(page.locator("#balance-value")).to_have_text("Balance: 250 credits")
    await page.locator("#consume").click()
    await expect(page.locator("#balance-value")).to_have_text("Balance: 249 credits")
    await expect(page.locator("#status")).to_have_text("Consumed 1 credit: balance now 249 credits")

    await page.locator("#logout").click()
    await expect(page.locator("#status")).to_have_text("Signed out")
    await expect(page.locator("#user")).to_have_text("")
    # The SDK forgets the tokens at once, then revokes the sign-in at sellerhub.
    assert await _eventually(lambda: _live_sign_ins(runtime, app_id), 0)
    async with runtime.engine.connect() as conn:
        exchanged = await conn.scalar(
            text("SELECT count(*) FROM app_auth_codes WHERE app_id = :a AND used_at IS NOT NULL"),
            {"a": app_id},
        )
    assert exchanged == 1
    # Signed out, the app's calls are refused in words.
    await page.locator("#balance").click()
    await expect(page.locator("#error")).not_to_have_text("")


async def test_an_unregistered_origin_is_refused(
    web: WebPage,
    runtime: Runtime,
    live_server: str,
    world: World,
    app_origin: str,
    stranger_origin: str,
) -> None:
    app_id = _register(live_server, world, app_origin)
    page = web.page
    await page.goto(_example(stranger_origin, live_server, app_id))
    await expect(page.locator("#status")).to_have_text("Not signed in")
    async with page.expect_popup() as opened:
        await page.locator("#login").click()
    popup = await opened.value
    await expect(popup.get_by_role("heading", level=1)).to_have_text("This site is not allowed")
    await expect(popup.locator("#embed-detail")).to_contain_text(
        "is not registered for Example App"
    )
    await expect(popup.locator("#embed-message")).to_have_count(0)
    await expect(popup.get_by_role("button", name="Continue")).to_have_count(0)
    await popup.close()
    await expect(page.locator("#error")).not_to_have_text("", timeout=10_000)
    await expect(page.locator("#status")).to_have_text("Not signed in")
    await expect(page.locator("#user")).to_have_text("")
    async with runtime.engine.connect() as conn:
        codes = await conn.scalar(
            text("SELECT count(*) FROM app_auth_codes WHERE app_id = :a"), {"a": app_id}
        )
    assert codes == 0


async def test_example_app_logs_in_through_an_iframe(
    web: WebPage, runtime: Runtime, live_server: str, world: World, app_origin: str
) -> None:
    """mode=iframe: sellerhub's page in a frame of the app (frame-ancestors = the app's origin;
    127.0.0.1 on two ports is one site, so the session cookies reach the frame)."""
    app_id = _register(live_server, world, app_origin)
    team = await make_team(runtime)
    email = team.owner.email
    page = web.page
    await page.goto(_example(app_origin, live_server, app_id, mode="iframe"))
    await expect(page.locator("#status")).to_have_text("Not signed in")
    await page.locator("#login").click()
    frame = page.frame_locator("iframe[src*='/embed/login']")
    await frame.get_by_label("Email").fill(email)
    await frame.get_by_label("Password").fill(PASSWORD)
    await frame.get_by_role("button", name="Sign in").click()
    await expect(frame.locator("#embed-who")).to_contain_text(f"as {email}")
    await frame.get_by_role("button", name="Continue").click()
    await expect(page.locator("#status")).to_have_text("Signed in")
    await expect(page.locator("#user")).to_have_text(f"Signed in as {email}")
