"""Seller transfer jobs: one transfer moved towards Stripe (requested with its row; the
periodic ``billing.sweep`` retries what is due)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.payouts import service, transfer
from sellerhub.billing.stripe.client import client_of
from sellerhub.jobs.app import resources, task


@task(service.TRANSFER_TASK, queue="billing")
async def transfer_to_seller(session: AsyncSession, organization_id: str, transfer_id: str) -> None:
    settings = resources().settings
    if settings is None:
        raise RuntimeError("the job resources carry no settings")
    await transfer.transfer(
        resources().sessionmaker,
        settings,
        client_of(resources()),
        uuid.UUID(organization_id),
        uuid.UUID(transfer_id),
    )
