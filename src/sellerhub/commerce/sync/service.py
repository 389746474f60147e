"""Order sync jobs: a paginated pull of a channel's orders (Shopify ``Link`` cursor pagination with
``status=any``, WooCommerce ``page``/``X-WP-TotalPages``), tracked in ``sync_jobs``.

A run claims the job with a lease, then per page: fetch it through the provider client (token
refreshed on demand, per-connection token bucket, 429 waited out), then in one transaction apply
its orders (the ``updated_at`` guard keeps newer data) and save the next page's cursor. A run
stopped anywhere resumes from the last saved cursor, whether it is retried by the queue, taken
over after its lease lapsed (the worker died) or resumed by a user after a failure. Shopify's
``X-Shopify-Shop-Api-Call-Limit`` is read after every page and the run pauses before the bucket
fills, so the other callers of the same shop keep their share."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.orders import mapping
from sellerhub.commerce.orders import service as orders
from sellerhub.commerce.sync.models import ACTIVE, SyncJob, SyncStatus
from sellerhub.commerce.sync.repository import (
    SyncJobRepository,
    channels_to_sync,
    stale_active,
)
from sellerhub.commerce.sync.schemas import SyncJobOut, SyncRequest
from sellerhub.connections import client
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
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs.app import enqueue

log = get_logger(__name__)

RUN_TASK = "commerce.sync_run"
REQUEST_TASK = "commerce.sync_request"  # by name from connections (no import across domains)
CHANNELS = ("shopify", "woocommerce")
RESOURCE = "orders"
LEASE = timedelta(minutes=5)  # a run silent for longer than this has died
MAX_ATTEMPTS = 6  # runs that end in a transient failure before the job is marked failed
MAX_THROTTLES_IN_A_ROW = 10
INCREMENTAL_OVERLAP = timedelta(minutes=10)  # clock skew between us and the store
SHOPIFY_PAGE = 250  # providers.md §4.4: limit ≤ 250
WOOCOMMERCE_PAGE = 100  # WooCommerce's per_page maximum
CALL_LIMIT_HIGH = 0.75  # pause when the Shopify bucket is this full…
CALL_LIMIT_TARGET = 0.5  # …until it has leaked down to this
SHOPIFY_LEAK_PER_SECOND = 2.0  # providers.md §4.3, standard plan


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


class SyncFailed(Exception):
    """The channel refused for good (revoked keys, missing scope): the job fails at once."""


class Throttled(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait}s")
        self.wait = wait


@dataclass(frozen=True)
class Claimed:
    channel: str
    connection_id: uuid.UUID
    since: datetime | None
    cursor: str | None


@dataclass(frozen=True)
class Page:
    orders: list[dict[str, Any]]
    next_cursor: str | None
    pause: float = 0.0


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
    if connection.provider not in CHANNELS:
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
    log.info("sync.requested", job_id=str(job.id), channel=job.channel, mode=mode)
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
    job.status = SyncStatus.CANCELLED.value
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
    job.status = SyncStatus.QUEUED.value
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
    cursor = claimed.cursor
    throttles = 0
    while True:
        try:
            page = await _FETCHERS[claimed.channel](ctx, organization_id, claimed, cursor)
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
        job.status = SyncStatus.RUNNING.value
        job.lease = lease
        job.heartbeat_at = now
        job.attempts += 1
        job.started_at = job.started_at or now
        return Claimed(job.channel, job.connection_id, job.since, job.cursor)


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
    """The page's orders and the next cursor, in one transaction. Returns the job's status."""
    normalise: Callable[[dict[str, Any]], mapping.NormalisedOrder] = _MAPPERS[claimed.channel]
    async with unit_of_work(ctx.sessionmaker) as session:
        set_tenant(session, organization_id)
        job = await _owned(session, job_id, lease)
        if job is None:
            return SyncStatus.CANCELLED.value
        changed = skipped = 0
        for raw in page.orders:
            try:
                order = normalise(raw)
            except ValidationFailed:
                skipped += 1
                continue
            if await orders.apply(
                session, organization_id, claimed.channel, claimed.connection_id, order
            ):
                changed += 1
        job.pages += 1
        job.fetched += len(page.orders)
        job.changed += changed
        job.skipped += skipped
        job.cursor = page.next_cursor
        job.heartbeat_at = utcnow()
        job.last_error = None
        if page.next_cursor is None:
            job.status = SyncStatus.SUCCEEDED.value
            job.finished_at = utcnow()
            job.lease = None
            log.info("sync.finished", job_id=str(job.id), pages=job.pages, changed=job.changed)
        return job.status


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
        job.status = status.value
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
            job.status = SyncStatus.FAILED.value
            job.finished_at = utcnow()
            log.warning("sync.failed", job_id=str(job.id), reason=reason[:200])
            return job.status
        job.status = SyncStatus.QUEUED.value
    log.info("sync.retrying", job_id=str(job_id), reason=reason[:200])
    raise UpstreamUnavailable(f"the sync will be retried: {reason}")


# -- channels --------------------------------------------------------------------------------


def _check(response: httpx.Response, title: str) -> None:
    if response.status_code == 429:
        raise Throttled(client.retry_after_seconds(response, 0))
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"{title} answered {response.status_code}")
    if response.status_code >= 400:
        raise SyncFailed(
            f"{title} refused the order listing ({response.status_code}): {_error_text(response)}"
        )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("errors") or body.get("message") or body.get("code")
        return str(detail)[:200]
    return response.reason_phrase


_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def shopify_next_page_info(link: str | None) -> str | None:
    """The ``page_info`` of the ``rel="next"`` entry of a ``Link`` header."""
    if not link:
        return None
    for part in link.split(","):
        match = _NEXT_LINK.search(part)
        if match:
            values = parse_qs(urlsplit(match.group(1)).query).get("page_info")
            return values[0] if values else None
    return None


def shopify_pause(call_limit: str | None) -> float:
    """Seconds to wait so the shop's bucket leaks below the target before the next call."""
    try:
        used_text, size_text = (call_limit or "").split("/", 1)
        used, size = int(used_text), int(size_text)
    except ValueError:
        return 0.0
    if size <= 0 or used < size * CALL_LIMIT_HIGH:
        return 0.0
    return (used - size * CALL_LIMIT_TARGET) / SHOPIFY_LEAK_PER_SECOND


