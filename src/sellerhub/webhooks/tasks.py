"""Webhook processing jobs: one per stored event, and a periodic re-drive of events still
pending (a worker died, or the dispatch after the commit was lost)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.jobs.app import kick, resources, task
from sellerhub.webhooks import service

REDRIVE_AFTER = timedelta(minutes=2)


@task(service.PROCESS_TASK, queue="webhooks")
async def process_event(session: AsyncSession, event_id: str) -> None:
    """Failures inside a handler are recorded on the event (committed) and retried by the
    re-drive; a failure outside (database down) retries the job itself with backoff."""
    await service.process(session, uuid.UUID(event_id))


@task(service.DRAIN_TASK, queue="webhooks")
async def drain(session: AsyncSession) -> None:
    """Process the fresh events in batches; asks for another run when the batch was full."""
    if await service.drain(resources().sessionmaker) >= 200:
        kick(service.DRAIN_TASK, lock="webhooks-drain-next")


@task("webhooks.redrive", queue="maintenance", cron="*/2 * * * *")
async def redrive(session: AsyncSession) -> None:
    await service.redrive(session, older_than=REDRIVE_AFTER)
