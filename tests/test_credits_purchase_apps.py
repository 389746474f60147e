"""Who may buy credits through ``POST /api/cross-app/credits/purchase``: an app's user token
with ``credits:purchase`` and only to the app's registered redirect URLs, never for another
organization; an app without the permission is 403."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text

from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.conftest import Tenant
from tests.test_credits_api import ORG, _no_packages, ads_token, problem  # noqa: F401
from tests.test_cross_app import ORIGIN, World, app_tokens, bearer, register
from tests.test_service_principals import _created_organization, _service_token

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry

PURCHASE = "/api/cross-app/credits/purchase"
ADS_BACK = "https://ads.example.com/billing/done"


@pytest.fixture
async def package(runtime: Runtime) -> uuid.UUID:
    package_id = uuid.uuid4()
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO credit_packages (id, name, credits, price_minor, currency, active)"
                " VALUES (:id, '100 credits', 100, 1000, 'USD', true)"
            ),
            {"id": package_id},
        )
    return package_id


async def _with_redirect(client: httpx.AsyncClient, world: World) -> None:
    answer = await client.patch(
        "/api/cross-app/apps/adsight",
        json={"redirect_urls": [ADS_BACK]},
        headers=world.admin_headers,
    )
    assert answer.status_code == 200, answer.text


async def test_an_app_without_credits_purchase_is_403(
    client: httpx.AsyncClient, world: World, package: uuid.UUID
) -> None:
    reimb = await app_tokens(client, world, "amzreimb")
    headers = {**bearer(reimb["access_token"]), "Origin": ORIGIN}
    problem(
        await client.post(PURCHASE, json={"package_id": str(package)}, headers=headers),
        403,
        "app-permission-missing",
    )
    read_only = await ads_token(client, world, "credits:read")
    problem(
        await client.post(PURCHASE, json={"package_id": str(package)}, headers=read_only),
        403,
        "app-permission-missing",
    )


async def test_urls_must_be_the_apps_and_the_organization_its_own(
    client: httpx.AsyncClient, world: World, package: uuid.UUID, other_tenant: Tenant
) -> None:
    headers = await ads_token(client, world)
    # No redirect URL registered yet: nowhere to send the buyer back.
    problem(
        await client.post(PURCHASE, json={"package_id": str(package)}, headers=headers),
        422,
        "redirect-not-allowed",
    )
    await _with_redirect(client, world)
    for field, url in (
        ("success_url", "https://evil.example/billing/done"),
        ("cancel_url", "https://ads.example.com/elsewhere"),
        ("success_url", "javascript:alert(1)"),
    ):
        body = {"package_id": str(package), field: url}
        problem(await client.post(PURCHASE, json=body, headers=headers), 422,
                "redirect-not-allowed")  # fmt: skip
    problem(
        await client.post(
            PURCHASE,
            json={"package_id": str(package)},
            headers={**headers, ORG: str(other_tenant.organization.id)},
        ),
        403,
        "organization-not-granted",
    )
    problem(
        await client.post(PURCHASE, json={"amount": 0}, headers=headers), 422, "validation-failed"
    )


async def test_a_service_app_buys_for_an_account_it_signed_up(
    client: httpx.AsyncClient, world: World, package: uuid.UUID, runtime: Runtime
) -> None:
    """The seed's flow for new cross-app users: the service app signs the user up, then starts
    a purchase in the new organization, returning to a browser app's registered URL."""
    service_app = await register(
        client, world.admin_headers, "credits-svc", kind="service", allowed_origins=[],
        permissions=["credits:purchase", "credits:read", "users:create"],
    )  # fmt: skip
    token = await _service_token(client, service_app)
    mine = await _created_organization(client, service_app)
    headers = {**bearer(token), ORG: mine}
    body = {"package_id": str(package)}
    problem(await client.post(PURCHASE, json=body, headers=headers), 422, "redirect-not-allowed")
    await _with_redirect(client, world)
    wrong = {**body, "return_app_id": "adsight", "success_url": "https://evil.example/x"}
    problem(await client.post(PURCHASE, json=wrong, headers=headers), 422, "redirect-not-allowed")
    unknown = {**body, "return_app_id": "no-such-app"}
    problem(await client.post(PURCHASE, json=unknown, headers=headers), 422,
            "redirect-not-allowed")  # fmt: skip
    # Everything checked, Stripe is asked: unreachable from this in-process server, a 503 with
    # Retry-After and no purchase recorded (the live-server tests buy through the emulator).
    down = await client.post(PURCHASE, json={**body, "return_app_id": "adsight"}, headers=headers)
    problem(down, 503, "stripe-unavailable")
    assert down.headers["retry-after"]
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT count(*) FROM credit_purchases"))
        assert rows.scalar_one() == 0
    # An organization the service app did not create is refused.
    other = await _created_organization(client, world.ads)
    problem(
        await client.post(
            PURCHASE,
            json={**body, "return_app_id": "adsight"},
            headers={**bearer(token), ORG: other},
        ),
        403,
        "organization-not-granted",
    )
    # Without credits:purchase the service app is refused.
    reader = await register(
        client, world.admin_headers, "reader-svc", kind="service", allowed_origins=[],
        permissions=["credits:read", "users:create"],
    )  # fmt: skip
    reader_token = await _service_token(client, reader)
    theirs = await _created_organization(client, reader)
    answer = await client.post(
        PURCHASE, json={**body, "return_app_id": "adsight"},
        headers={**bearer(reader_token), ORG: theirs},
    )  # fmt: skip
    assert answer.status_code == 403, answer.text
