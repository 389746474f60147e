"""Running the job queue inside a test: drain it once, and re-drive lost work."""

from __future__ import annotations

from datetime import timedelta

from sellerhub.db.session import unit_of_work
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks


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
