"""Account jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.accounts import service
from sellerhub.jobs.app import task


@task("accounts.prune", queue="maintenance", cron="17 * * * *")
async def prune(session: AsyncSession) -> None:
    """Hourly: delete email codes expired for a day and rate-limit counters idle for a day."""
    await service.prune(session)
