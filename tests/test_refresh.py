"""The refresh engine against a scripted provider: single flight, rotation kept, failures
classified, needs_reauth, backoff, fairness of the proactive refresher, tenant isolation."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from sellerhub.config import Settings
from sellerhub.connections import vault
from sellerhub.connections.models import Connection
from sellerhub.connections.providers.base import (
    ClientSecrets,
    Grant,
    RefreshFailed,
    TokenGrant,
)
from sellerhub.connections.providers.registry import PROVIDERS
from sellerhub.connections.refresh import (
    NeedsReauth,
    ProviderUnavailable,
    RefreshContext,
    access_token_for,
)
from sellerhub.connections.tasks import refresh_due
from sellerhub.core.clock import utcnow
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.runtime import Runtime
from tests.conftest import Tenant


class ScriptedProvider:
    """A provider whose token endpoint is a script: a list of outcomes, then successes."""

    name = "scripted"
    grant = Grant.CLIENT_CREDENTIALS
    title = "Scripted"

    def __init__(self) -> None:
        self.calls = 0
        self.script: list[RefreshFailed] = []
        self.delay = 0.05
        self.rotate = False

    def api_base(
        self, settings: Settings, environment: str, details: dict[str, Any] | None = None
    ) -> str:
        return "http://scripted.invalid"

    async def fetch_token(
        self, http: httpx.AsyncClient, settings: Settings, secrets: ClientSecrets
    ) -> TokenGrant:
        self.calls += 1
        await asyncio.sleep(self.delay)  # slow enough for concurrent callers to pile up
        if self.script:
            raise self.script.pop(0)
        return TokenGrant(
            access_token=f"access-{self.calls}",
            expires_at=utcnow() + timedelta(hours=1),
            refresh_token=f"refresh-{self.calls}" if self.rotate else None,
        )

    def auth_headers(self, access_token: str, details: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token}"}

    def token_rejected(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def request_auth(self, access_token: str, details: dict[str, Any]) -> httpx.Auth | None:
        return None  # header-only, like most providers


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    scripted = ScriptedProvider()
    PROVIDERS["scripted"] = scripted
    yield scripted
    del PROVIDERS["scripted"]


@pytest.fixture
def ctx(runtime: Runtime) -> RefreshContext:
    return RefreshContext(runtime.sessionmaker, runtime.keyring, runtime.settings, runtime.http)


async def _connection(
    runtime: Runtime, tenant: Tenant, *, expires_in: timedelta, account: str = "acct-1"
) -> uuid.UUID:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider="scripted",
            external_account_id=account,
            scopes=[],
            details={},
        )
        connection.ensure_id()
        vault.store_client_secret(runtime.keyring, connection, "client", "s3cret-value")
        vault.store_tokens(
            runtime.keyring,
            connection,
            TokenGrant("access-0", utcnow() + expires_in, refresh_token="refresh-0"),
        )
        session.add(connection)
    return connection.id


async def _load(runtime: Runtime, tenant: Tenant, connection_id: uuid.UUID) -> Connection:
    async with runtime.sessionmaker() as session:
        set_tenant(session, tenant.organization.id)
        found = await session.get(Connection, connection_id)
        assert found is not None
        return found


async def test_valid_token_is_used_as_is(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    cid = await _connection(runtime, tenant, expires_in=timedelta(hours=1))
    fresh = await access_token_for(ctx, tenant.organization.id, cid)
    assert (fresh.access_token, fresh.refreshed, provider.calls) == ("access-0", False, 0)


async def test_token_expiring_soon_is_refreshed_once_under_200_callers(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    cid = await _connection(runtime, tenant, expires_in=timedelta(minutes=2))
    results = await asyncio.gather(
        *(access_token_for(ctx, tenant.organization.id, cid) for _ in range(200))
    )
    assert provider.calls == 1
    assert {r.access_token for r in results} == {"access-1"}
    stored = await _load(runtime, tenant, cid)
    assert vault.access_token(runtime.keyring, stored) == "access-1"
    assert stored.access_expires_at and stored.access_expires_at > utcnow() + timedelta(minutes=50)


async def test_single_flight_across_processes_rereads_under_the_lock(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    """Another process refreshed while we waited for the row lock: we use its token."""
    cid = await _connection(runtime, tenant, expires_in=timedelta(minutes=1))
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        locked = (
            await session.execute(select(Connection).where(Connection.id == cid).with_for_update())
        ).scalar_one()

        async def caller() -> str:
            return (await access_token_for(ctx, tenant.organization.id, cid)).access_token

        waiting = asyncio.create_task(caller())
        await asyncio.sleep(0.2)
        assert not waiting.done()  # blocked on the row lock held by "the other process"
        vault.store_tokens(
            runtime.keyring, locked, TokenGrant("from-elsewhere", utcnow() + timedelta(hours=1))
        )
    assert await waiting == "from-elsewhere"
    assert provider.calls == 0


async def test_rotated_refresh_token_is_kept(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    provider.rotate = True
    cid = await _connection(runtime, tenant, expires_in=timedelta(seconds=10))
    await access_token_for(ctx, tenant.organization.id, cid)
    stored = await _load(runtime, tenant, cid)
    assert vault.client_secrets(runtime.keyring, stored).refresh_token == "refresh-1"


async def test_invalid_grant_moves_to_needs_reauth_and_stops(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    provider.script = [RefreshFailed("Scripted refused the grant (invalid_grant)", permanent=True)]
    cid = await _connection(runtime, tenant, expires_in=timedelta(seconds=10))
    with pytest.raises(NeedsReauth, match="invalid_grant"):
        await access_token_for(ctx, tenant.organization.id, cid)
    stored = await _load(runtime, tenant, cid)
    assert stored.status == "needs_reauth" and "invalid_grant" in (stored.status_reason or "")
    with pytest.raises(NeedsReauth):  # no further provider calls
        await access_token_for(ctx, tenant.organization.id, cid)
    assert provider.calls == 1
    async with runtime.engine.connect() as conn:
        failed = await conn.scalar(
            text("SELECT data FROM audit_events WHERE action = 'TOKEN_REFRESH_FAILED'")
        )
    assert failed["permanent"] is True and failed["status"] == "needs_reauth"


async def test_transient_failures_back_off_then_need_reauth(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    limit = runtime.settings.connection_max_refresh_failures
    provider.script = [
        RefreshFailed("Scripted is unavailable (HTTP 503)", permanent=False, status=503)
        for _ in range(limit)
    ]
    cid = await _connection(runtime, tenant, expires_in=timedelta(seconds=10))
    with pytest.raises(ProviderUnavailable):
        await access_token_for(ctx, tenant.organization.id, cid)
    stored = await _load(runtime, tenant, cid)
    assert stored.status == "error" and stored.refresh_failures == 1
    assert stored.next_refresh_at is not None and stored.next_refresh_at > utcnow()
    for _ in range(limit - 2):
        with pytest.raises(ProviderUnavailable):
            await access_token_for(ctx, tenant.organization.id, cid)
    with pytest.raises(NeedsReauth, match="times"):
        await access_token_for(ctx, tenant.organization.id, cid)
    assert (await _load(runtime, tenant, cid)).status == "needs_reauth"


async def test_refresh_transitions_are_audited(
    ctx: RefreshContext, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    provider.script = [RefreshFailed("Scripted throttled (HTTP 429)", permanent=False, status=429)]
    cid = await _connection(runtime, tenant, expires_in=timedelta(seconds=10))
    with pytest.raises(ProviderUnavailable):
        await access_token_for(ctx, tenant.organization.id, cid)
    await access_token_for(ctx, tenant.organization.id, cid, force=True)
    async with runtime.engine.connect() as conn:
        actions = [
            a
            for (a,) in await conn.execute(
                text("SELECT action FROM audit_events WHERE target_id = :id ORDER BY id"),
                {"id": str(cid)},
            )
        ]
    assert actions == ["TOKEN_REFRESH_FAILED", "TOKEN_REFRESHED"]


async def test_secrets_are_ciphertext_in_the_database(
    runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    await _connection(runtime, tenant, expires_in=timedelta(hours=1))
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT client_secret, access_token, refresh_token FROM connections")
            )
        ).one()
    assert all(v.startswith("v1.") for v in row)
    assert "s3cret-value" not in str(row) and "access-0" not in str(row)


async def test_proactive_refresh_is_fair_across_organizations(
    ctx: RefreshContext,
    runtime: Runtime,
    tenant: Tenant,
    other_tenant: Tenant,
    provider: ScriptedProvider,
) -> None:
    provider.delay = 0
    for n in range(6):
        await _connection(runtime, tenant, expires_in=timedelta(minutes=1), account=f"a{n}")
    await _connection(runtime, other_tenant, expires_in=timedelta(minutes=10), account="b0")
    await _connection(runtime, tenant, expires_in=timedelta(hours=2), account="not-due")
    async with runtime.sessionmaker() as session:
        with system_context(session, "test"):
            from sellerhub.connections.repository import ConnectionRepository

            due = await ConnectionRepository(session).due_for_refresh(
                before=utcnow() + timedelta(minutes=15), now=utcnow(), limit=2
            )
    # The other organization's one due connection is in the first batch of two, although six
    # of the first organization's expire sooner.
    assert {org for org, _ in due} == {tenant.organization.id, other_tenant.organization.id}
    async with runtime.sessionmaker() as session:
        attempted = await refresh_due(ctx, session, limit=100)
    assert attempted == 7 and provider.calls == 7


async def test_other_organization_cannot_see_or_use_a_connection(
    client: httpx.AsyncClient,
    ctx: RefreshContext,
    runtime: Runtime,
    tenant: Tenant,
    other_tenant: Tenant,
    provider: ScriptedProvider,
) -> None:
    cid = await _connection(runtime, tenant, expires_in=timedelta(hours=1))
    mine = await client.get(f"/api/v1/connections/{cid}", headers=tenant.headers)
    assert mine.status_code == 200 and mine.json()["has_secret"] is True
    assert "s3cret" not in mine.text and "access-0" not in mine.text
    for method, path in (
        ("GET", f"/api/v1/connections/{cid}"),
        ("POST", f"/api/v1/connections/{cid}/test"),
        ("DELETE", f"/api/v1/connections/{cid}"),
    ):
        response = await client.request(method, path, headers=other_tenant.headers)
        assert response.status_code == 404, (method, path)
    assert (await client.get("/api/v1/connections", headers=other_tenant.headers)).json() == []
    with pytest.raises(Exception, match="not found"):
        await access_token_for(ctx, other_tenant.organization.id, cid)


async def test_disconnect_wipes_secrets(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, provider: ScriptedProvider
) -> None:
    cid = await _connection(runtime, tenant, expires_in=timedelta(hours=1))
    assert (
        await client.delete(f"/api/v1/connections/{cid}", headers=tenant.headers)
    ).status_code == 204
    async with runtime.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT status, client_secret, access_token, refresh_token FROM connections")
            )
        ).one()
    assert tuple(row) == ("disconnected", None, None, None)
    assert (
        await client.get(f"/api/v1/connections/{cid}", headers=tenant.headers)
    ).status_code == 404
    events = (await client.get("/api/v1/audit-events", headers=tenant.headers)).json()["items"]
    assert events[0]["action"] == "CHANNEL_DISCONNECTED"
