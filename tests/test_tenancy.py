"""Tenant scoping is enforced centrally, for every query on a tenant-owned table."""

from __future__ import annotations

import logging
from typing import Any, cast

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from structlog.testing import capture_logs

from sellerhub.audit import service as audit
from sellerhub.audit.models import AuditEvent
from sellerhub.core.errors import TenantScopeViolation
from sellerhub.db.reads import Read, TenantReader
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant, system_context
from sellerhub.deps import SessionDep
from sellerhub.identity.organizations.models import Membership, Organization
from sellerhub.runtime import Runtime
from tests.conftest import Tenant


async def test_query_without_scope_raises(session: AsyncSession, tenant: Tenant) -> None:
    with pytest.raises(TenantScopeViolation, match="AuditEvent"):
        await session.execute(select(AuditEvent))
    with pytest.raises(TenantScopeViolation, match="Membership"):
        await session.scalar(select(Membership).where(Membership.user_id == tenant.user.id))


async def test_bulk_update_without_scope_raises(session: AsyncSession, tenant: Tenant) -> None:
    with pytest.raises(TenantScopeViolation):
        await session.execute(update(Membership).values(role="admin"))


async def test_scoped_session_sees_only_its_rows(
    session: AsyncSession, tenant: Tenant, other_tenant: Tenant
) -> None:
    set_tenant(session, tenant.organization.id)
    rows = (await session.execute(select(AuditEvent))).scalars().all()
    assert rows and {r.organization_id for r in rows} == {tenant.organization.id}
    # An explicit filter for another organization's rows finds nothing.
    crafted = (
        (
            await session.execute(
                select(AuditEvent).where(AuditEvent.organization_id == other_tenant.organization.id)
            )
        )
        .scalars()
        .all()
    )
    assert crafted == []
    # Aliases and joins are scoped too.
    other = aliased(AuditEvent)
    joined = (
        (
            await session.execute(
                select(other).join(Membership, Membership.user_id == other.actor_user_id)
            )
        )
        .scalars()
        .all()
    )
    assert {r.organization_id for r in joined} <= {tenant.organization.id}


