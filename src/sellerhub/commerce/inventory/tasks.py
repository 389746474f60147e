"""Inventory jobs: reservations past their expiry released, the journal checked against the
levels."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.inventory import service
from sellerhub.core.logging import get_logger
from sellerhub.jobs.app import task

log = get_logger(__name__)


@task("inventory.expire_reservations", queue="maintenance", cron="* * * * *")
async def expire_reservations(session: AsyncSession) -> None:
    """Every minute: release the reservations past their expiry, 200 per transaction step."""
    while (expired := await service.expire_due(session, limit=200)) > 0:
        log.info("inventory.reservations_expired", count=expired)
        await session.flush()
        if expired < 200:
            break


@task("inventory.verify_journal", queue="maintenance", cron="17 * * * *")
async def verify_journal(session: AsyncSession) -> None:
    """Hourly: replay the journal against the levels; a difference is logged as an error
    (``sellerhub inventory verify`` shows it in full)."""
    mismatches = await service.verify(session, None)
    if mismatches:
        log.error("inventory.journal_mismatch", levels=len(mismatches))
    else:
        log.info("inventory.journal_verified")
