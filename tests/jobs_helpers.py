"""Running the job queue inside a test: drain it once, and re-drive lost work; the tests' own
job (``tests.record_marker``), here so that a process running only this module (the
crash-after-commit child of ``test_jobs``) knows it too."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.commerce.claims.reports import service as reports
from sellerhub.config import Settings
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


@asynccontextmanager
async def live_worker(settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker reaches the emulators of the live server, like a deployed worker
    (``public_url`` is the live server); Amazon reports are polled every 50 ms. Both are put
    back on exit."""
    before = jobs.resources()
    live = settings.model_copy(update={"public_url": live_server})
    jobs.configure(dataclasses.replace(before, settings=live))
    poll = reports.POLL_SECONDS
    reports.POLL_SECONDS = 0.05
    try:
        yield
    finally:
        reports.POLL_SECONDS = poll
        jobs.configure(before)
