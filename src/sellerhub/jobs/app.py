"""The job queue: procrastinate on the application's PostgreSQL.

* ``task(name)`` registers a job function ``fn(session, **kwargs)``; the runner opens a session,
  binds ``job_id`` into the log context, runs the function and commits (the second and last
  place that commits). Failures retry with exponential backoff.
* ``enqueue(session, name, payload)`` is the transactional enqueue: it writes an outbox row in
  the caller's transaction; after commit the row is handed to the queue, and if the process died
  in between, the periodic ``jobs.outbox_redrive`` hands it over later. Delivery is therefore
  at-least-once: job functions must be idempotent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import procrastinate
from procrastinate import JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.logging import bind_context, clear_context, get_logger
from sellerhub.db.session import after_commit, unit_of_work
from sellerhub.jobs.models import OutboxJob

log = get_logger(__name__)

JobFunction = Callable[..., Awaitable[None]]

queue_app = procrastinate.App(
    connector=PsycopgConnector(),
    import_paths=["sellerhub.jobs.registry"],
)

DEFAULT_RETRY = RetryStrategy(max_attempts=8, exponential_wait=2)


@dataclass
class JobResources:
    sessionmaker: async_sessionmaker[AsyncSession]
    redrive_after: timedelta = timedelta(seconds=30)
    keyring: KeyRing | None = None
    settings: Settings | None = None
    http: httpx.AsyncClient | None = None


_resources: JobResources | None = None


def configure(resources: JobResources) -> None:
    global _resources
    _resources = resources


def resources() -> JobResources:
    if _resources is None:
        raise RuntimeError("job resources are not configured (call jobs.app.configure first)")
    return _resources


TASKS: dict[str, JobFunction] = {}


def task(
    name: str,
    *,
    queue: str = "default",
    retry: RetryStrategy = DEFAULT_RETRY,
    cron: str | None = None,
) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn(session, **payload)`` as the job ``name`` (optionally periodic, by cron)."""

    def decorate(fn: JobFunction) -> JobFunction:
        async def execute(context: JobContext, payload: dict[str, Any]) -> None:
            bind_context(job_id=context.job.id if context.job else None, task=name)
            try:
                async with unit_of_work(resources().sessionmaker) as session:
                    await fn(session, **payload)
            except Exception:
                log.exception("job.failed", attempts=context.job.attempts if context.job else 0)
                raise
            finally:
                clear_context()

        task_options: dict[str, Any] = {
            "name": name,
            "queue": queue,
            "retry": retry,
            "pass_context": True,
        }
        if cron is None:

            async def run(context: JobContext, /, **payload: Any) -> None:
                await execute(context, payload)

            queue_app.task(**task_options)(run)
        else:

            async def run_periodic(context: JobContext, /, timestamp: int) -> None:
                await execute(context, {})  # procrastinate passes the scheduled time

            registered = queue_app.task(**task_options)(run_periodic)
            queue_app.periodic(cron=cron, periodic_id=name)(registered)
        TASKS[name] = fn
        return fn

    return decorate


async def enqueue(
    session: AsyncSession, task_name: str, payload: dict[str, Any], queue: str = "default"
) -> OutboxJob:
    """Request a job as part of the caller's transaction (see the module docstring)."""
    row = OutboxJob(task_name=task_name, payload=payload, queue=queue)
    row.ensure_id()
    session.add(row)
    outbox_id, data = row.id, dict(payload)

    async def dispatch_now() -> None:
        await dispatch(outbox_id, task_name, data, queue)

    after_commit(session, dispatch_now)
    return row


_background: set[asyncio.Task[None]] = set()
_pending_kicks: set[str] = set()
KICK_COALESCE_SECONDS = 0.05


def kick(task_name: str, *, queue: str, lock: str) -> None:
    """Ask for one run of a draining task without waiting. Kicks coalesce: in a process, at most
    one per ``KICK_COALESCE_SECONDS`` and always after the last request (a trailing kick), and
    across processes through the queueing lock. For work whose durable record already exists
    (an inbox row): a lost kick only delays it until the periodic re-drive."""
    if lock in _pending_kicks:
        return
    _pending_kicks.add(lock)

    async def defer() -> None:
        await asyncio.sleep(KICK_COALESCE_SECONDS)
        _pending_kicks.discard(lock)  # requests committed from now on schedule a new kick
        try:
            await queue_app.configure_task(task_name, queue=queue, queueing_lock=lock).defer_async()
        except AlreadyEnqueued:
            pass
        except Exception as exc:
            log.warning("jobs.kick_failed", task=task_name, error=type(exc).__name__)

    running = asyncio.get_running_loop().create_task(defer())
    _background.add(running)
    running.add_done_callback(_background.discard)


async def settle() -> None:
    """Wait for the kicks in flight (tests, shutdown)."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


async def _defer(task_name: str, payload: dict[str, Any], queue: str) -> int:
    deferrer = queue_app.configure_task(task_name, queue=queue)
    return int(await deferrer.defer_async(**payload))


async def dispatch(
    outbox_id: uuid.UUID, task_name: str, payload: dict[str, Any], queue: str
) -> None:
    """Best effort, right after commit; the re-drive covers every failure here."""
    try:
        job_id = await _defer(task_name, payload, queue)
        async with unit_of_work(resources().sessionmaker) as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == outbox_id, OutboxJob.dispatched_at.is_(None))
                .values(dispatched_at=utcnow(), procrastinate_job_id=job_id)
            )
    except Exception as exc:  # the row stays pending; the periodic re-drive retries it
        log.warning("outbox.dispatch_failed", outbox_id=str(outbox_id), error=type(exc).__name__)


async def redrive_pending(session: AsyncSession, older_than: timedelta, limit: int = 200) -> int:
    """Hand every outbox row that was committed but never dispatched to the queue."""
    rows = (
        (
            await session.execute(
                select(OutboxJob)
                .where(
                    OutboxJob.dispatched_at.is_(None),
                    OutboxJob.created_at <= utcnow() - older_than,
                )
                .order_by(OutboxJob.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        row.dispatch_attempts += 1
        row.procrastinate_job_id = await _defer(row.task_name, row.payload, row.queue)
        row.dispatched_at = utcnow()
    if rows:
        log.info("outbox.redriven", count=len(rows))
    return len(rows)
