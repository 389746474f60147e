"""Order sync jobs: a paginated pull of a channel's orders (the listings are in ``channels``:
Shopify ``Link`` cursor pagination with ``status=any``, WooCommerce ``page``/``X-WP-TotalPages``),
tracked in ``sync_jobs``.

A run claims the job with a lease, then per page: fetch it through the provider client (token
refreshed on demand, per-connection token bucket, 429 waited out), then in one transaction apply
its orders (the ``updated_at`` guard keeps newer data) and save the next page's cursor. A run
stopped anywhere resumes from the last saved cursor, whether it is retried by the queue, taken
over after its lease lapsed (the worker died) or resumed by a user after a failure. Shopify's
``X-Shopify-Shop-Api-Call-Limit`` is read after every page and the run pauses before the bucket
fills, so the other callers of the same shop keep their share.

The same runner syncs a seller's Amazon FBA inventory (resource ``fba_inventory`` of an
``amazon_spapi`` connection): ``channels.fba_inventory_page`` reads the pages and
``commerce.inventory.fba.service.apply_page`` applies each (levels, journal, the run's snapshot)
in the transaction that saves the next cursor; its docstring has the details."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce import flows
from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.orders import mapping
from sellerhub.commerce.sync import channels
from sellerhub.commerce.sync.channels import Claimed, Page, SyncFailed, Throttled
from sellerhub.commerce.sync.models import ACTIVE, SyncJob, SyncStatus
from sellerhub.commerce.sync.repository import (
    SyncJobRepository,
    channels_to_sync,
    recent_json,
    stale_active,
)
from sellerhub.commerce.sync.schemas import SyncJobOut, SyncRequest
from sellerhub.connections import service as connections
from sellerhub.connections.models import ConnectionStatus
from sellerhub.connections.refresh import NeedsReauth, RefreshContext
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import (
    Conflict,
    DomainError,
    NotFound,
    UpstreamUnavailable,
    ValidationFailed,
)
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import enqueue

log = get_logger(__name__)

RUN_TASK = "commerce.sync_run"
REQUEST_TASK = "commerce.sync_request"  # by name from connections (no import across domains)
CHANNELS = ("shopify", "woocommerce")
RESOURCE = channels.ORDERS
FBA_RESOURCE = channels.FBA_INVENTORY
CLAIMS_RESOURCE = channels.CLAIMS_REPORTS
DETECT_RESOURCE = channels.CLAIMS_DETECT
AMAZON_RESOURCES = (FBA_RESOURCE, CLAIMS_RESOURCE, DETECT_RESOURCE)
FBA_PROVIDER = fba.PROVIDER
LEASE = timedelta(minutes=5)  # a run silent for longer than this has died
MAX_ATTEMPTS = 6  # runs that end in a transient failure before the job is marked failed
MAX_THROTTLES_IN_A_ROW = 10
INCREMENTAL_OVERLAP = timedelta(minutes=10)  # clock skew between us and the store


class SyncJobActive(Conflict):
    code = "sync-job-active"
    title = "A sync of this connection is already running"


class NotAChannel(ValidationFailed):
    code = "not-a-channel"
    title = "Only sales channels (Shopify, WooCommerce) have orders to sync"


class ConnectionNeedsReauth(Conflict):
    code = "connection-needs-reauth"
    title = "The connection must be authorized again before it can sync"


class NotResumable(Conflict):
    code = "sync-job-not-resumable"
    title = "Only a failed or cancelled sync job can be resumed"


def describe(job: SyncJob) -> SyncJobOut:
    return SyncJobOut(
        id=job.id,
        connection_id=job.connection_id,
        channel=job.channel,
        resource=job.resource,
        mode=job.mode,
        since=job.since,
        status=job.status,
        pages=job.pages,
        fetched=job.fetched,
        changed=job.changed,
        skipped=job.skipped,
        throttled=job.throttled,
        attempts=job.attempts,
        last_error=job.last_error,
        resumable=job.status in (SyncStatus.FAILED.value, SyncStatus.CANCELLED.value),
        started_at=job.started_at,
        finished_at=job.finished_at,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


# -- requests ------------------------------------------------------------------------------


async def request_sync(
    session: AsyncSession,
    organization_id: uuid.UUID,
    data: SyncRequest,
    *,
    requested_by: uuid.UUID | None,
) -> SyncJob:
    """Create the job and request its run in the caller's transaction. 409 when the
    connection already has an active job; 422 for a connection that is not a channel."""
    connection = await connections.get_connection(session, data.connection_id)
    if data.resource in AMAZON_RESOURCES:
        await fba.check_connection(session, connection.id)
    elif connection.provider not in CHANNELS:
        raise NotAChannel(f"a {connection.provider} connection has no orders to sync")
    if connection.status == ConnectionStatus.NEEDS_REAUTH.value:
        raise ConnectionNeedsReauth(
            f"{connection.status_reason or 'the grant is gone'}; connect the channel again"
        )
    repo = SyncJobRepository(session)
    active = await repo.active_for(connection.id, data.resource)
    if active is not None:
        raise SyncJobActive(f"sync job {active.id} is {active.status}; wait for it or cancel it")
    mode, since = data.mode, data.since
    if data.resource in (FBA_RESOURCE, DETECT_RESOURCE):  # levels are absolute; all rows
        mode, since = "full", None
    if data.resource == CLAIMS_RESOURCE and since is None:  # reports: since the last pull
        mode = "incremental"
    if mode == "incremental" and since is None:
        last = await repo.last_succeeded(connection.id, data.resource)
        if last is None or last.started_at is None:
            mode = "full"  # nothing synced yet: everything is new
        else:
            since = last.started_at - INCREMENTAL_OVERLAP
    job = SyncJob(
        organization_id=organization_id,
        connection_id=connection.id,
        channel=connection.provider,
        resource=data.resource,
        mode=mode,
        since=since,
        requested_by=requested_by,
    )
    job.ensure_id()
    try:
        async with session.begin_nested():
            repo.add(job)
    except IntegrityError:  # a concurrent request created the active job first
        raise SyncJobActive("a sync of this connection was started at the same moment") from None
    await _request_run(session, organization_id, job.id)
    await session.refresh(job)
    log.info(
        "sync.requested", job_id=str(job.id), channel=job.channel, resource=job.resource, mode=mode
    )
    return job


async def _request_run(
    session: AsyncSession, organization_id: uuid.UUID, job_id: uuid.UUID
) -> None:
    await enqueue(
        session, RUN_TASK, {"organization_id": str(organization_id), "job_id": str(job_id)}
    )


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> SyncJob:
    job = await SyncJobRepository(session).get(job_id)
    if job is None:
        raise NotFound("sync job not found")
    return job


def _jobs(rows: list[dict[str, Any]]) -> list[SyncJobOut]:
    return [SyncJobOut.model_validate(row) for row in rows]


def recent_jobs(limit: int, resources: Sequence[str] = (RESOURCE,)) -> Read[list[SyncJobOut]]:
    """The reader's organization's newest ``limit`` jobs of ``resources`` (the orders by
    default), as ``describe`` shows them (a read for ``TenantReader``: the pages, no ORM
    session)."""
    read = recent_json(limit, resources)
    return Read(read.sql, read.params, _jobs)


async def list_jobs(
    session: AsyncSession,
    *,
    limit: int,
    before: uuid.UUID | None,
    connection_id: uuid.UUID | None,
    status: str | None,
) -> tuple[list[SyncJob], uuid.UUID | None]:
    rows = list(
        await SyncJobRepository(session).page(
            limit=limit, before=before, connection_id=connection_id, status=status
        )
    )
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


async def cancel(session: AsyncSession, job_id: uuid.UUID) -> SyncJob:
    """Stop an active job after the page in flight (its cursor stays, so it can resume)."""
    job = await SyncJobRepository(session).get(job_id, lock=True)
    if job is None:
        raise NotFound("sync job not found")
    if job.status not in ACTIVE:
        raise Conflict(f"the sync job is {job.status} already")
    job.status = SyncStatus.CANCELLED
    job.lease = None
    job.finished_at = utcnow()
    await session.flush()
    await session.refresh(job)
    return job


async def resume(session: AsyncSession, organization_id: uuid.UUID, job_id: uuid.UUID) -> SyncJob:
    """Queue a failed or cancelled job again; it continues from its saved cursor."""
    repo = SyncJobRepository(session)
    job = await repo.get(job_id, lock=True)
    if job is None:
        raise NotFound("sync job not found")
    if job.status not in (SyncStatus.FAILED.value, SyncStatus.CANCELLED.value):
        raise NotResumable(f"the sync job is {job.status}")
    active = await repo.active_for(job.connection_id, job.resource)
    if active is not None:
        raise SyncJobActive(f"sync job {active.id} of this connection is {active.status}")
    await connections.get_connection(session, job.connection_id)  # 404 once disconnected
    job.status = SyncStatus.QUEUED
    job.attempts = 0
    job.last_error = None
    job.finished_at = None
    job.heartbeat_at = None
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise SyncJobActive("a sync of this connection was started at the same moment") from None
    await _request_run(session, organization_id, job.id)
    await session.refresh(job)
    return job


# -- running -------------------------------------------------------------------------------


async def run(ctx: RefreshContext, organization_id: uuid.UUID, job_id: uuid.UUID) -> str | None:
    """Run the job to its end (or until it is cancelled, or another run owns it). Returns the
    final status, None when this run did nothing. Raises ``UpstreamUnavailable`` after saving
    the failure when the queue should retry later."""
    lease = uuid.uuid4()
    claimed = await _claim(ctx, organization_id, job_id, lease)
    if claimed is None:
        return None
    claimed = dataclasses.replace(
        claimed, keepalive=functools.partial(_keepalive, ctx, organization_id, job_id, lease)
    )
    cursor = claimed.cursor
    throttles = 0
    while True:
        try:
            page = await channels.fetcher(claimed)(ctx, organization_id, claimed, cursor)
        except Throttled as exc:
            throttles += 1
            if throttles > MAX_THROTTLES_IN_A_ROW:
                return await _transient(ctx, organization_id, job_id, lease, "still throttled")
            if not await _note_throttle(ctx, organization_id, job_id, lease):
                return None
            await asyncio.sleep(exc.wait)
            continue
        except (SyncFailed, NeedsReauth, NotFound) as exc:
            return await _finish(ctx, organization_id, job_id, lease, SyncStatus.FAILED, str(exc))
        except (UpstreamUnavailable, httpx.HTTPError, ValueError) as exc:
            reason = exc.detail if isinstance(exc, DomainError) else type(exc).__name__
            return await _transient(ctx, organization_id, job_id, lease, reason)
        throttles = 0
        status = await _apply_page(ctx, organization_id, job_id, lease, claimed, page)
        if status != SyncStatus.RUNNING.value:
            return status
        cursor = page.next_cursor
        if page.pause > 0:
            await asyncio.sleep(page.pause)


async def _claim(
    ctx: RefreshContext, organization_id: uuid.UUID, job_id: uuid.UUID, lease: uuid.UUID
) -> Claimed | None:
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await SyncJobRepository(session).get(job_id, lock=True)
        if job is None or job.status not in ACTIVE:
            return None
        now = utcnow()
        alive = job.heartbeat_at is not None and job.heartbeat_at > now - LEASE
        if job.status == SyncStatus.RUNNING.value and job.lease is not None and alive:
            return None  # another run holds it
        if job.lease is not None:
            log.warning("sync.lease_taken_over", job_id=str(job.id))
        job.status = SyncStatus.RUNNING
        job.lease = lease
        job.heartbeat_at = now
        job.attempts += 1
        job.started_at = job.started_at or now
        return Claimed(job.channel, job.connection_id, job.since, job.cursor, job.resource)


async def _owned(session: AsyncSession, job_id: uuid.UUID, lease: uuid.UUID) -> SyncJob | None:
    job = await SyncJobRepository(session).get(job_id, lock=True)
    if job is None or job.lease != lease or job.status != SyncStatus.RUNNING.value:
        return None  # cancelled, or taken over by another run
    return job


async def _apply_page(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    job_id: uuid.UUID,
    lease: uuid.UUID,
    claimed: Claimed,
    page: Page,
) -> str:
    """The page's orders (or FBA inventory) and the next cursor, in one transaction. Returns
    the job's status."""
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await _owned(session, job_id, lease)
        if job is None:
            return SyncStatus.CANCELLED.value
        changed = skipped = 0
        fetched = page.fetched
        if page.inventory is not None:
            applied = await fba.apply_page(
                session,
                organization_id,
                sync_job_id=job.id,
                connection_id=claimed.connection_id,
                taken_at=job.started_at or utcnow(),
                page_number=job.pages + 1,
                page=page.inventory,
            )
            changed, skipped = applied.changed, applied.skipped
        elif page.claims is not None:
            changed, skipped = page.claims.stored, page.claims.skipped
        elif page.detection is not None:
            fetched, changed = await channels.detect_page(
                session, organization_id, claimed.connection_id, page.detection
            )
        elif claimed.resource == DETECT_RESOURCE:
            pass  # no stored rows: nothing to detect
        else:
            normalise: Callable[[dict[str, Any]], mapping.NormalisedOrder] = channels.MAPPERS[
                claimed.channel
            ]
            for raw in page.orders:
                try:
                    order = normalise(raw)
                except ValidationFailed:
                    skipped += 1
                    continue
                if await flows.apply_order(
                    session, organization_id, claimed.channel, claimed.connection_id, order
                ):
                    changed += 1
        job.pages += 1
        job.fetched += fetched
        job.changed += changed
        job.skipped += skipped
        job.cursor = page.next_cursor
        job.heartbeat_at = utcnow()
        job.last_error = None
        if page.next_cursor is None:
            job.status = SyncStatus.SUCCEEDED
            job.finished_at = utcnow()
            job.lease = None
            log.info("sync.finished", job_id=str(job.id), pages=job.pages, changed=job.changed)
            follow = channels.AFTER_SUCCESS.get(claimed.resource)
            if follow is not None:  # requested in the transaction that completes the job
                await enqueue(
                    session,
                    follow,
                    {
                        "organization_id": str(organization_id),
                        "connection_id": str(claimed.connection_id),
                        "sync_job_id": str(job.id),
                    },
                )
        return job.status


