"""Seller transfers: the row opened with the commission of a recovery the platform holds, what
Stripe's answers and events do to it, and the organization's view. The calls to Stripe are in
``transfer.py``. Functions receive a session and only flush."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.billing.commissions.errors import BadCursor
from sellerhub.billing.payouts.models import SellerTransfer, TransferState
from sellerhub.billing.payouts.repository import PAYOUTS_PAGE_SQL, TransferRepository
from sellerhub.billing.payouts.schemas import TransferOut
from sellerhub.billing.transactions import service as ledger
from sellerhub.billing.transactions.models import TransactionKind
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.jobs.app import enqueue

log = get_logger(__name__)

TRANSFER_TASK: Final = "billing.transfer"
# A transfer Stripe refused (the platform's balance short, the account not able to receive)
# is tried again a day later.
RETRY_AFTER: Final = timedelta(days=1)
T = TransferState


def group_of(recovery_id: uuid.UUID) -> str:
    return f"recovery_{recovery_id}"


def idempotency_key(recovery_id: uuid.UUID, attempt: int) -> str:
    return f"transfer:{recovery_id}:{attempt}"


async def open_transfer(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    recovery_id: uuid.UUID,
    commission_id: uuid.UUID,
    amount_minor: int,
    currency: str,
    source_transaction: str | None,
) -> bool:
    """The seller's transfer of a recovery, written once (UNIQUE per recovery) and requested
    in this transaction; True when this call wrote it."""
    values: dict[str, Any] = {
        "id": uuid7(),
        "organization_id": organization_id,
        "recovery_id": recovery_id,
        "commission_id": commission_id,
        "amount_minor": amount_minor,
        "currency": currency.upper(),
        "state": T.PENDING,
        "transfer_group": group_of(recovery_id),
        "source_transaction": source_transaction,
        "attempts": 0,
        "reversed_minor": 0,
    }
    created = await TransferRepository(session).insert_once(values)
    if created:
        await enqueue(
            session,
            TRANSFER_TASK,
            {"organization_id": str(organization_id), "transfer_id": str(values["id"])},
        )
        log.info("billing.transfer_opened", recovery_id=str(recovery_id), amount_minor=amount_minor)
    return created


async def destination_of(session: AsyncSession) -> tuple[str | None, str | None]:
    """The connected account to transfer to, or None and why not (the transfer waits; the
    periodic job looks again). Stripe itself refuses an account that cannot receive transfers
    yet: that is a ``failed`` transfer, retried a day later."""
    account = await TransferRepository(session).connected_account()
    if account is None or account.stripe_account_id is None:
        return None, "the seller has no Stripe connected account yet"
    if account.disabled_reason:
        return None, f"the connected account is disabled ({account.disabled_reason})"
    return account.stripe_account_id, None


async def wait(session: AsyncSession, row: SellerTransfer, reason: str) -> None:
    if row.state in (T.PENDING, T.WAITING, T.FAILED):
        row.state = T.WAITING
        row.reason = reason[:300]
        row.next_attempt_at = None
        await session.flush()


async def apply_transfer(
    session: AsyncSession, row: SellerTransfer, transfer: Mapping[str, Any], *, source: str
) -> bool:
    """Stripe created the transfer (its answer, a listing by transfer group, or
    ``transfer.created``): paid, recorded in the ledger once."""
    stripe_id = str(transfer["id"])
    changed = False
    if row.transfer_id is None and row.state in (T.PENDING, T.WAITING, T.PROCESSING, T.FAILED):
        row.transfer_id = stripe_id
        row.state = T.PAID
        row.reason = None
        row.next_attempt_at = None
        changed = True
    elif row.transfer_id not in (None, stripe_id):
        log.error("billing.transfer_twice", transfer_id=str(row.id), stripe_id=stripe_id)
    await session.flush()
    await ledger.record(
        session,
        organization_id=row.organization_id,
        kind=TransactionKind.TRANSFER,
        stripe_id=stripe_id,
        amount_minor=int(transfer.get("amount") or row.amount_minor),
        currency=str(transfer.get("currency") or row.currency),
        status="paid",
        source=source,
        charge_id=_text(transfer.get("source_transaction")),
        account_id=_text(transfer.get("destination")) or row.destination,
        commission_id=row.commission_id,
        recovery_id=row.recovery_id,
        stripe_created=transfer.get("created")
        if isinstance(transfer.get("created"), int)
        else None,
    )
    return changed


async def apply_reversal(
    session: AsyncSession, row: SellerTransfer, transfer: Mapping[str, Any], *, source: str
) -> bool:
    """``transfer.reversed``: the reversed amount only grows; in full, the transfer is
    ``reversed``. Each reversal is its own ledger movement."""
    reversed_minor = min(int(transfer.get("amount_reversed") or 0), row.amount_minor)
    changed = False
    if reversed_minor > row.reversed_minor:
        row.reversed_minor = reversed_minor
        changed = True
    if reversed_minor >= row.amount_minor and row.state is T.PAID:
        row.state = T.REVERSED
        changed = True
    await session.flush()
    reversals = transfer.get("reversals") or {}
    for reversal in reversals.get("data") or []:
        if isinstance(reversal, Mapping) and reversal.get("id"):
            await ledger.record(
                session,
                organization_id=row.organization_id,
                kind=TransactionKind.TRANSFER_REVERSAL,
                stripe_id=str(reversal["id"]),
                amount_minor=int(reversal.get("amount") or 0),
                currency=str(reversal.get("currency") or row.currency),
                status="reversed",
                source=source,
                account_id=row.destination,
                commission_id=row.commission_id,
                recovery_id=row.recovery_id,
            )
    return changed


async def refused(session: AsyncSession, row: SellerTransfer, reason: str, now: datetime) -> None:
    if row.state is T.PROCESSING:
        row.state = T.FAILED
        row.reason = reason[:300]
        row.next_attempt_at = now + RETRY_AFTER
        await session.flush()
        log.warning("billing.transfer_refused", transfer_id=str(row.id), reason=reason)


async def back_to_pending(session: AsyncSession, row: SellerTransfer, why: str) -> None:
    if row.state is T.PROCESSING:
        row.state = T.PENDING
        row.reason = why[:300]
        row.next_attempt_at = None
        await session.flush()


async def page(
    session: AsyncSession, *, limit: int, cursor: str | None, state: str | None
) -> tuple[Sequence[SellerTransfer], str | None]:
    before = None
    if cursor:
        try:
            before = uuid.UUID(cursor)
        except ValueError:
            raise BadCursor(
                "pass next_cursor of the previous page as it was given",
                errors=[{"field": "cursor", "message": "is not a cursor of this list"}],
            ) from None
    rows = await TransferRepository(session).page(limit=limit, before=before, state=state)
    items = rows[:limit]
    return items, (str(items[-1].id) if len(rows) > limit else None)


def describe(row: SellerTransfer) -> TransferOut:
    return TransferOut(
        id=row.id,
        recovery_id=row.recovery_id,
        commission_id=row.commission_id,
        amount_minor=row.amount_minor,
        currency=row.currency,
        state=str(row.state),
        reason=row.reason,
        destination=row.destination,
        transfer_group=row.transfer_group,
        source_transaction=row.source_transaction,
        transfer_id=row.transfer_id,
        reversed_minor=row.reversed_minor,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
    )


def _text(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value)[:100] if value else None


def _rows(value: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in value or []]


def transfers_read(*, limit: int, before: uuid.UUID | None) -> Read[list[dict[str, Any]]]:
    """A page of the seller's transfers, newest first, for a page's one read
    (``web.session.view``): at most ``limit`` + 1 rows (the extra one means a next page)."""
    return Read(PAYOUTS_PAGE_SQL, {"payouts_before": before, "payouts_limit": limit + 1}, _rows)
