"""Running the job queue inside a test: drain it once, and re-drive lost work; the tests' own
job (``tests.record_marker``), here so that a process running only this module (the
crash-after-commit child of ``test_jobs``) knows it too."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks


@jobs.task("tests.record_marker")
async def record_marker(session: AsyncSession, organization_id: str) -> None:
    org = uuid.UUID(organization_id)
    set_tenant(session, org)
    await audit.record(session, organization_id=org, action="MARKER", actor_type="job")


def _queues() -> list[str]:
    """Every queue but the periodic jobs' (``maintenance``): a test calls those itself, so a
    quarter-hour tick during a run cannot add work the test did not ask for."""
    return sorted({t.queue for t in jobs.queue_app.tasks.values()} - {"maintenance"})


async def run_worker() -> None:
    """Wait for pending wake-ups, then let a worker run until the queues are empty."""
    await jobs.settle()
    await jobs.queue_app.run_worker_async(
        queues=_queues(),
        wait=False,
        install_signal_handlers=False,
        listen_notify=False,
        concurrency=1,
    )


async def redrive_lost_webhooks(runtime: Runtime) -> int:
    """What the periodic jobs do for a webhook whose processing request was lost: the webhook
    re-drive requests it again, the outbox re-drive hands that request to the queue. Returns
    how many webhook events were re-driven."""
    async with unit_of_work(runtime.sessionmaker) as session:
        count = await webhooks.redrive(session, older_than=timedelta(minutes=2))
    async with unit_of_work(runtime.sessionmaker) as session:
        await jobs.redrive_pending(session, timedelta(0))
    return count
