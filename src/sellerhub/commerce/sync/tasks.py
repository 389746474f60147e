"""Sync jobs: the run of one job, the request made after a channel connects or by the periodic
schedule, and the schedule itself (incremental syncs, and revival of runs that died)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.sync import service
from sellerhub.commerce.sync.schemas import SyncRequest
from sellerhub.connections.refresh import RefreshContext
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import resources, task

log = get_logger(__name__)


def _context() -> RefreshContext:
    res = resources()
    assert res.keyring is not None and res.settings is not None and res.http is not None
    return RefreshContext(res.sessionmaker, res.keyring, res.settings, res.http)


@task(service.RUN_TASK, queue="sync")
async def run_sync(session: AsyncSession, organization_id: str, job_id: str) -> None:
    """Pages are committed as they are applied; a transient failure raises so that the queue
    retries the run with backoff, from the saved cursor."""
    await service.run(_context(), uuid.UUID(organization_id), uuid.UUID(job_id))


@task(service.REQUEST_TASK, queue="sync")
async def request_sync(
    session: AsyncSession,
    organization_id: str,
    connection_id: str,
    mode: str = "full",
    resource: str = service.RESOURCE,
) -> None:
    """A sync asked for by the system: after a channel connects (full), by the schedule
    (incremental), or an Amazon seller's FBA inventory (``resource``: after connect, at sign-in,
    hourly). Nothing to do when a job is active or the connection is gone."""
    org = uuid.UUID(organization_id)
    set_tenant(session, org)
    data = SyncRequest.model_validate(
        {"connection_id": connection_id, "mode": mode, "resource": resource}
    )
    try:
        await service.request_sync(session, org, data, requested_by=None)
    except DomainError as exc:
        log.info("sync.not_requested", connection_id=connection_id, code=exc.code)


@task("commerce.sync_schedule", queue="maintenance", cron="*/15 * * * *")
async def schedule(session: AsyncSession) -> None:
    requested, revived = await service.schedule(session)
    if requested or revived:
        log.info("sync.scheduled", requested=requested, revived=revived)
