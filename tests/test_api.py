"""HTTP surface of the platform core: operations endpoints, problem+json errors, API keys, roles."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from sellerhub.audit.schemas import AuditEventOut, AuditEventPage
from sellerhub.identity.apikeys.cache import principal_cache
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant

PROBLEM = "application/problem+json"


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "job_queue": "ok", "key_ring": "ok"}


async def test_readyz_names_what_is_down(app: FastAPI, client: httpx.AsyncClient) -> None:
    runtime = app.state.runtime
    good = runtime.engine
    runtime.engine = create_async_engine(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", pool_pre_ping=False
    )
    try:
        response = await client.get("/readyz")
    finally:
        await runtime.engine.dispose()
        runtime.engine = good
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database"]
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["job_queue"] == "ok"


async def test_metrics_and_openapi(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'sellerhub_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        metrics.text
    )
    spec = (await client.get("/openapi.json")).json()
    assert "/api/v1/audit-events" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_request_id_and_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "abcdef123456"})
    assert response.headers["x-request-id"] == "abcdef123456"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    forged = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert forged.headers["x-request-id"] != "bad id\nwith newline"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "send Authorization"),
        ({"Authorization": "Bearer nope"}, "not a valid API key"),
        ({"Authorization": "Bearer shk_unknownunknownunknown"}, "unknown or revoked"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, "send Authorization"),
    ],
)
async def test_unauthenticated_is_problem_json(
    client: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await client.get("/api/v1/organizations/current", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["type"].endswith("/unauthenticated") and detail in body["detail"]


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong = await client.put("/healthz")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method-not-allowed"


async def test_malformed_json_and_validation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    malformed = await client.post(
        "/api/v1/api-keys",
        content=b'{"name": ',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "malformed-json"
    invalid = await client.post("/api/v1/api-keys", json={"name": ""}, headers=tenant.headers)
    assert invalid.status_code == 422
    body = invalid.json()
    assert body["errors"][0]["field"] == "name"
    bad_id = await client.get("/api/v1/audit-events/not-a-uuid", headers=tenant.headers)
    assert bad_id.status_code == 422 and bad_id.json()["errors"][0]["field"] == "event_id"


async def test_api_key_lifecycle(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=tenant.headers)
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("shk_") and created.json()["prefix"] == secret[:8]
    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert all("key" not in k for k in listed.json())
    assert secret not in listed.text
    me = await client.get(
        "/api/v1/organizations/current", headers={"Authorization": f"Bearer {secret}"}
    )
    assert me.status_code == 200 and me.json()["name"] == "Acme"
    revoked = await client.delete(
        f"/api/v1/api-keys/{created.json()['id']}", headers=tenant.headers
    )
    assert revoked.status_code == 204
    after = await client.get(
        "/api/v1/organizations/current", headers={"Authorization": f"Bearer {secret}"}
    )
    assert after.status_code == 401
    events = await client.get("/api/v1/audit-events", headers=tenant.headers)
    actions = [e["action"] for e in events.json()["items"]]
    assert actions[:2] == ["API_KEY_REVOKED", "API_KEY_CREATED"]
    assert secret not in events.text


async def test_member_role_cannot_manage_keys(client: httpx.AsyncClient, runtime: Runtime) -> None:
    member = await make_tenant(runtime, "Members Inc", role=Role.MEMBER)
    assert (
        await client.get("/api/v1/organizations/current", headers=member.headers)
    ).status_code == 200
    denied = await client.post("/api/v1/api-keys", json={"name": "x"}, headers=member.headers)
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden" and "admin" in denied.json()["detail"]
    # A member sees the keys (never a secret) but cannot revoke one.
    listed = await client.get("/api/v1/api-keys", headers=member.headers)
    assert listed.status_code == 200 and len(listed.json()) == 1
    assert all("key" not in k and "secret" not in k for k in listed.json())
    revoke = await client.delete(
        f"/api/v1/api-keys/{listed.json()[0]['id']}", headers=member.headers
    )
    assert revoke.status_code == 403


async def test_revoking_another_orgs_key_is_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await client.post("/api/v1/api-keys", json={"name": "t"}, headers=other_tenant.headers)
    response = await client.delete(
        f"/api/v1/api-keys/{theirs.json()['id']}", headers=tenant.headers
    )
    assert response.status_code == 404
    still = await client.get(
        "/api/v1/organizations/current", headers={"Authorization": f"Bearer {theirs.json()['key']}"}
    )
    assert still.status_code == 200


async def test_audit_paging(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for i in range(5):
        await client.post("/api/v1/api-keys", json={"name": f"k{i}"}, headers=tenant.headers)
    first = (await client.get("/api/v1/audit-events?limit=4", headers=tenant.headers)).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    second = (
        await client.get(
            f"/api/v1/audit-events?limit=4&cursor={first['next_cursor']}", headers=tenant.headers
        )
    ).json()
    ids = [e["id"] for e in first["items"] + second["items"]]
    # ORGANIZATION_CREATED and the fixture's API_KEY_CREATED, then five more keys.
    assert len(ids) == len(set(ids)) == 7 and second["next_cursor"] is None


async def test_committed_before_response(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    """A 2xx means committed: the key is usable from a brand-new connection right away."""
    created = await client.post("/api/v1/api-keys", json={"name": "now"}, headers=tenant.headers)
    async with runtime.engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM api_keys WHERE id = :id"), {"id": created.json()["id"]}
        )
    assert count == 1


async def test_failed_request_rolls_back(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    async with runtime.engine.connect() as conn:
        before = await conn.scalar(text("SELECT count(*) FROM audit_events"))
    # Revoking an unknown key raises after nothing was written: 404, nothing committed.
    response = await client.delete(
        "/api/v1/api-keys/01a20143-3050-7fa2-b26e-d7e83f75fad6", headers=tenant.headers
    )
    assert response.status_code == 404
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM audit_events")) == before


async def test_audit_json_matches_the_documented_schema(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    page = await client.get("/api/v1/audit-events?limit=1", headers=tenant.headers)
    assert page.headers["content-type"] == "application/json"
    parsed = AuditEventPage.model_validate_json(page.content)
    assert len(parsed.items) == 1 and parsed.next_cursor == parsed.items[0].id
    one = await client.get(f"/api/v1/audit-events/{parsed.items[0].id}", headers=tenant.headers)
    assert AuditEventOut.model_validate_json(one.content) == parsed.items[0]
    empty = await client.get("/api/v1/audit-events?action=NOTHING", headers=tenant.headers)
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_revocation_elsewhere_applies_within_the_cache_ttl(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process revoking a key: this process stops accepting it within the TTL."""
    monkeypatch.setattr(principal_cache, "ttl_seconds", 0.3)
    principal_cache.clear()
    url = "/api/v1/organizations/current"
    assert (await client.get(url, headers=tenant.headers)).status_code == 200
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET revoked_at = now()"))
    assert (await client.get(url, headers=tenant.headers)).status_code == 200  # cached
    await asyncio.sleep(0.35)
    assert (await client.get(url, headers=tenant.headers)).status_code == 401


async def test_removed_member_loses_access(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(principal_cache, "ttl_seconds", 0)
    async with runtime.engine.begin() as conn:
        await conn.execute(text("DELETE FROM memberships"))
    response = await client.get("/api/v1/organizations/current", headers=tenant.headers)
    assert response.status_code == 401


async def test_database_unavailable_is_503(
    app: FastAPI, client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from psycopg_pool import AsyncConnectionPool

    closed = AsyncConnectionPool("postgresql://nobody@127.0.0.1:1/none", open=False)
    good = runtime.read_pool
    runtime.read_pool = closed
    try:
        response = await client.get("/api/v1/audit-events", headers=tenant.headers)
    finally:
        runtime.read_pool = good
    assert response.status_code == 503
    assert response.json()["code"] == "database-unavailable"
    assert response.headers["retry-after"] == "2"
