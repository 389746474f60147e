"""Transferring a recovery the platform holds (less the commission) to the seller's connected
account, once. The same three steps as a commission's charge (``commissions/charge.py``), each
its own transaction (hence the sessionmaker): the attempt taken by a conditional UPDATE and
committed, the transfer created with ``Idempotency-Key: transfer:{recovery_id}:{attempt}``,
``transfer_group`` and ``source_transaction``, the answer recorded. An unknown outcome is
resolved by listing the transfers of the group (Stripe has no search for transfers, but lists
them by ``transfer_group``), then by the same request again while Stripe remembers the key."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.billing.commissions.charge import KEY_MEMORY
from sellerhub.billing.payouts import service
from sellerhub.billing.payouts.models import SellerTransfer, TransferState
from sellerhub.billing.payouts.repository import TransferRepository
from sellerhub.config import Settings
from sellerhub.core.clock import utcnow
from sellerhub.core.logging import get_logger
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant

log = get_logger(__name__)
T = TransferState


def _params(row: SellerTransfer) -> dict[str, Any]:
    params: dict[str, Any] = {
        "amount": row.amount_minor,
        "currency": row.currency.lower(),
        "destination": row.destination,
        "transfer_group": row.transfer_group,
        "description": f"sellerhub: recovery {row.recovery_id} less the commission",
        "metadata": {
            "recovery_id": str(row.recovery_id),
            "commission_id": str(row.commission_id),
            "organization_id": str(row.organization_id),
        },
    }
    if row.source_transaction:
        params["source_transaction"] = row.source_transaction
    return params


async def transfer(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    transfer_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> TransferState | None:
    """Move the transfer towards Stripe (a new attempt, or the look-up of an open one); it
    waits while the organization has no connected account able to receive transfers."""
    now = now or utcnow()
    recheck = now + timedelta(seconds=settings.billing_commission_recheck_seconds)
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        repo = TransferRepository(session)
        row = await repo.get(transfer_id, lock=True)
        if row is None:
            return None
        state = row.state
        if state is T.PROCESSING:
            if row.next_attempt_at is not None and row.next_attempt_at > now:
                return state
            attempt, params, sent_at = row.attempts, _params(row), row.sent_at
            recovery_id, group = row.recovery_id, row.transfer_group
            fresh = False
        elif state in (T.PENDING, T.WAITING) or (
            state is T.FAILED and row.next_attempt_at is not None and row.next_attempt_at <= now
        ):
            destination, why = await service.destination_of(session)
            if destination is None:
                await service.wait(session, row, why or "no connected account")
                return T.WAITING
            taken = await repo.start_attempt(
                row.id, destination=destination, now=now, recheck_at=recheck
            )
            if taken is None:
                return state
            await session.refresh(row)
            attempt, params, sent_at = taken, _params(row), now
            recovery_id, group = row.recovery_id, row.transfer_group
            fresh = True
        else:
            return state
    if not fresh:
        try:
            listed = await client.v1.transfers.list_async({"transfer_group": group, "limit": 10})
        except stripe.StripeError as exc:
            return await _unknown(sessionmaker, settings, organization_id, transfer_id, exc)
        if listed.data:
            return await _record(
                sessionmaker, organization_id, transfer_id, transfer=listed.data[0].to_dict()
            )
        if sent_at is None or now - sent_at >= KEY_MEMORY:
            async with unit_of_work(sessionmaker) as session:
                set_tenant(session, organization_id)
                row = await TransferRepository(session).get(transfer_id, lock=True)
                if row is not None:
                    await service.back_to_pending(session, row, "no transfer at Stripe after a day")
                return T.PENDING
    key = service.idempotency_key(recovery_id, attempt)
    try:
        created = await client.v1.transfers.create_async(
            params,  # type: ignore[arg-type]
            {"idempotency_key": key},
        )
    except stripe.InvalidRequestError as exc:
        if exc.http_status in (409, 429) or (exc.http_status or 400) >= 500:
            return await _unknown(sessionmaker, settings, organization_id, transfer_id, exc)
        return await _record(
            sessionmaker,
            organization_id,
            transfer_id,
            refused=f"{exc.code or 'refused'}: {exc.user_message or 'Stripe refused the transfer'}",
        )
    except stripe.StripeError as exc:
        return await _unknown(sessionmaker, settings, organization_id, transfer_id, exc)
    return await _record(sessionmaker, organization_id, transfer_id, transfer=created.to_dict())


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID,
    transfer_id: uuid.UUID,
    *,
    transfer: dict[str, Any] | None = None,
    refused: str | None = None,
) -> TransferState | None:
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await TransferRepository(session).get(transfer_id, lock=True)
        if row is None:
            return None
        if transfer is not None:
            await service.apply_transfer(session, row, transfer, source="api")
        elif refused is not None:
            await service.refused(session, row, refused, utcnow())
        return row.state


async def _unknown(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    organization_id: uuid.UUID,
    transfer_id: uuid.UUID,
    exc: stripe.StripeError,
) -> TransferState | None:
    log.warning(
        "billing.transfer_outcome_unknown",
        transfer_id=str(transfer_id),
        error=f"{type(exc).__name__} {exc.http_status or ''}".strip(),
    )
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        row = await TransferRepository(session).get(transfer_id, lock=True)
        if row is None:
            return None
        if row.state is T.PROCESSING:
            row.next_attempt_at = utcnow() + timedelta(
                seconds=settings.billing_commission_recheck_seconds
            )
        return row.state
