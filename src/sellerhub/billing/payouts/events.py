"""Stripe's events about money sent to sellers, listed in ``sellerhub.handlers``:
``transfer.created`` and ``transfer.reversed`` (the platform's transfers), ``payout.paid`` and
``payout.failed`` (a connected account's payouts to its bank: Connect events, with
``account``). Idempotent and safe out of order like the commission's (``commissions/events``):
a transfer is paid once whatever arrives twice, a reversed amount only grows, and a payout's
status in the ledger only moves forward."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions.events import event_object, unmatched
from sellerhub.billing.payouts import service
from sellerhub.billing.payouts.models import SellerTransfer
from sellerhub.billing.payouts.repository import TransferRepository
from sellerhub.billing.transactions import service as ledger
from sellerhub.billing.transactions.models import TransactionKind
from sellerhub.core.logging import get_logger
from sellerhub.db.tenancy import system_context
from sellerhub.webhooks.models import WebhookEvent

log = get_logger(__name__)


async def _transfer_row(
    session: AsyncSession, transfer: Mapping[str, Any]
) -> SellerTransfer | None:
    repo = TransferRepository(session)
    row = await repo.by_stripe_transfer(str(transfer["id"]), lock=True)
    if row is not None:
        return row
    raw = (transfer.get("metadata") or {}).get("recovery_id")
    try:
        recovery_id = uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None
    if recovery_id is None:
        return None
    found = await repo.by_recovery(recovery_id)
    return None if found is None else await repo.get(found.id, lock=True)


async def transfer_created(session: AsyncSession, event: WebhookEvent) -> None:
    transfer = event_object(event)
    with system_context(session, "stripe event: a transfer to a seller"):
        row = await _transfer_row(session, transfer)
        if row is None:
            unmatched(session, event, transfer["id"])
            return
        await service.apply_transfer(session, row, transfer, source=f"event {event.external_id}")


async def transfer_reversed(session: AsyncSession, event: WebhookEvent) -> None:
    transfer = event_object(event)
    with system_context(session, "stripe event: a transfer reversed"):
        row = await _transfer_row(session, transfer)
        if row is None:
            unmatched(session, event, transfer["id"])
            return
        if row.transfer_id is None:  # the reversal came before the creation
            await service.apply_transfer(
                session, row, transfer, source=f"event {event.external_id}"
            )
        await service.apply_reversal(session, row, transfer, source=f"event {event.external_id}")


async def payout_event(session: AsyncSession, event: WebhookEvent) -> None:
    """``payout.paid`` / ``payout.failed`` of a connected account: recorded in the account's
    organization's ledger (its status only moves forward)."""
    payout = event_object(event)
    account = event.account or _text(event.payload.get("account"))
    if account is None:
        log.info("billing.payout_without_account", stripe_id=payout["id"])
        return
    with system_context(session, "stripe event: a connected account's payout"):
        organization_id = await TransferRepository(session).owner_of_account(account)
        if organization_id is None:
            unmatched(session, event, payout["id"])
            return
        created = payout.get("created")
        await ledger.record(
            session,
            organization_id=organization_id,
            kind=TransactionKind.PAYOUT,
            stripe_id=str(payout["id"]),
            amount_minor=abs(int(payout.get("amount") or 0)),
            currency=str(payout.get("currency") or ""),
            status=str(payout.get("status") or event.topic.rpartition(".")[2]),
            source=f"event {event.external_id}",
            account_id=account,
            stripe_created=created if isinstance(created, int) else None,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
