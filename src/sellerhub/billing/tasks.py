"""Billing's jobs."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing import flows
from sellerhub.billing.stripe.client import client_of
from sellerhub.jobs.app import resources, task


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