async def test_scoped_bulk_update_touches_only_own_rows(
    runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with unit_of_work(runtime.sessionmaker) as s:
        set_tenant(s, tenant.organization.id)
        await s.execute(update(Membership).values(role="owner"))
    async with runtime.sessionmaker() as s:
        with system_context(s, "test: read all memberships"):
            roles = {
                (m.organization_id, m.role) for m in (await s.execute(select(Membership))).scalars()
            }
    assert (other_tenant.organization.id, "owner") in roles


async def test_write_into_another_tenant_raises(
    session: AsyncSession, tenant: Tenant, other_tenant: Tenant
) -> None:
    set_tenant(session, tenant.organization.id)
    session.add(AuditEvent(organization_id=other_tenant.organization.id, action="X", data={}))
    with pytest.raises(TenantScopeViolation, match="another organization"):
        await session.flush()


async def test_write_without_scope_raises(session: AsyncSession, tenant: Tenant) -> None:
    session.add(AuditEvent(organization_id=tenant.organization.id, action="X", data={}))
    with pytest.raises(TenantScopeViolation, match="without an organization scope"):
        await session.flush()


async def test_tenant_cannot_change(
    session: AsyncSession, tenant: Tenant, other_tenant: Tenant
) -> None:
    set_tenant(session, tenant.organization.id)
    with pytest.raises(TenantScopeViolation):
        set_tenant(session, other_tenant.organization.id)


async def test_system_context_is_logged_and_unscoped(
    session: AsyncSession, tenant: Tenant, other_tenant: Tenant
) -> None:
    with capture_logs() as logs, system_context(session, "test: cross-tenant report"):
        orgs = {r.organization_id for r in (await session.execute(select(AuditEvent))).scalars()}
    assert {tenant.organization.id, other_tenant.organization.id} <= orgs
    assert {"event": "tenancy.system_context", "reason": "test: cross-tenant report"}.items() <= (
        logs[0].items()
    )
    # Leaving the context restores enforcement.
    with pytest.raises(TenantScopeViolation):
        await session.execute(select(AuditEvent))


async def test_crafted_id_from_another_org_is_404(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with unit_of_work(runtime.sessionmaker) as s:
        set_tenant(s, other_tenant.organization.id)
        secret_event = await audit.record(
            s, organization_id=other_tenant.organization.id, action="SECRET_THING"
        )
    own = await client.get(f"/api/v1/audit-events/{secret_event.id}", headers=other_tenant.headers)
    assert own.status_code == 200
    crafted = await client.get(f"/api/v1/audit-events/{secret_event.id}", headers=tenant.headers)
    assert crafted.status_code == 404
    assert crafted.headers["content-type"] == "application/problem+json"
    assert "SECRET_THING" not in crafted.text
    listing = await client.get("/api/v1/audit-events?action=SECRET_THING", headers=tenant.headers)
    assert listing.json()["items"] == []


async def test_tenant_violation_in_a_request_is_a_generic_500(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/_test/unscoped")
    async def unscoped(session: SessionDep) -> dict[str, int]:
        await session.execute(select(AuditEvent))
        return {"n": 0}

    caplog.set_level(logging.ERROR)
    try:
        response = await client.get("/_test/unscoped")
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal-error"
    assert "Traceback" not in response.text and "AuditEvent" not in response.text


async def test_core_statements_on_tenant_tables_are_refused(
    session: AsyncSession, tenant: Tenant
) -> None:
    set_tenant(session, tenant.organization.id)
    with pytest.raises(TenantScopeViolation, match="audit_events"):
        await session.execute(select(AuditEvent.__table__))
    with pytest.raises(TenantScopeViolation, match="memberships"):
        await session.execute(delete(cast(Table, Membership.__table__)))
    with pytest.raises(TenantScopeViolation, match="<text>"):
        await session.execute(text("SELECT * FROM audit_events"))
    # Core on platform tables is fine, and so is anything inside a system context.
    await session.execute(select(Organization.__table__.c.id))
    with system_context(session, "test: raw maintenance query"):
        await session.execute(text("SELECT count(*) FROM audit_events"))


async def test_compound_statements_on_tenant_tables_are_refused(
    session: AsyncSession, tenant: Tenant, other_tenant: Tenant
) -> None:
    """The automatic criteria do not reach into the arms of a UNION: one over tenant tables
    would read every organization's rows, so it is refused, ORM entities or not (it was
    answered with another organization's rows before)."""
    set_tenant(session, tenant.organization.id)
    orm = select(Membership.user_id).union_all(select(AuditEvent.actor_user_id))
    with pytest.raises(TenantScopeViolation, match="UNION"):
        await session.execute(orm)
    core = select(AuditEvent.__table__.c.id).union(select(AuditEvent.__table__.c.id))
    with pytest.raises(TenantScopeViolation, match="audit_events"):
        await session.execute(core)
    # Platform tables may be combined, and a system context may do anything (logged).
    await session.execute(select(Organization.id).union(select(Organization.id)))
    with system_context(session, "test: a maintenance union"):
        rows = (await session.execute(orm)).all()
    assert len(rows) >= 2


async def test_tenant_reader_binds_the_organization(
    runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert runtime.read_pool is not None
    reader = TenantReader(runtime.read_pool, tenant.organization.id)
    count = await reader.scalar(
        "SELECT count(*) FROM audit_events WHERE organization_id = %(organization_id)s"
    )
    assert count == 2  # ORGANIZATION_CREATED, API_KEY_CREATED of this tenant only
    with pytest.raises(TenantScopeViolation, match="without"):
        await reader.scalar("SELECT count(*) FROM audit_events")
    with pytest.raises(TenantScopeViolation, match="not a parameter"):
        await reader.scalar(
            "SELECT count(*) FROM audit_events WHERE organization_id = %(organization_id)s",
            organization_id=other_tenant.organization.id,
        )


async def test_reads_combined_in_one_statement_stay_scoped_and_in_order(
    runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    """``read_all``: several reads, one statement, each value decoded in its read's place;
    each read must name the tenant itself, and reads may not disagree on a parameter."""
    assert runtime.read_pool is not None
    reader = TenantReader(runtime.read_pool, tenant.organization.id)
    events = Read(
        "SELECT count(*) FROM audit_events WHERE organization_id = %(organization_id)s"
        " AND action <> %(skip)s",
        {"skip": "nothing"},
        decode=lambda n: f"{n} events",
    )
    name: Read[Any] = Read("SELECT name FROM organizations WHERE id = %(organization_id)s")
    missing: Read[Any] = Read(
        "SELECT id FROM organizations WHERE id = %(organization_id)s AND name = %(name)s",
        {"name": other_tenant.organization.name},
    )
    assert await reader.read_all([events, name, missing]) == [
        "2 events",
        tenant.organization.name,
        None,
    ]
    assert await reader.read_all([]) == []
    with pytest.raises(TenantScopeViolation, match="without"):
        await reader.read_all([name, Read("SELECT count(*) FROM audit_events")])
    with pytest.raises(ValueError, match="skip"):
        await reader.read_all([events, Read(events.sql, {"skip": "other"})])
    with pytest.raises(TenantScopeViolation, match="not a parameter"):
        await reader.read_all([Read(name.sql, {"organization_id": other_tenant.organization.id})])


async def test_tenant_reader_cannot_write(runtime: Runtime, tenant: Tenant) -> None:
    assert runtime.read_pool is not None
    reader = TenantReader(runtime.read_pool, tenant.organization.id)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        await reader.scalar(
            "INSERT INTO audit_events (id, organization_id, action, actor_type, data) "
            "VALUES (gen_random_uuid(), %(organization_id)s, 'X', 'user', '{}') RETURNING id"
        )
