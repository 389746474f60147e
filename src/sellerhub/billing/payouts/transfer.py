"""Transferring a recovery the platform holds (less the commission) to the seller's connected
account, once. The same three steps as a commission's charge (``commissions/charge.py``), each
its own transaction (hence the sessionmaker): the attempt taken by a conditional UPDATE and
committed, the transfer created with ``Idempotency-Key: transfer:{recovery_id}:{attempt}``,
``transfer_group`` and ``source_transaction``, the answer recorded. An unknown outcome is
resolved by listing the transfers of the group (Stripe has no search for transfers, but lists
them by ``transfer_group``), then by the same request again while Stripe remembers the key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.billing.commissions.charge import KEY_MEMORY
from sellerhub.billing.payouts import service
from sellerhub.billing.payouts.models import SellerTransfer, TransferReversal, TransferState
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


# --- reversals: the seller's part of a reversed recovery taken back once ---------------------


@dataclass(frozen=True)
class ReversalRequest:
    """A transfer reversal as committed: the transfer, the request and its one key."""

    reversal_id: uuid.UUID
    transfer: str
    params: dict[str, Any]
    key: str


def reversal_request(row: SellerTransfer, reversal: TransferReversal) -> ReversalRequest:
    """The reversal's request, from the rows alone: sent again, it is the same request."""
    return ReversalRequest(
        reversal.reversal_id,
        str(row.transfer_id),
        {
            "amount": reversal.amount_minor,
            "metadata": {
                "reversal": str(reversal.reversal_id),
                "recovery_id": str(row.recovery_id),
                "organization_id": str(row.organization_id),
            },
        },
        service.reversal_key(reversal.reversal_id),
    )


async def send_reversal(
    sessionmaker: async_sessionmaker[AsyncSession],
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    request: ReversalRequest,
) -> str | None:
    """One ``POST /v1/transfers/{id}/reversals`` under the reversal's key, its answer recorded.
    A refusal (4xx other than 409/429) settles it as ``nothing``; anything that leaves the
    outcome open keeps it ``processing`` (looked up by the periodic job)."""
    answer: dict[str, Any] | None = None
    refused: str | None = None
    try:
        made = await client.v1.transfers.reversals.create_async(
            request.transfer,
            request.params,  # type: ignore[arg-type]
            {"idempotency_key": request.key},
        )
        answer = made.to_dict()
    except stripe.InvalidRequestError as exc:
        status = exc.http_status or 400
        if status in (409, 429) or status >= 500:
            _reversal_unknown(request.reversal_id, exc)
        else:
            refused = f"{exc.code or 'refused'}: {exc.user_message or 'Stripe refused it'}"
    except stripe.StripeError as exc:
        _reversal_unknown(request.reversal_id, exc)
    return await _record_reversal(
        sessionmaker, organization_id, request.reversal_id, answer=answer, refused=refused
    )


def _reversal_unknown(reversal_id: uuid.UUID, exc: stripe.StripeError) -> None:
    log.warning(
        "billing.transfer_reversal_outcome_unknown",
        reversal_id=str(reversal_id),
        error=f"{type(exc).__name__} {exc.http_status or ''}".strip(),
    )


async def _record_reversal(
    sessionmaker: async_sessionmaker[AsyncSession],
    organization_id: uuid.UUID,
    reversal_id: uuid.UUID,
    *,
    answer: dict[str, Any] | None = None,
    refused: str | None = None,
) -> str | None:
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        repo = TransferRepository(session)
        found = await repo.reversal_of(reversal_id)
        if found is None:
            return None
        row = await repo.get(found.seller_transfer_id, lock=True)
        reversal = await repo.reversal_of(reversal_id, lock=True)
        if row is None or reversal is None:
            return None
        if answer is not None:
            await service.apply_reversal_answer(session, row, reversal, answer, source="api")
        elif refused is not None:
            await service.reversal_refused(session, reversal, refused)
        return reversal.state


async def reversal_step(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: stripe.StripeClient,
    organization_id: uuid.UUID,
    reversal_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> str | None:
    """Move a reversal on (the periodic job): one waiting for its transfer's outcome is
    decided again; one sent whose outcome is overdue is looked up among the transfer's
    reversals at Stripe (by ``metadata[reversal]``, a list, so no search lag) and, when Stripe
    has none, the same request is sent again under the same key: never a second reversal."""
    now = now or utcnow()
    recheck = timedelta(seconds=settings.billing_commission_recheck_seconds)
    async with unit_of_work(sessionmaker) as session:
        set_tenant(session, organization_id)
        repo = TransferRepository(session)
        found = await repo.reversal_of(reversal_id)
        if found is None:
            return None
        row = await repo.get(found.seller_transfer_id, lock=True)
        reversal = await repo.reversal_of(reversal_id, lock=True)
        if row is None or reversal is None:
            return None
        if reversal.next_attempt_at is None or reversal.next_attempt_at > now:
            return reversal.state
        fresh = False
        if reversal.state == service.WAITING:
            decided = await service.decide_reversal(
                session, row, reversal, recheck=recheck, now=now
            )
            if not decided or reversal.state != service.PROCESSING:
                return reversal.state
            fresh = True
        elif reversal.state == service.PROCESSING:
            reversal.next_attempt_at = now + recheck
            await session.flush()
        else:
            return reversal.state
        request = reversal_request(row, reversal)
    if not fresh:
        try:
            listed = await find_reversal(client, request.transfer, reversal_id)
        except stripe.StripeError as exc:
            _reversal_unknown(reversal_id, exc)
            return service.PROCESSING
        if listed is not None:
            log.info("billing.transfer_reversal_reconciled", reversal_id=str(reversal_id))
            return await _record_reversal(sessionmaker, organization_id, reversal_id, answer=listed)
    return await send_reversal(sessionmaker, client, organization_id, request)


async def find_reversal(
    client: stripe.StripeClient, transfer_id: str, reversal_id: uuid.UUID
) -> dict[str, Any] | None:
    """The reversal sent for ``reversal_id`` among the transfer's reversals."""
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = await client.v1.transfers.reversals.list_async(
            transfer_id,
            params,  # type: ignore[arg-type]
        )
        for item in page.data:
            body = item.to_dict()
            if str((body.get("metadata") or {}).get("reversal")) == str(reversal_id):
                return body
        if not page.has_more or not page.data:
            return None
        params["starting_after"] = page.data[-1].id
