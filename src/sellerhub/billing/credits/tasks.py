"""Credit jobs: holds past their timeout voided, expired grants taken back, the ledger
reconciled."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.credits import service
from sellerhub.core.logging import get_logger
from sellerhub.jobs.app import task

log = get_logger(__name__)


@task("credits.expire_holds", queue="maintenance", cron="* * * * *")
async def expire_holds(session: AsyncSession) -> None:
    """Every minute: void the holds past their timeout, 200 per call."""
    conn = await service.raw_connection(session)
    while (voided := await service.expire_holds(conn, limit=200)) > 0:
        log.info("credits.holds_expired", count=voided)
        if voided < 200:
            break


@task("credits.expire_grants", queue="maintenance", cron="* * * * *")
async def expire_grants(session: AsyncSession) -> None:
    """Every minute: what is left of each grant past its expiry moves to the platform's
    ``expiry`` account, once (``service.expire_grants``; 200 grants per call)."""
    conn = await service.raw_connection(session)
    expired = await service.expire_grants(conn, limit=200)
    if expired:
        log.info("credits.grants_expired", credits=expired)


@task("credits.reconcile", queue="maintenance", cron="23 * * * *")
async def reconcile(session: AsyncSession) -> None:
    """Hourly: prove the ledger (``service.reconcile``); a difference is an alarm — an error in
    the log, the mismatch counter, and an event in the platform's audit trail
    (``sellerhub credits reconcile`` shows it in full)."""
    await service.reconcile_and_record(session)
