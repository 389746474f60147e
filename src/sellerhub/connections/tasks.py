"""Proactive refresh: every minute, connections whose token expires within 15 minutes are
refreshed in batches, spread over a bounded number of concurrent refreshes and fairly across
organizations (one per organization per round)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.connections.refresh import RefreshContext, access_token_for
from sellerhub.connections.repository import ConnectionRepository
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger
from sellerhub.jobs.app import resources, task

log = get_logger(__name__)
DUE_WITHIN = timedelta(minutes=15)
BATCH = 500
CONCURRENCY = 20


async def refresh_due(ctx: RefreshContext, session: AsyncSession, *, limit: int = BATCH) -> int:
    """Refresh one batch of due connections; returns how many were attempted."""
    now = utcnow()
    due = await ConnectionRepository(session).due_for_refresh(
        before=now + DUE_WITHIN, now=now, limit=limit
    )
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(organization_id: object, connection_id: object) -> None:
        async with gate:
            try:
                await access_token_for(ctx, organization_id, connection_id, force=True)  # type: ignore[arg-type]
            except DomainError as exc:  # recorded on the connection; keep going
                log.info("connection.proactive_refresh_failed", code=exc.code)

    await asyncio.gather(*(one(org, cid) for org, cid in due))
    return len(due)


@task("connections.refresh_due", queue="maintenance", cron="* * * * *")
async def refresh_due_connections(session: AsyncSession) -> None:
    res = resources()
    assert res.keyring is not None and res.settings is not None and res.http is not None
    ctx = RefreshContext(res.sessionmaker, res.keyring, res.settings, res.http)
    total = 0
    while True:
        done = await refresh_due(ctx, session)
        total += done
        if done < BATCH:
            break
    if total:
        log.info("connections.refreshed_due", count=total)


# ``connections.billing_onboarding``, requested after Amazon connects, is billing's job
# (billing/tasks.py): billing reads connections, so connections does not import billing.
