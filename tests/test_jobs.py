"""Jobs: transactional enqueue, the crash-after-commit guarantee, retries, periodic tasks."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from procrastinate.jobs import Job
from procrastinate.periodic import PeriodicDeferrer
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.audit.models import AuditEvent
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs import app as jobs
from sellerhub.jobs.models import OutboxJob
from sellerhub.jobs.tasks import outbox_redrive
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.jobs_helpers import record_marker  # noqa: F401 - registers tests.record_marker

FAILURES: dict[str, int] = {}


@jobs.task("tests.on_queue_a", queue="tests-a")
async def on_queue_a(session: AsyncSession, organization_id: str) -> None:
    org = uuid.UUID(organization_id)
    set_tenant(session, org)
    await audit.record(session, organization_id=org, action="QUEUE_A", actor_type="job")


@jobs.task("tests.on_queue_b", queue="tests-b")
async def on_queue_b(session: AsyncSession, organization_id: str | None = None) -> None:
    if organization_id is not None:
        org = uuid.UUID(organization_id)
        set_tenant(session, org)
        await audit.record(session, organization_id=org, action="QUEUE_B", actor_type="job")


@jobs.task("tests.flaky")
async def flaky(session: AsyncSession, key: str) -> None:
    FAILURES[key] = FAILURES.get(key, 0) + 1
    raise RuntimeError("provider said 503")


async def _run_worker() -> None:
    await jobs.queue_app.run_worker_async(
        wait=False, install_signal_handlers=False, listen_notify=False, concurrency=1
    )


async def _actions(runtime: Runtime, org: uuid.UUID) -> list[str]:
    async with runtime.sessionmaker() as session:
        set_tenant(session, org)
        rows = await session.execute(select(AuditEvent.action).order_by(AuditEvent.id))
        return list(rows.scalars())


async def _jobs(runtime: Runtime) -> list[tuple[str, str, int]]:
    """Jobs of these tests (the worker also runs the periodic re-drive, checked separately)."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT task_name, status::text, attempts FROM procrastinate_jobs "
                "WHERE task_name LIKE 'tests.%' ORDER BY id"
            )
        )
        return [tuple(r) for r in rows]


async def test_enqueue_dispatches_after_commit(runtime: Runtime, tenant: Tenant) -> None:
    org = tenant.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        row = await jobs.enqueue(session, "tests.record_marker", {"organization_id": str(org)})
        assert await _jobs(runtime) == []  # nothing is queued before the commit
    assert await _jobs(runtime) == [("tests.record_marker", "todo", 0)]
    async with runtime.sessionmaker() as session:
        stored = await session.get(OutboxJob, row.id)
        assert stored is not None and stored.dispatched_at and stored.procrastinate_job_id
    await _run_worker()
    assert "MARKER" in await _actions(runtime, org)
    assert await _jobs(runtime) == [("tests.record_marker", "succeeded", 1)]


async def test_rolled_back_write_enqueues_nothing(runtime: Runtime, tenant: Tenant) -> None:
    org = tenant.organization.id

    async def failing_request() -> None:
        async with unit_of_work(runtime.sessionmaker) as session:
            set_tenant(session, org)
            await jobs.enqueue(session, "tests.record_marker", {"organization_id": str(org)})
            raise RuntimeError("business rule failed")

    with pytest.raises(RuntimeError):
        await failing_request()
    assert await _jobs(runtime) == []
    async with runtime.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM job_outbox")) == 0