async def _shopify_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    if cursor:  # with page_info only limit (and fields) may be given
        params = [("limit", str(SHOPIFY_PAGE)), ("page_info", cursor)]
    else:
        params = [("status", "any"), ("limit", str(SHOPIFY_PAGE))]
        if job.since is not None:
            params.append(("updated_at_min", job.since.isoformat()))
    response = await client.call(
        ctx, organization_id, job.connection_id, client.ProviderCall("GET", "orders.json", params)
    )
    _check(response, "Shopify")
    found = response.json().get("orders")
    if not isinstance(found, list):
        raise UpstreamUnavailable("Shopify answered without an orders list")
    return Page(
        orders=[o for o in found if isinstance(o, dict)],
        next_cursor=shopify_next_page_info(response.headers.get("link")),
        pause=shopify_pause(response.headers.get("x-shopify-shop-api-call-limit")),
    )


async def _woocommerce_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    page = int(cursor) if cursor and cursor.isdigit() else 1
    # Oldest id first: orders created during the sync land on later pages, none is skipped.
    params = [
        ("page", str(page)),
        ("per_page", str(WOOCOMMERCE_PAGE)),
        ("orderby", "id"),
        ("order", "asc"),
    ]
    if job.since is not None:
        params.append(("modified_after", job.since.isoformat()))
    response = await client.call(
        ctx, organization_id, job.connection_id, client.ProviderCall("GET", "orders", params)
    )
    _check(response, "WooCommerce")
    found = response.json()
    if not isinstance(found, list):
        raise UpstreamUnavailable("WooCommerce answered without an orders list")
    try:
        total_pages = int(response.headers.get("x-wp-totalpages", "0"))
    except ValueError:
        total_pages = 0
    return Page(
        orders=[o for o in found if isinstance(o, dict)],
        next_cursor=str(page + 1) if page < total_pages else None,
    )


_FETCHERS = {"shopify": _shopify_page, "woocommerce": _woocommerce_page}
_MAPPERS: dict[str, Callable[[dict[str, Any]], mapping.NormalisedOrder]] = {
    "shopify": mapping.shopify,
    "woocommerce": mapping.woocommerce,
}


# -- schedule ------------------------------------------------------------------------------


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
