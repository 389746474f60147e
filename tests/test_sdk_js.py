"""The browser SDK (``sdk/js``, ``@sellerhub/sdk``): its generated API types equal a fresh
generation from the server's current OpenAPI document, and its integration tests
(``sdk/js/integration``, node's test runner) pass against a live server over real HTTP — as a
browser on a registered origin sends requests (Origin, CORS preflights): credits (balance,
packages, check, consume, 402 typed with the balance, a reused key, a lost answer retried with
its key and spent once, a Checkout session), user info, refresh rotation and reuse detection,
sign-out. Node and npm are required (``make install`` runs ``npm ci`` in sdk/js)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.conftest import Tenant
from tests.stripe_helpers import stripe_reset
from tests.test_credits_checkout import _package
from tests.test_cross_app import ORIGIN, World, register
from tests.test_sdk_python import _app_id, _grant

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry
__all__ = ["stripe_reset"]  # fixture

SDK = Path(__file__).resolve().parents[1] / "sdk" / "js"


def _npm(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the browser SDK's tests need node and npm (apt-get install nodejs npm)")
    result = subprocess.run(
        [npm, *args], cwd=SDK, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"npm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def built() -> Path:
    """``npm ci`` when sdk/js has no node_modules yet, then ``npm run build``."""
    if not (SDK / "node_modules").is_dir():
        _npm("ci", "--no-audit", "--no-fund")
    _npm("run", "build")
    return SDK


def test_generated_types_are_the_servers_current_document(built: Path) -> None:
    _npm("run", "generate:check", env={**os.environ, "SELLERHUB_PYTHON": sys.executable})


async def _pair(http: httpx.AsyncClient, tenant: Tenant, app_id: str) -> dict[str, object]:
    """A user's app token pair (its own sign-in), asked for as the app's page would."""
    answer = await http.post(
        "/api/cross-app/auth",
        json={"app_id": app_id},
        headers={**tenant.headers, "Origin": ORIGIN},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    return dict(answer.json())


@pytest.mark.usefixtures("stripe_reset")
async def test_integration_against_a_live_server(
    built: Path, live_server: str, world: World, tenant: Tenant, runtime: Runtime
) -> None:
    package_id = await _package(runtime, credits=100, price=900)
    async with httpx.AsyncClient(base_url=live_server) as http:
        app = await register(
            http,
            world.admin.headers,
            _app_id("js"),
            redirect_urls=[f"{ORIGIN}/bought"],
        )
        names = ("credits", "user", "refresh", "logout")  # each its own sign-in
        pairs = {name: await _pair(http, tenant, app.app_id) for name in names}
    await _grant(live_server, world, tenant.organization.id, 10)
    env = {
        **os.environ,
        "SELLERHUB_URL": live_server,
        "SELLERHUB_APP_ID": app.app_id,
        "SELLERHUB_ORIGIN": ORIGIN,
        "SELLERHUB_PAIRS": json.dumps(pairs),
        "SELLERHUB_BALANCE": "10",
        "SELLERHUB_PACKAGE_ID": str(package_id),
        "SELLERHUB_EMAIL": tenant.user.email,
    }
    result = await asyncio.to_thread(
        subprocess.run,
        ["node", "--test", "--test-reporter=tap", "integration/live.test.mjs"],
        cwd=built, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout and "# pass 7" in result.stdout, result.stdout
