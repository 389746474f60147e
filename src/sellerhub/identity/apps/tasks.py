"""Cross-app jobs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.apps import tokens
from sellerhub.jobs.app import task


@task("apps.prune_auth_codes", queue="maintenance", cron="41 * * * *")
async def prune_auth_codes(session: AsyncSession) -> None:
    """Hourly: delete the embedded login's authorization codes expired for more than a day."""
    await tokens.prune_auth_codes(session)
