"""Browser tests of the web UI: Playwright for Python driving Debian's ``chromium`` (Playwright
cannot download its own browser here; ``make test`` and ``.ci/run`` install the package). The
async API, on the suite's event loop. One browser for the session; each test gets a fresh
context (its own cookies) and a page that records console errors, which fail the test (a CSP
violation is one)."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

INSTALL_HINT = "install Debian's chromium package (make test does: apt-get install chromium)"


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    assert executable, INSTALL_HINT
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        await browser.close()


def _refused_api_call(text: str, url: str) -> bool:
    """Chrome logs every non-2xx fetch as a console error. An API call the page made that was
    refused with a 4xx (a wrong password, a rate limit) is the page working: it shows the
    refusal in words, which the tests check. Anything else — a script error, a CSP violation, a
    missing file, any 5xx — counts."""
    return "/api/" in url and bool(re.search(r"status of 4\d\d ", text))


@dataclass
class WebPage:
    """A page of a fresh browser context, with what the console said."""

    page: Page
    base: str
    console_errors: list[str] = field(default_factory=list)

    async def go(self, path: str) -> None:
        await self.page.goto(self.base + path)


@pytest.fixture
async def web(chromium: Browser, live_server: str) -> AsyncIterator[WebPage]:
    context = await chromium.new_context(base_url=live_server)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    result = WebPage(page, live_server)

    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not _refused_api_call(message.text, where):
            result.console_errors.append(f"{message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: result.console_errors.append(str(error)))
    yield result
    await context.close()
    assert result.console_errors == [], result.console_errors
