"""When the claims reports are pulled and detection runs: a pull (a sync job of resource
``fba_claims_reports``) after an FBA inventory sync succeeds, unless one succeeded within
``FRESHNESS``, and daily; detection after every pull that succeeds (the sync runner requests
``DETECT_TASK`` in the transaction that completes the job)."""

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
    """Detection over the connection's stored rows (idempotent: claims are upserted by key,
    recoveries created once per reimbursement)."""
    org = uuid.UUID(organization_id)
    set_tenant(session, org)
    found = await service.detect(session, org, uuid.UUID(connection_id), today=utcnow().date())
    log.info(
        "claims.detection_done",
        claims=found.claims,
        new=found.new,
        refreshed=found.refreshed,
        recoveries=found.recoveries,
    )


@task("commerce.claims_reports_schedule", queue="maintenance", cron="30 3 * * *")
async def schedule(session: AsyncSession) -> None:
    """Daily: every connected Amazon seller without an active claims pull gets one."""
    requested = await sync.schedule_fba(session, resource=sync.CLAIMS_RESOURCE)
    if requested:
        log.info("claims_reports.scheduled", requested=requested)
