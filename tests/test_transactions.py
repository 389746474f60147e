"""The transaction boundary: commit on success, roll back on an error — unless the error keeps
its writes (a counted attempt, a burned state, a revoked token family), which is committed and
still raised."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sellerhub.audit import service as audit
from sellerhub.audit.models import AuditEvent
from sellerhub.core.errors import Conflict, RateLimited
from sellerhub.db.session import after_commit, unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from tests.conftest import Tenant


async def _count(runtime: Runtime, tenant: Tenant, action: str) -> int:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return len(rows.all())


async def _write_then_raise(
    runtime: Runtime, tenant: Tenant, action: str, error: Exception
) -> list[str]:
    ran: list[str] = []

    async def hook() -> None:
        ran.append(action)

    async def transaction() -> None:
        async with unit_of_work(runtime.sessionmaker) as session:
            set_tenant(session, tenant.organization.id)
            await audit.record(session, organization_id=tenant.organization.id, action=action)
            after_commit(session, hook)
            raise error

    with pytest.raises(type(error)):
        await transaction()
    return ran


async def test_an_error_rolls_back(runtime: Runtime, tenant: Tenant) -> None:
    ran = await _write_then_raise(runtime, tenant, "ROLLED_BACK", Conflict("no"))
    assert await _count(runtime, tenant, "ROLLED_BACK") == 0 and ran == []


async def test_an_error_that_keeps_its_writes_commits_them_and_still_raises(
    runtime: Runtime, tenant: Tenant
) -> None:
    ran = await _write_then_raise(
        runtime, tenant, "KEPT", Conflict("counted anyway", keep_writes=True)
    )
    assert await _count(runtime, tenant, "KEPT") == 1 and ran == ["KEPT"]


async def test_an_error_class_can_keep_its_writes(runtime: Runtime, tenant: Tenant) -> None:
    class Counted(RateLimited):
        keep_writes = True

    await _write_then_raise(runtime, tenant, "COUNTED", Counted("slow down"))
    assert await _count(runtime, tenant, "COUNTED") == 1
    await _write_then_raise(runtime, tenant, "NOT_KEPT", ValueError("a bug"))
    assert await _count(runtime, tenant, "NOT_KEPT") == 0
