"""When the claims reports are pulled and detection runs: a pull (a sync job of resource
``fba_claims_reports``) after an FBA inventory sync succeeds, unless one succeeded within
``FRESHNESS``, and daily; detection (a sync job of resource ``fba_claims_detect``, one
marketplace a page, with the progress, cancel and resume of every sync job) after every pull
that succeeds (the sync runner requests ``DETECT_TASK`` in the transaction that completes the
pull, and that task requests the detection job)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.claims.reports import service
from sellerhub.commerce.sync import service as sync
from sellerhub.commerce.sync.schemas import SyncRequest
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import task

log = get_logger(__name__)

# The FBA inventory syncs hourly; Amazon's reports change daily and createReport allows one a
# minute: after an inventory sync, pull only when the last pull is older than this.
FRESHNESS = timedelta(hours=20)


# On the periodic jobs' queue: a pull after an inventory sync is background work that can
# wait behind the syncs a seller asked for.
@task(service.AFTER_FBA_TASK, queue="maintenance")
async def pull_after_fba(
    session: AsyncSession, organization_id: str, connection_id: str, sync_job_id: str = ""
) -> None:
    """An FBA inventory sync succeeded: pull the claims reports unless they are fresh."""
    org, connection = uuid.UUID(organization_id), uuid.UUID(connection_id)
    set_tenant(session, org)
    last = await sync.last_fba_sync(session, connection, sync.CLAIMS_RESOURCE)
    if last is not None and last.started_at and last.started_at > utcnow() - FRESHNESS:
        return
    data = SyncRequest(connection_id=connection, resource=sync.CLAIMS_RESOURCE)
    try:
        await sync.request_sync(session, org, data, requested_by=None)
    except DomainError as exc:  # one is active, or the connection is gone
        log.info("claims_reports.not_requested", connection_id=connection_id, code=exc.code)


@task(service.DETECT_TASK, queue="sync")
async def detect(
    session: AsyncSession, organization_id: str, connection_id: str, sync_job_id: str = ""
) -> None:
    """A pull succeeded: request the detection job over the connection's stored rows. When a
    detection job is already queued or running it is left to finish (each of its pages reads
    the rows stored when it runs) and the daily pull requests the next one."""
    org, connection = uuid.UUID(organization_id), uuid.UUID(connection_id)
    set_tenant(session, org)
    data = SyncRequest(connection_id=connection, resource=sync.DETECT_RESOURCE)
    try:
        job = await sync.request_sync(session, org, data, requested_by=None)
    except DomainError as exc:  # one is active, or the connection is gone
        log.info("claims.detection_not_requested", connection_id=connection_id, code=exc.code)
        return
    log.info("claims.detection_requested", sync_job_id=str(job.id), after=sync_job_id or None)


@task("commerce.claims_reports_schedule", queue="maintenance", cron="30 3 * * *")
async def schedule(session: AsyncSession) -> None:
    """Daily: every connected Amazon seller without an active claims pull gets one."""
    requested = await sync.schedule_fba(session, resource=sync.CLAIMS_RESOURCE)
    if requested:
        log.info("claims_reports.scheduled", requested=requested)