async def _keepalive(
    ctx: RefreshContext, organization_id: uuid.UUID, job_id: uuid.UUID, lease: uuid.UUID
) -> bool:
    """Renew the run's heartbeat in the middle of a long page; False once it is not ours."""
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await _owned(session, job_id, lease)
        if job is None:
            return False
        job.heartbeat_at = utcnow()
        return True


async def _note_throttle(
    ctx: RefreshContext, organization_id: uuid.UUID, job_id: uuid.UUID, lease: uuid.UUID
) -> bool:
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await _owned(session, job_id, lease)
        if job is None:
            return False
        job.throttled += 1
        job.heartbeat_at = utcnow()
        return True


async def _finish(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    job_id: uuid.UUID,
    lease: uuid.UUID,
    status: SyncStatus,
    reason: str,
) -> str | None:
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await _owned(session, job_id, lease)
        if job is None:
            return None
        job.status = status
        job.last_error = reason[:500]
        job.lease = None
        job.finished_at = utcnow()
        log.warning("sync.failed", job_id=str(job.id), reason=reason[:200])
        return job.status


async def _transient(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    job_id: uuid.UUID,
    lease: uuid.UUID,
    reason: str,
) -> str | None:
    """Save the failure; after ``MAX_ATTEMPTS`` runs the job fails (resumable by a user),
    otherwise it goes back to the queue, which retries it with backoff."""
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await _owned(session, job_id, lease)
        if job is None:
            return None
        job.last_error = reason[:500]
        job.lease = None
        job.heartbeat_at = utcnow()
        if job.attempts >= MAX_ATTEMPTS:
            job.status = SyncStatus.FAILED
            job.finished_at = utcnow()
            log.warning("sync.failed", job_id=str(job.id), reason=reason[:200])
            return job.status
        job.status = SyncStatus.QUEUED
    log.info("sync.retrying", job_id=str(job_id), reason=reason[:200])
    raise UpstreamUnavailable(f"the sync will be retried: {reason}")


