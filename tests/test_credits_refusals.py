"""Inputs the ledger's foreign keys would refuse are answered as precise 4xx problems, decided
before the transfer function runs and never logged as errors (the fuzz run found a grant to an
organization that does not exist logged as ``credits.transfer_failed sqlstate=23503``): a grant
to an unknown organization, holds posted or voided that do not exist, a consume or hold named
for an organization that is not the caller's."""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

import httpx
from structlog.testing import capture_logs

from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.conftest import Tenant
from tests.test_credits_api import _no_packages, ads_token, fund, problem, proved  # noqa: F401
from tests.test_cross_app import World

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry


def _errors(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("error", "critical")]


async def test_a_grant_to_an_unknown_organization_is_a_404_without_an_error_log(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    nobody = {"organization_id": str(uuid.uuid4()), "amount": 5, "idempotency_key": "g",
              "reason": "promo"}  # fmt: skip
    with capture_logs() as logs:
        for _ in range(3):
            answer = await client.post(
                "/api/v1/credits/grants", json=nobody, headers=world.admin_headers
            )
            body = problem(answer, 404, "not-found")
            assert "organization" in body["detail"]
    assert _errors(logs) == [], logs
    # The same key then grants a real organization: nothing of the refusals was kept.
    real = {**nobody, "organization_id": str(tenant.organization.id)}
    made = await client.post("/api/v1/credits/grants", json=real, headers=world.admin_headers)
    assert made.status_code == 201 and made.json()["balance_after"] == 5
    await proved(runtime)


async def test_unknown_holds_and_foreign_organizations_are_4xx_without_an_error_log(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant,
    other_tenant: Tenant,
) -> None:  # fmt: skip
    await fund(runtime, tenant.organization.id, 10)
    headers = await ads_token(client, world)
    with capture_logs() as logs:
        for who in (headers, tenant.headers):
            for action in ("post", "void"):
                answer = await client.post(
                    f"/api/v1/credits/holds/{uuid.uuid4()}/{action}", json={}, headers=who
                )
                problem(answer, 404, "not-found")
        # A consume's transfer id named as a hold: not a hold.
        used = await client.post(
            "/api/cross-app/credits/consume",
            json={"amount": 1, "service": "ocr", "idempotency_key": "c1"},
            headers=tenant.headers,
        )
        assert used.status_code == 201, used.text
        problem(
            await client.post(f"/api/v1/credits/holds/{used.json()['id']}/post", json={},
                              headers=tenant.headers),
            404, "not-found",
        )  # fmt: skip
        # An organization named that is not the caller's (nor any): refused before the ledger.
        for org in (str(uuid.uuid4()), str(other_tenant.organization.id)):
            named = {**tenant.headers, "X-Sellerhub-Organization": org}
            problem(
                await client.post(
                    "/api/cross-app/credits/consume",
                    json={"amount": 1, "service": "ocr", "idempotency_key": "c2"},
                    headers=named,
                ),
                403, "organization-not-granted",
            )  # fmt: skip
            problem(
                await client.post(
                    "/api/v1/credits/holds",
                    json={"amount": 1, "service": "ocr", "idempotency_key": "h"},
                    headers=named,
                ),
                403, "organization-not-granted",
            )  # fmt: skip
    assert _errors(logs) == [], logs
    wallet = (await client.get("/api/v1/credits", headers=tenant.headers)).json()
    assert wallet["balance"] == 9
    await proved(runtime)
