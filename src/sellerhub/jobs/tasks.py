"""Platform jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.jobs.app import redrive_pending, resources, task


@task("jobs.outbox_redrive", queue="maintenance", cron="* * * * *")
async def outbox_redrive(session: AsyncSession) -> None:
    """Every minute: dispatch outbox rows whose process died between commit and dispatch."""
    while await redrive_pending(session, resources().redrive_after) == 200:
        await session.flush()
