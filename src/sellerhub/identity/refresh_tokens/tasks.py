"""Refresh-token jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.refresh_tokens import service
from sellerhub.jobs.app import task


@task("refresh_tokens.prune_revocations", queue="maintenance", cron="23 * * * *")
async def prune_revocations(session: AsyncSession) -> None:
    """Hourly: delete revoked families whose access tokens have all expired."""
    await service.prune_revocations(session)
