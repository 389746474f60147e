"""Service principals: a service app's client-credentials token is accepted by endpoints that
name a permission (``deps.require_permission``), acting in one organization the app may act in
(``X-Sellerhub-Organization``; one it created by signup), with its tenant scope; everywhere else
it is refused. The endpoints are added by the tests (no API endpoint needs a permission yet)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub import deps
from sellerhub.identity.apps.cache import app_registry
from sellerhub.identity.organizations.models import Membership
from sellerhub.identity.principal import Principal
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.test_cross_app import (  # noqa: F401 - fixtures
    RegisteredApp,
    World,
    _fresh_registry,
    bearer,
    register,
    world,
)

ORG = "X-Sellerhub-Organization"

ConsumeSession = Annotated[AsyncSession, Depends(deps.tenant_session_for("credits:consume"))]
PurchasePrincipal = Annotated[Principal, Depends(deps.require_permission("credits:purchase"))]
ServiceOnly = Annotated[Principal, Depends(deps.require_permission("credits:consume", users=None))]


@pytest.fixture
def test_routes(app: FastAPI) -> Iterator[None]:
    async def consume(session: ConsumeSession) -> dict[str, Any]:
        members = (await session.scalars(select(Membership))).all()
        return {"organizations": sorted({str(m.organization_id) for m in members})}

    async def purchase(principal: PurchasePrincipal) -> dict[str, str]:
        return {"via": principal.via}

    async def service_only(principal: ServiceOnly) -> dict[str, str]:
        return {"via": principal.via, "organization_id": str(principal.organization_id)}

    before = len(app.router.routes)
    app.add_api_route("/_test/consume", consume, methods=["POST"])
    app.add_api_route("/_test/purchase", purchase, methods=["POST"])
    app.add_api_route("/_test/service-only", service_only, methods=["POST"])
    try:
        yield
    finally:
        del app.router.routes[before:]


@pytest.fixture
async def billing(client: httpx.AsyncClient, world: World) -> RegisteredApp:  # noqa: F811
    return await register(
        client,
        world.admin_headers,
        "billing-svc",
        kind="service",
        allowed_origins=[],
        permissions=["credits:consume", "credits:read", "users:create"],
    )


async def _service_token(
    client: httpx.AsyncClient, app: RegisteredApp, scope: str | None = None
) -> str:
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    response = await client.post("/oauth/token", data=data, headers=app.basic)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _created_organization(client: httpx.AsyncClient, app: RegisteredApp) -> str:
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    response = await client.post(
        "/api/cross-app/signup", json={"email": email, "name": "Buyer"}, headers=app.basic
    )
    assert response.status_code == 201, response.text
    organization: str = response.json()["organization_id"]
    return organization


async def test_a_service_principal_acts_in_an_organization_its_app_created(
    client: httpx.AsyncClient, billing: RegisteredApp, test_routes: None
) -> None:
    token = await _service_token(client, billing)
    mine = await _created_organization(client, billing)
    other = await _created_organization(client, billing)

    ok = await client.post("/_test/consume", headers={**bearer(token), ORG: mine})
    assert ok.status_code == 200, ok.text
    # The tenant is the named organization and only that one.
    assert ok.json() == {"organizations": [mine]}
    again = await client.post("/_test/consume", headers={**bearer(token), ORG: other})
    assert again.json() == {"organizations": [other]}
    service_only = await client.post("/_test/service-only", headers={**bearer(token), ORG: mine})
    assert service_only.json() == {"via": "service", "organization_id": mine}


async def test_a_service_principal_is_refused_elsewhere(
    client: httpx.AsyncClient, billing: RegisteredApp, tenant: Tenant, test_routes: None
) -> None:
    token = await _service_token(client, billing)
    mine = await _created_organization(client, billing)
    headers = {**bearer(token), ORG: mine}

    def problem(response: httpx.Response, status: int, code: str) -> None:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code

    # An organization the app did not create (existing or not): the same 403.
    for organization in (str(tenant.organization.id), str(uuid.uuid4())):
        refused = await client.post("/_test/consume", headers={**bearer(token), ORG: organization})
        problem(refused, 403, "organization-not-granted")
    # No organization named, or not an id.
    problem(await client.post("/_test/consume", headers=bearer(token)), 422, "validation-failed")
    bad = await client.post("/_test/consume", headers={**bearer(token), ORG: "acme"})
    problem(bad, 422, "validation-failed")
    assert bad.json()["errors"][0]["field"] == ORG
    # A permission the app was not granted, or that the token's scope left out.
    problem(await client.post("/_test/purchase", headers=headers), 403, "permission-missing")
    narrow = await _service_token(client, billing, scope="credits:read")
    narrowed = await client.post("/_test/consume", headers={**bearer(narrow), ORG: mine})
    problem(narrowed, 403, "permission-missing")
    # Every user endpoint refuses a service token, with or without an organization.
    for method, path in (
        ("GET", "/api/auth/me"),
        ("GET", "/api/v1/connections"),
        ("GET", "/api/v1/audit-events"),
        ("GET", "/api/v1/api-keys"),
        ("POST", "/api/cross-app/auth"),
    ):
        response = await client.request(method, path, headers=headers, json={"app_id": "x"})
        problem(response, 403, "service-principal-refused")


async def test_bad_expired_or_disabled_service_tokens_are_401(
    client: httpx.AsyncClient, runtime: Runtime, billing: RegisteredApp, test_routes: None
) -> None:
    assert runtime.keystore is not None
    token = await _service_token(client, billing)
    mine = await _created_organization(client, billing)
    head, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    expired, _ = runtime.keystore.issue(
        subject="app:billing-svc",
        audience=runtime.settings.jwt_audience,
        ttl=timedelta(seconds=-600),
        claims={"azp": "billing-svc", "perms": ["credits:consume"]},
    )
    for bad in (f"{head}.{payload}.{flipped}", expired):
        response = await client.post("/_test/consume", headers={**bearer(bad), ORG: mine})
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "unauthenticated"
    # An app token for another app than the subject names.
    forged, _ = runtime.keystore.issue(
        subject="app:billing-svc",
        audience=runtime.settings.jwt_audience,
        ttl=timedelta(minutes=5),
        claims={"azp": "other-svc", "perms": ["credits:consume"]},
    )
    forged_response = await client.post("/_test/consume", headers={**bearer(forged), ORG: mine})
    assert forged_response.status_code == 401
    # A disabled app's tokens stop working (once the registry has seen it).
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE apps SET disabled_at = now() WHERE app_id = 'billing-svc'"))
    app_registry.clear()
    disabled = await client.post("/_test/consume", headers={**bearer(token), ORG: mine})
    assert disabled.status_code == 401


async def test_users_on_permission_endpoints(
    client: httpx.AsyncClient,
    tenant: Tenant,
    world: World,  # noqa: F811 - the fixture
    test_routes: None,
) -> None:
    """Users keep their roles there (a member may consume), and an endpoint for services only
    refuses them."""
    ok = await client.post("/_test/consume", headers=tenant.headers)
    assert ok.status_code == 200 and ok.json() == {"organizations": [str(tenant.organization.id)]}
    assert (await client.post("/_test/purchase", headers=world.user_headers)).status_code == 200
    refused = await client.post("/_test/service-only", headers=tenant.headers)
    assert refused.status_code == 403 and refused.json()["code"] == "permission-missing"
    anonymous = await client.post("/_test/consume")
    assert anonymous.status_code == 401


async def test_validate_token_by_the_app_that_owns_a_service_token(
    client: httpx.AsyncClient,
    runtime: Runtime,
    world: World,  # noqa: F811
    billing: RegisteredApp,
) -> None:
    """A service app introspecting its own client-credentials token gets it as active (what it
    may do, for whom it was issued); any other app gets ``{"active": false}``; a disabled app
    gets nothing at all."""
    token = await _service_token(client, billing, scope="credits:consume credits:read")
    own = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=billing.basic
    )
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["active"] is True
    assert body["sub"] == "app:billing-svc" and body["client_id"] == "billing-svc"
    assert body["aud"] == runtime.settings.jwt_audience
    assert body["perms"] == ["credits:consume", "credits:read"]
    assert body["scope"] == "credits:consume credits:read"
    assert "org" not in body and "roles" not in body

    other = await register(
        client,
        world.admin_headers,
        "ledger-svc",
        kind="service",
        allowed_origins=[],
        permissions=["credits:consume"],
    )
    for headers in (other.basic, world.reimb.basic):  # another service app, a browser app
        response = await client.post(
            "/api/cross-app/validate-token", json={"token": token}, headers=headers
        )
        assert response.status_code == 200 and response.json() == {"active": False}
    # A browser app's user token is not a service app's either.
    user_token = (
        await client.post(
            "/api/cross-app/auth", json={"app_id": "amzreimb"}, headers=world.user_headers
        )
    ).json()["access_token"]
    response = await client.post(
        "/api/cross-app/validate-token", json={"token": user_token}, headers=billing.basic
    )
    assert response.json() == {"active": False}

    # The app's permissions shrink: introspection reports what the token can still do.
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text("UPDATE apps SET permissions = '[\"credits:read\"]' WHERE app_id = 'billing-svc'")
        )
    app_registry.clear()
    narrowed = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=billing.basic
    )
    assert narrowed.json()["perms"] == ["credits:read"]


async def test_a_service_token_of_a_disabled_app_is_refused(
    client: httpx.AsyncClient,
    world: World,  # noqa: F811
    billing: RegisteredApp,
    test_routes: None,
) -> None:
    token = await _service_token(client, billing)
    mine = await _created_organization(client, billing)
    ok = await client.post("/_test/consume", headers={**bearer(token), ORG: mine})
    assert ok.status_code == 200
    disabled = await client.post(
        "/api/cross-app/apps/billing-svc/disable", headers=world.admin_headers
    )
    assert disabled.status_code == 200
    refused = await client.post("/_test/consume", headers={**bearer(token), ORG: mine})
    assert refused.status_code == 401 and "disabled" in refused.json()["detail"]
    introspected = await client.post(
        "/api/cross-app/validate-token", json={"token": token}, headers=billing.basic
    )
    assert introspected.status_code == 403 and introspected.json()["code"] == "app-disabled"
