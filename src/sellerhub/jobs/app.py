"""The job queue: procrastinate on the application's PostgreSQL.

* ``task(name)`` registers a job function ``fn(session, **kwargs)``; the runner opens a session,
  binds ``job_id`` into the log context, runs the function and commits (the second and last
  place that commits). Failures retry with exponential backoff.
* ``enqueue(session, name, payload)`` is the transactional enqueue: it writes an outbox row in
  the caller's transaction; after commit the row is handed to the queue, and if the process died
  in between, the periodic ``jobs.outbox_redrive`` hands it over later. Delivery is therefore
  at-least-once: job functions must be idempotent.
* A job's queue is declared once, by its task (``task(name, queue=...)``): ``enqueue``,
  ``kick``, the dispatch and the re-drive all take it from the task's registration, so a worker
  started for a queue (``--queues``) sees exactly the jobs of the tasks declared on it. Callers
  never name a queue; a task name that is not registered is refused when it is requested.
* ``WorkerSupervisor`` runs the worker for as long as the process lives, through database
  outages: procrastinate ends a worker whose connection fails, so it waits for the database with
  capped exponential backoff, retries the jobs the lost worker left running and starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import procrastinate
from procrastinate import JobContext, PsycopgConnector, RetryStrategy
from procrastinate.app import WorkerOptions
from procrastinate.exceptions import (
    AlreadyEnqueued,
    ConnectorException,
    TaskNotFound,
    UniqueViolation,
)
from procrastinate.jobs import JobDeferrer, Status
from procrastinate.worker import Worker
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.crypto import KeyRing
from sellerhub.core.logging import bind_context, clear_context, get_logger
from sellerhub.core.problems import DATABASE_UNAVAILABLE
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


def queue_of(task_name: str) -> str:
    """The queue the task ``task_name`` declared; ``TaskNotFound`` for a name no module
    registered (the job registry is imported first, as procrastinate does)."""
    queue_app.perform_import_paths()  # type: ignore[no-untyped-call]
    registered = queue_app.tasks.get(task_name)
    if registered is None:
        raise TaskNotFound(f"no task is registered as {task_name!r}")
    return registered.queue


async def enqueue(session: AsyncSession, task_name: str, payload: dict[str, Any]) -> OutboxJob:
    """Request a job as part of the caller's transaction (see the module docstring). The job
    goes to the queue its task declared; the outbox row records that queue."""
    row = OutboxJob(task_name=task_name, payload=payload, queue=queue_of(task_name))
    row.ensure_id()
    session.add(row)
    outbox_id, data = row.id, dict(payload)

    async def dispatch_now() -> None:
        await dispatch(outbox_id, task_name, data)

    after_commit(session, dispatch_now)
    return row


_background: set[asyncio.Task[None]] = set()
_pending_kicks: set[str] = set()
_retrying_kicks: set[str] = set()
KICK_COALESCE_SECONDS = 0.05
KICK_RETRY_SECONDS = 120.0  # then the periodic re-drive takes over


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database could not be reached (connection refused, lost or
    timed out, server shutting down), not that a statement failed. procrastinate wraps the
    driver's error in a ``ConnectorException``."""
    if isinstance(exc, ConnectorException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return isinstance(exc, DATABASE_UNAVAILABLE)


@dataclass(frozen=True)
class Backoff:
    """Exponential delays, capped."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 10.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.cap)


def kick(task_name: str, *, lock: str) -> None:
    """Ask for one run of a draining task (on its own queue) without waiting. Kicks coalesce: in a
    process, at most one per ``KICK_COALESCE_SECONDS`` and always after the last request (a trailing
    kick), and across processes through the queueing lock. For work whose durable record already
    exists (an inbox row): while the database is unreachable the kick is retried with backoff (the
    kicks of the same lock wait for that one) for ``KICK_RETRY_SECONDS``; a kick lost after that
    only delays the work until the periodic re-drive."""
    queue_of(task_name)  # an unknown name is refused here, not lost in the background
    if lock in _pending_kicks:
        return
    _pending_kicks.add(lock)

    async def defer() -> None:
        await asyncio.sleep(KICK_COALESCE_SECONDS)
        _pending_kicks.discard(lock)  # requests committed from now on schedule a new kick
        if lock in _retrying_kicks:
            return  # an earlier kick of this lock waits for the database; it serves this one
        give_up_at = time.monotonic() + KICK_RETRY_SECONDS
        delays = Backoff().delays()
        try:
            while True:
                try:
                    deferrer = _deferrer(task_name, queueing_lock=lock)
                    await deferrer.defer_async()
                    return
                except AlreadyEnqueued:
                    return
                except Exception as exc:
                    delay = next(delays)
                    if not database_unavailable(exc) or time.monotonic() + delay > give_up_at:
                        log.warning("jobs.kick_failed", task=task_name, error=type(exc).__name__)
                        return
                    _retrying_kicks.add(lock)
                await asyncio.sleep(delay)
        finally:
            _retrying_kicks.discard(lock)

    running = asyncio.get_running_loop().create_task(defer())
    _background.add(running)
    running.add_done_callback(_background.discard)


async def settle() -> None:
    """Wait for the kicks in flight (tests, shutdown)."""
    while _background:
        await asyncio.gather(*list(_background), return_exceptions=True)


def _deferrer(task_name: str, *, queueing_lock: str | None = None) -> JobDeferrer:
    """The registered task, configured with its own queue (never overridden here)."""
    return queue_app.configure_task(task_name, allow_unknown=False, queueing_lock=queueing_lock)


async def _defer(task_name: str, payload: dict[str, Any]) -> int:
    return int(await _deferrer(task_name).defer_async(**payload))


async def dispatch(outbox_id: uuid.UUID, task_name: str, payload: dict[str, Any]) -> None:
    """Best effort, right after commit; the re-drive covers every failure here."""
    try:
        job_id = await _defer(task_name, payload)
        async with unit_of_work(resources().sessionmaker) as session:
            await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id == outbox_id, OutboxJob.dispatched_at.is_(None))
                .values(dispatched_at=utcnow(), procrastinate_job_id=job_id)
            )
    except Exception as exc:  # the row stays pending; the periodic re-drive retries it
        log.warning("outbox.dispatch_failed", outbox_id=str(outbox_id), error=type(exc).__name__)


async def redrive_pending(session: AsyncSession, older_than: timedelta, limit: int = 200) -> int:
    """Hand every outbox row that was committed but never dispatched to the queue: the queue
    its task declares now (recorded on the row again, should the task have moved)."""
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
        try:
            row.queue = queue_of(row.task_name)
        except TaskNotFound:  # no code runs it any more: closed, not retried every minute
            log.error("outbox.unknown_task", outbox_id=str(row.id), task=row.task_name)
            row.dispatched_at = utcnow()
            continue
        row.procrastinate_job_id = await _defer(row.task_name, row.payload)
        row.dispatched_at = utcnow()
    if rows:
        log.info("outbox.redriven", count=len(rows))
    return len(rows)


# --- running the worker through database outages ----------------------------------------------

STALLED_WORKER_SECONDS = 30.0  # procrastinate's stalled_worker_timeout: 3 missed heartbeats
STABLE_WORKER_SECONDS = 30.0  # a worker that ran this long starts the reconnect backoff over


async def retry_orphaned_jobs(lost_worker_id: int | None = None) -> int:
    """Put the jobs left ``doing`` by workers that are gone back in the queue: those of the
    worker this process lost with its connection (``lost_worker_id``, which could not
    unregister), and those of any worker pruned or silent for ``STALLED_WORKER_SECONDS``.
    Their outcome was never recorded, so they run again (jobs are idempotent); one whose
    queueing lock a waiting twin holds is closed as aborted instead. Returns how many."""
    manager = queue_app.job_manager
    if lost_worker_id is not None:
        await manager.unregister_worker(lost_worker_id)  # its jobs are left without a worker
    orphans = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_WORKER_SECONDS))
    now = utcnow()
    retried: list[str] = []
    for job in orphans:
        assert job.id is not None
        try:
            await manager.retry_job_by_id_async(job.id, retry_at=now)
        except UniqueViolation:  # a twin waits under the same queueing lock; it does the work
            await manager.finish_job_by_id_async(job.id, status=Status.ABORTED, delete_job=False)
        except ConnectorException as exc:
            if database_unavailable(exc):
                raise
            continue  # no longer running: another worker has just retried it
        retried.append(job.task_name)
    if retried:
        log.info("jobs.orphans_recovered", count=len(retried), tasks=sorted(set(retried)))
    return len(retried)


class WorkerSupervisor:
    """Runs procrastinate workers, one after the other, until ``stop()``.

    procrastinate 3.10 does not survive its database going away: a failing query in the fetch
    loop raises out of the worker, and a failing side task (the LISTEN connection, the
    heartbeat, the periodic deferrer) stops it; either way ``Worker.run`` ends, and its
    shutdown cannot unregister the worker. So this loop, on a database failure (and only on
    one: anything else is raised), logs ``worker.database_lost``, waits for the database with
    ``backoff`` (``check_database``), drops the dead connections (``reconnect``), logs
    ``worker.reconnected`` and starts a new worker. Before every worker starts, the jobs that
    workers now gone left running are retried (``retry_orphaned_jobs``) and ``resume`` runs
    (the entry point asks there for the work whose wake-up may have been lost)."""

    def __init__(
        self,
        *,
        check_database: Callable[[], Awaitable[None]],
        reconnect: Callable[[], Awaitable[None]],
        resume: Callable[[], Awaitable[None]] | None = None,
        options: WorkerOptions | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.check_database = check_database
        self.reconnect = reconnect
        self.resume = resume
        self.options: WorkerOptions = options or {}
        self.backoff = backoff or Backoff()
        self._stopping = asyncio.Event()
        self._worker: Worker | None = None

    def stop(self) -> None:
        """Stop gracefully: the running jobs finish (up to the worker's graceful timeout)."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.stop()  # type: ignore[no-untyped-call]

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def wait_for_database(self) -> bool:
        """Until the database answers (True) or ``stop()`` (False), with backoff."""
        delays = self.backoff.delays()
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            try:
                await self.check_database()
                return True
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                delay = next(delays)
                log.info(
                    "worker.database_unreachable",
                    attempt=attempt,
                    error=_error_name(exc),
                    retry_in_s=delay,
                )
            await self._pause(delay)
        return False

    async def run(self) -> None:
        """Run workers until ``stop()``; with ``wait=False`` in the options, until a worker has
        found the queues empty. The tasks must be registered (``import jobs.registry``)."""
        delays = self.backoff.delays()
        lost_at: float | None = None  # since when the database is lost
        lost_worker_id: int | None = None
        refresh = False  # drop the pools' connections before the next worker
        while not self._stopping.is_set():
            started = time.monotonic()
            side_tasks = _SideTaskFailures()
            try:
                if lost_at is not None and not await self.wait_for_database():
                    return
                if lost_at is not None or refresh:
                    await self.reconnect()
                    refresh = False
                if lost_at is not None:
                    log.info("worker.reconnected", down_s=round(time.monotonic() - lost_at, 1))
                    lost_at = None
                await retry_orphaned_jobs(lost_worker_id)
                lost_worker_id = None
                if self.resume is not None:
                    await self.resume()
                options: WorkerOptions = {**self.options, "install_signal_handlers": False}
                worker = Worker(app=queue_app, **options)
                side_tasks.attach(worker.logger)
                self._worker = worker
                try:
                    if self._stopping.is_set():
                        return
                    await worker.run()  # type: ignore[no-untyped-call]
                finally:
                    self._worker = None
                    lost_worker_id = worker.worker_id  # still set: it could not unregister
                if self._stopping.is_set() or not self.options.get("wait", True):
                    return
                # It stopped by itself: one of its side tasks failed.
                lost = next((e for e in side_tasks.failures if database_unavailable(e)), None)
                if lost is not None:
                    raise lost
                await self.check_database()  # raises when that is why after all
                log.warning(
                    "worker.restarting",
                    reason="a side task failed",
                    error=_error_name(side_tasks.failures[0]) if side_tasks.failures else None,
                )
                refresh = True
            except Exception as exc:
                if not database_unavailable(exc):
                    raise
                if self._stopping.is_set():
                    return  # asked to stop while it was failing: nothing more to do
                if lost_at is None:
                    lost_at = time.monotonic()
                    log.warning("worker.database_lost", error=_error_name(exc))
            finally:
                side_tasks.detach()
            if time.monotonic() - started >= STABLE_WORKER_SECONDS:
                delays = self.backoff.delays()  # it had been working: back off from the start
            await self._pause(next(delays))


class _SideTaskFailures(logging.Filter):
    """procrastinate stops a worker whose side task failed and reports the failure only in a
    log record (``action`` ``side_task_failed``, the exception as ``exc_info``): this filter
    keeps those exceptions, and lets every record through."""

    def __init__(self) -> None:
        super().__init__()
        self.failures: list[BaseException] = []
        self._logger: logging.Logger | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        failure = record.exc_info[1] if record.exc_info else None
        if getattr(record, "action", None) == "side_task_failed" and failure is not None:
            self.failures.append(failure)
        return True

    def attach(self, logger: logging.Logger) -> None:
        self._logger = logger
        logger.addFilter(self)

    def detach(self) -> None:
        if self._logger is not None:
            self._logger.removeFilter(self)
            self._logger = None


def _error_name(exc: BaseException) -> str:
    """The class of the driver's error (never its message: it may carry the host and user)."""
    if isinstance(exc, ConnectorException) and exc.__cause__ is not None:
        exc = exc.__cause__
    return type(exc).__name__
