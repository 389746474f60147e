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
from tests.test_credits_api import ORG, ads_token, problem
from tests.test_cross_app import ORIGIN, World, app_tokens, bearer

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
