"""Billing's jobs."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing import flows
from sellerhub.billing.connect import service as connect
from sellerhub.billing.stripe.client import client_of
from sellerhub.core.logging import get_logger
from sellerhub.jobs.app import resources, task

log = get_logger(__name__)


@task("connections.billing_onboarding")
async def billing_onboarding(
    session: AsyncSession, organization_id: str, connection_id: str
) -> None:
    """Requested when a seller connects Amazon (``connections.flows.amazon_sp``; the name is
    the connection domain's request): silent Stripe Connect onboarding
    (``billing.flows.onboard_after_amazon``), in transactions of its own (the job's session is
    not used). Idempotent: a second run finds the account."""
    res = resources()
    assert res.settings is not None
    await flows.onboard_after_amazon(
        res.sessionmaker,
        client_of(res),
        res.settings,
        uuid.UUID(organization_id),
        uuid.UUID(connection_id),
    )


@task("billing.connect_sweep", queue="maintenance", cron="*/10 * * * *")
async def connect_sweep(session: AsyncSession) -> None:
    """Every 10 minutes: Connect accounts requested but not created yet (the onboarding job
    ran out of retries while Stripe was down) are created (``connect.create_awaiting``)."""
    res = resources()
    assert res.settings is not None
    created = await connect.create_awaiting(res.sessionmaker, client_of(res), res.settings)
    if created:
        log.info("billing.connect_sweep", created=created)