async def test_work_runs_even_if_the_process_dies_right_after_commit(
    runtime: Runtime, tenant: Tenant, project_root: Path
) -> None:
    org = tenant.organization.id
    env = {
        **os.environ,
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": runtime.url,
        "SELLERHUB_ENCRYPTION_KEYS": runtime.settings.encryption_keys.get_secret_value(),  # type: ignore[union-attr]
        "SELLERHUB_LOG_LEVEL": "WARNING",
    }
    # The child registers the tests' job (jobs_helpers) before running the crash script.
    child = (
        "import runpy, tests.jobs_helpers; "
        "runpy.run_module('tests.crash_after_commit', run_name='__main__')"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        child,
        str(org),
        cwd=project_root,
        env=env,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == -9, stderr.decode()[-2000:]
    # The business write and the job request were committed; nothing reached the queue.
    assert await _actions(runtime, org) == [
        "ORGANIZATION_CREATED",
        "API_KEY_CREATED",
        "BUSINESS_WRITE",
    ]
    assert await _jobs(runtime) == []
    # The periodic re-drive finds the orphaned request and hands it to the queue ...
    resources = jobs.resources()
    jobs.configure(jobs.JobResources(resources.sessionmaker, redrive_after=timedelta(0)))
    try:
        async with unit_of_work(runtime.sessionmaker) as session:
            await outbox_redrive(session)
    finally:
        jobs.configure(resources)
    assert await _jobs(runtime) == [("tests.record_marker", "todo", 0)]
    # ... and the worker runs it.
    await _run_worker()
    assert (await _actions(runtime, org))[-1] == "MARKER"
    async with runtime.sessionmaker() as session:
        rows = list((await session.execute(select(OutboxJob))).scalars())
        assert len(rows) == 1 and rows[0].dispatched_at and rows[0].dispatch_attempts == 1


async def test_redrive_leaves_recent_rows_to_the_normal_dispatch(
    runtime: Runtime, tenant: Tenant
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        session.add(OutboxJob(task_name="tests.record_marker", payload={}, queue="default"))
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await jobs.redrive_pending(session, timedelta(seconds=30)) == 0
    assert await _jobs(runtime) == []


async def test_failures_retry_with_backoff(runtime: Runtime) -> None:
    key = uuid.uuid4().hex
    await jobs.queue_app.configure_task("tests.flaky").defer_async(key=key)
    await _run_worker()
    assert FAILURES[key] == 1
    async with runtime.engine.connect() as conn:
        status, attempts, delay = (
            await conn.execute(
                text(
                    "SELECT status::text, attempts, extract(epoch FROM scheduled_at - now()) "
                    "FROM procrastinate_jobs WHERE task_name = 'tests.flaky'"
                )
            )
        ).one()
    assert (status, attempts) == ("todo", 1)
    assert 1 < delay <= 4.5  # exponential_wait=2: 2 ** (attempts + 1) = 4 seconds
    # Eight attempts in all, then the job fails for good.
    assert jobs.DEFAULT_RETRY.get_retry_decision(exception=RuntimeError(), job=_job(7))
    assert jobs.DEFAULT_RETRY.get_retry_decision(exception=RuntimeError(), job=_job(8)) is None


def _job(attempts: int) -> Job:
    """A job of tests.flaky that has been tried ``attempts`` times (all the retry rule reads)."""
    return Job(
        id=None,
        queue="default",
        lock=None,
        queueing_lock=None,
        task_name="tests.flaky",
        attempts=attempts,
    )


async def test_periodic_redrive_is_registered_and_scheduled(runtime: Runtime) -> None:
    periodic = jobs.queue_app.periodic_registry.periodic_tasks
    assert ("jobs.outbox_redrive", "jobs.outbox_redrive") in periodic
    assert periodic[("jobs.outbox_redrive", "jobs.outbox_redrive")].cron == "* * * * *"
    # What the worker's periodic deferrer does at each tick, run once, deterministically.
    deferrer = PeriodicDeferrer(jobs.queue_app.periodic_registry)
    await deferrer.defer_jobs(deferrer.get_previous_tasks(at=time.time()))
    await _run_worker()
    async with runtime.engine.connect() as conn:
        statuses = (
            await conn.execute(
                text(
                    "SELECT status::text FROM procrastinate_jobs "
                    "WHERE task_name = 'jobs.outbox_redrive'"
                )
            )
        ).scalars()
        assert list(statuses) == ["succeeded"]


async def _queued(runtime: Runtime) -> dict[str, tuple[str, str]]:
    """Task name → (queue, status) of the jobs in procrastinate's table."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT task_name, queue_name, status::text FROM procrastinate_jobs ORDER BY id")
        )
        return {name: (queue, status) for name, queue, status in rows}


async def test_jobs_go_to_the_queue_their_task_declares(runtime: Runtime, tenant: Tenant) -> None:
    """Callers never name a queue: enqueue takes it from the task, the outbox row records it,
    and a worker started for one queue runs that queue's jobs and no other."""
    org = str(tenant.organization.id)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        await jobs.enqueue(session, "tests.on_queue_a", {"organization_id": org})
        await jobs.enqueue(session, "tests.on_queue_b", {"organization_id": org})
    assert await _queued(runtime) == {
        "tests.on_queue_a": ("tests-a", "todo"),
        "tests.on_queue_b": ("tests-b", "todo"),
    }
    async with runtime.engine.connect() as conn:
        outbox: dict[str, str] = dict(
            (await conn.execute(text("SELECT task_name, queue FROM job_outbox"))).all()
        )
    assert outbox == {"tests.on_queue_a": "tests-a", "tests.on_queue_b": "tests-b"}

    async def worker(queue: str) -> None:
        await jobs.queue_app.run_worker_async(
            queues=[queue],
            wait=False,
            install_signal_handlers=False,
            listen_notify=False,
            concurrency=1,
        )

    await worker("tests-a")
    assert "QUEUE_A" in await _actions(runtime, tenant.organization.id)
    assert "QUEUE_B" not in await _actions(runtime, tenant.organization.id)
    assert (await _queued(runtime))["tests.on_queue_b"] == ("tests-b", "todo")
    await worker("tests-b")
    assert "QUEUE_B" in await _actions(runtime, tenant.organization.id)
    # A kick too: on the task's queue, not on the default one.
    jobs.kick("tests.on_queue_b", lock="tests-kick")
    await jobs.settle()
    async with runtime.engine.connect() as conn:
        kicked = await conn.scalar(
            text("SELECT queue_name FROM procrastinate_jobs WHERE queueing_lock = 'tests-kick'")
        )
    assert kicked == "tests-b"


async def test_an_enqueued_sync_job_lands_on_the_sync_queue(
    runtime: Runtime, tenant: Tenant
) -> None:
    from sellerhub.commerce.sync import service as sync

    org = tenant.organization.id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, org)
        payload = {"organization_id": str(org), "job_id": str(uuid.uuid4())}
        await jobs.enqueue(session, sync.RUN_TASK, payload)
    assert (await _queued(runtime))[sync.RUN_TASK] == ("sync", "todo")
    # A worker of the other queues leaves it; a worker for ``sync`` runs it (a job id that
    # does not exist: the run finds nothing to do).
    await jobs.queue_app.run_worker_async(
        queues=["default", "webhooks", "mail"],
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        concurrency=1,
    )
    assert (await _queued(runtime))[sync.RUN_TASK] == ("sync", "todo")
    await jobs.queue_app.run_worker_async(
        queues=["sync"],
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        concurrency=1,
    )
    assert (await _queued(runtime))[sync.RUN_TASK] == ("sync", "succeeded")


async def test_an_unknown_task_is_refused_when_requested(runtime: Runtime, tenant: Tenant) -> None:
    from procrastinate.exceptions import TaskNotFound

    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        with pytest.raises(TaskNotFound):
            await jobs.enqueue(session, "tests.no_such_task", {})
    with pytest.raises(TaskNotFound):
        jobs.kick("tests.no_such_task", lock="tests-unknown")
    # A row of a task that no longer exists (removed since) is closed by the re-drive, not
    # retried every minute, and the rows behind it are handed over.
    async with unit_of_work(runtime.sessionmaker) as session:
        session.add(OutboxJob(task_name="tests.removed_task", payload={}, queue="default"))
    async with unit_of_work(runtime.sessionmaker) as session:
        session.add(
            OutboxJob(
                task_name="tests.record_marker",
                payload={"organization_id": str(tenant.organization.id)},
                queue="elsewhere",
            )
        )
    async with unit_of_work(runtime.sessionmaker) as session:
        assert await jobs.redrive_pending(session, timedelta(0)) == 2
    async with runtime.engine.connect() as conn:
        rows: dict[str, str] = dict(
            (
                await conn.execute(
                    text("SELECT task_name, queue FROM job_outbox WHERE dispatched_at IS NOT NULL")
                )
            ).all()
        )
    assert rows == {"tests.removed_task": "default", "tests.record_marker": "default"}
    assert await _queued(runtime) == {"tests.record_marker": ("default", "todo")}