# -- schedule ------------------------------------------------------------------------------


async def schedule_fba(
    session: AsyncSession, *, limit: int = 500, resource: str = FBA_RESOURCE
) -> int:
    """The periodic pass of an Amazon resource (the FBA inventory hourly, the claims reports
    daily): request a sync of every connected Amazon SP-API connection without an active one.
    Returns how many were requested."""
    due = await channels_to_sync(session, channels=(FBA_PROVIDER,), resource=resource, limit=limit)
    for organization_id, connection_id in due:
        await enqueue(
            session,
            REQUEST_TASK,
            {
                "organization_id": str(organization_id),
                "connection_id": str(connection_id),
                "resource": resource,
            },
        )
    return len(due)


async def last_fba_sync(
    session: AsyncSession, connection_id: uuid.UUID, resource: str = FBA_RESOURCE
) -> SyncJob | None:
    """The connection's newest FBA inventory (or ``resource``) sync that succeeded (None:
    never)."""
    return await SyncJobRepository(session).last_succeeded(connection_id, resource)


async def newest_job(
    session: AsyncSession, connection_id: uuid.UUID, resource: str
) -> SyncJob | None:
    """The connection's newest job of ``resource``, whatever its status (None: never)."""
    return await SyncJobRepository(session).newest(connection_id, resource)


async def schedule(session: AsyncSession, *, limit: int = 500) -> tuple[int, int]:
    """The periodic pass: request an incremental sync of every connected channel without an
    active job, and a new run of every active job whose run died. Returns (requested, revived)."""
    revived = await stale_active(session, heartbeat_before=utcnow() - LEASE, limit=limit)
    for organization_id, job_id in revived:
        await _request_run(session, organization_id, job_id)
    due = await channels_to_sync(session, channels=CHANNELS, resource=RESOURCE, limit=limit)
    for organization_id, connection_id in due:
        await enqueue(
            session,
            REQUEST_TASK,
            {
                "organization_id": str(organization_id),
                "connection_id": str(connection_id),
                "mode": "incremental",
            },
        )
    return len(due), len(revived)
