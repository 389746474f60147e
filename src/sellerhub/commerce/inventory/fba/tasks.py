"""When an Amazon seller's FBA inventory is synced (a sync job of resource ``fba_inventory``):
after the seller connects SP-API (``connections.flows.amazon_sp`` requests
``AFTER_CONNECT_TASK`` by name), when a member of the organization signs in with Amazon
(``identity.amazon`` requests ``AFTER_LOGIN_TASK`` by name; seed 000 1.2.7), and hourly."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.sync import service as sync
from sellerhub.commerce.sync.schemas import SyncRequest
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import task

log = get_logger(__name__)

AFTER_CONNECT_TASK = "commerce.fba_sync_after_connect"
AFTER_LOGIN_TASK = "commerce.fba_sync_after_login"
# A sign-in does not start another sync when one succeeded this recently (the hourly one, or
# the previous sign-in's): people sign in often, the inventory is read in full every time.
LOGIN_FRESHNESS = timedelta(minutes=15)


async def _request(
    session: AsyncSession, organization_id: uuid.UUID, connection_id: uuid.UUID
) -> None:
    data = SyncRequest(connection_id=connection_id, resource=sync.FBA_RESOURCE)
    try:
        await sync.request_sync(session, organization_id, data, requested_by=None)
    except DomainError as exc:  # one is active, or the connection is gone
        log.info("fba_sync.not_requested", connection_id=str(connection_id), code=exc.code)


@task(AFTER_CONNECT_TASK, queue="sync")
async def sync_after_connect(
    session: AsyncSession, organization_id: str, connection_id: str
) -> None:
    """The first FBA inventory sync of a newly connected Amazon seller."""
    org = uuid.UUID(organization_id)
    set_tenant(session, org)
    await _request(session, org, uuid.UUID(connection_id))


@task(AFTER_LOGIN_TASK, queue="sync")
async def sync_after_login(session: AsyncSession, organization_id: str) -> None:
    """Someone signed in with Amazon: sync the organization's Amazon sellers' FBA inventory,
    unless it succeeded within ``LOGIN_FRESHNESS`` (nothing to do without an SP-API
    connection)."""
    org = uuid.UUID(organization_id)
    set_tenant(session, org)
    for connection_id in await fba.seller_connections(session):
        last = await sync.last_fba_sync(session, connection_id)
        if last is not None and last.started_at and last.started_at > utcnow() - LOGIN_FRESHNESS:
            log.info("fba_sync.fresh_enough", connection_id=str(connection_id))
            continue
        await _request(session, org, connection_id)


@task("commerce.fba_sync_schedule", queue="maintenance", cron="0 * * * *")
async def schedule(session: AsyncSession) -> None:
    """Hourly: every connected Amazon seller without an active FBA sync gets one."""
    requested = await sync.schedule_fba(session)
    if requested:
        log.info("fba_sync.scheduled", requested=requested)
