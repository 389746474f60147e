"""Claims jobs: the daily pass that opens and expires claims by their dates. The commission
request of a recovery is billing's task (``billing/commissions/tasks.py``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.claims import service
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import system_context
from sellerhub.jobs.app import task

log = get_logger(__name__)


async def commission_requested(
    session: AsyncSession, organization_id: str, recovery_id: str
) -> None:
    """Mark a recovery's commission request received (``awaiting_billing``), as billing's task
    does before it charges; no longer a task of its own. Idempotent."""
    if await service.commission_requested(
        session, uuid.UUID(organization_id), uuid.UUID(recovery_id)
    ):
        log.info("claims.commission_awaiting_billing", recovery_id=recovery_id)


@task("claims.advance", queue="maintenance", cron="7 * * * *")
async def advance(session: AsyncSession) -> None:
    """Hourly: claims whose filing window opened become ready, unfiled claims past their
    deadline expire (500 of each per step, each step its own transaction boundary's flush)."""
    today = utcnow().date()
    with system_context(session, "claims: open and expire by date"):
        while True:
            opened, expired = await service.advance_due(session, today=today, limit=500)
            if opened or expired:
                log.info("claims.advanced", ready=opened, expired=expired)
            if opened < 500 and expired < 500:
                break
