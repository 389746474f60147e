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
from sellerhub.billing.commissions.rules import reversal_share
from sellerhub.billing.payouts.models import (
    REVERSAL_STATES,
    SellerTransfer,
    TransferReversal,
    TransferState,
)
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


# --- reversals: the seller's part of a reversed recovery taken back from the transfer ---------

WAITING, PROCESSING, SUCCEEDED, REDUCED, NOTHING = REVERSAL_STATES


async def transfer_row(session: AsyncSession, transfer_id: uuid.UUID) -> SellerTransfer:
    row = await TransferRepository(session).get(transfer_id)
    assert row is not None
    return row


def reversal_key(reversal_id: uuid.UUID) -> str:
    """The one key of a reversal's transfer reversal: sent again, the same request at Stripe."""
    return f"transfer_reversal:{reversal_id}"


async def open_reversal(
    session: AsyncSession,
    *,
    recovery_id: uuid.UUID,
    reversal_id: uuid.UUID,
    reversed_minor: int,
    recovered_minor: int,
    gross_minor: int,
    recheck: timedelta,
    now: datetime,
) -> tuple[TransferReversal | None, bool]:
    """The reversal's row on the seller's transfer of ``recovery_id`` (the recovery the
    platform held), written once (UNIQUE per reversal) and decided under the transfer's row
    lock (``decide_reversal``); True when this call decided it (a Stripe reversal to send is
    then this caller's to send; any other call finds it ``processing`` or settled). None when
    the recovery has no transfer (nothing was owed to the seller)."""
    repo = TransferRepository(session)
    found = await repo.by_recovery(recovery_id)
    if found is None:
        return None, False
    row = await repo.get(found.id, lock=True)
    assert row is not None
    await repo.insert_reversal_once(
        {
            "id": uuid7(),
            "organization_id": row.organization_id,
            "seller_transfer_id": row.id,
            "reversal_id": reversal_id,
            "reversed_minor": reversed_minor,
            "recovered_minor": recovered_minor,
            "gross_minor": gross_minor,
            "amount_minor": 0,
            "state": WAITING,
            "next_attempt_at": now,
        }
    )
    reversal = await repo.reversal_of(reversal_id, lock=True)
    assert reversal is not None
    if reversal.state != WAITING:
        return reversal, False
    return reversal, await decide_reversal(session, row, reversal, recheck=recheck, now=now)


async def decide_reversal(
    session: AsyncSession,
    row: SellerTransfer,
    reversal: TransferReversal,
    *,
    recheck: timedelta,
    now: datetime,
) -> bool:
    """What a waiting reversal does to the seller's transfer, under both rows' locks; True
    when decided. The seller's part is ``gross * reversed / recovered`` (``gross``: the
    recovery less the commission, as first opened) rounded half up in minor units
    (``reversal_share``), never more than what is not taken back yet:

    * not sent (``pending``, ``waiting``, ``failed``): the transfer is lowered by the part
      (``reduced``); ``cancelled`` when nothing is left;
    * an attempt open (``processing``): it waits for the outcome;
    * ``paid``: the part is to be reversed at Stripe (``processing``, sent by the caller after
      the commit);
    * ``reversed``, ``cancelled``: nothing is left (``nothing``)."""
    recovered_minor, gross_minor = reversal.recovered_minor, reversal.gross_minor
    if recovered_minor <= 0 or gross_minor <= 0:
        return await _settle_reversal(session, reversal, NOTHING, 0, "nothing was owed")
    if row.state in (T.PENDING, T.WAITING, T.FAILED):
        part = reversal_share(
            gross_minor, reversal.reversed_minor, recovered_minor, row.amount_minor
        )
        row.amount_minor -= part
        if row.amount_minor == 0:
            row.state = T.CANCELLED
            row.reason = "reversed in full before it was sent"
            row.next_attempt_at = None
        await session.flush()
        log.info(
            "billing.transfer_reduced",
            transfer_id=str(row.id),
            reversal_id=str(reversal.reversal_id),
            by=part,
        )
        return await _settle_reversal(
            session, reversal, REDUCED, part, f"not sent yet: lowered by {part}"
        )
    if row.state is T.PROCESSING:
        reversal.next_attempt_at = now + recheck
        reversal.reason = "the transfer's attempt is open: decided once its outcome is known"
        await session.flush()
        return False
    if row.state is T.PAID and row.transfer_id:
        others = await TransferRepository(session).reversals_of(row.id)
        sent = sum(
            r.amount_minor
            for r in others
            if r.id != reversal.id and r.state in (PROCESSING, SUCCEEDED)
        )
        left = max(row.amount_minor - max(row.reversed_minor, sent), 0)
        part = reversal_share(gross_minor, reversal.reversed_minor, recovered_minor, left)
        if part == 0:
            return await _settle_reversal(
                session, reversal, NOTHING, 0, "the transfer is reversed already"
            )
        reversal.state = PROCESSING
        reversal.amount_minor = part
        reversal.sent_at = now
        reversal.next_attempt_at = now + recheck
        reversal.reason = None
        await session.flush()
        return True
    return await _settle_reversal(
        session, reversal, NOTHING, 0, f"the transfer is {row.state}: nothing to take back"
    )


async def _settle_reversal(
    session: AsyncSession, reversal: TransferReversal, state: str, amount: int, why: str
) -> bool:
    reversal.state = state
    reversal.amount_minor = amount
    reversal.reason = why[:300]
    reversal.next_attempt_at = None
    await session.flush()
    return True


async def apply_reversal_answer(
    session: AsyncSession,
    row: SellerTransfer,
    reversal: TransferReversal,
    answer: Mapping[str, Any],
    *,
    source: str,
) -> bool:
    """Stripe's transfer reversal for our reversal (the API's answer or a listing): recorded
    once; the transfer's reversed amount grows to what its reversals took back (``reversed``
    in full); a ledger movement (UNIQUE per Stripe reversal, so ``transfer.reversed`` after it
    adds nothing)."""
    stripe_id = str(answer.get("id") or "")
    if not stripe_id:
        return False
    changed = False
    if reversal.state == PROCESSING:
        reversal.state = SUCCEEDED
        reversal.stripe_reversal_id = stripe_id
        reversal.next_attempt_at = None
        await session.flush()
        done = sum(
            r.amount_minor
            for r in await TransferRepository(session).reversals_of(row.id)
            if r.state == SUCCEEDED
        )
        row.reversed_minor = min(max(row.reversed_minor, done), row.amount_minor)
        if row.reversed_minor >= row.amount_minor and row.state is T.PAID:
            row.state = T.REVERSED
        await session.flush()
        changed = True
        log.info(
            "billing.transfer_reversed",
            transfer_id=str(row.id),
            reversal_id=str(reversal.reversal_id),
            amount_minor=reversal.amount_minor,
        )
    created = answer.get("created")
    await ledger.record(
        session,
        organization_id=row.organization_id,
        kind=TransactionKind.TRANSFER_REVERSAL,
        stripe_id=stripe_id,
        amount_minor=int(answer.get("amount") or reversal.amount_minor),
        currency=str(answer.get("currency") or row.currency),
        status="reversed",
        source=source,
        account_id=row.destination,
        commission_id=row.commission_id,
        recovery_id=row.recovery_id,
        stripe_created=created if isinstance(created, int) else None,
    )
    return changed


async def reversal_refused(session: AsyncSession, reversal: TransferReversal, why: str) -> None:
    """Stripe refused the reversal (e.g. the seller's transfer was reversed meanwhile)."""
    if reversal.state == PROCESSING:
        await _settle_reversal(session, reversal, NOTHING, 0, f"Stripe refused the reversal: {why}")
        log.warning("billing.transfer_reversal_refused", reversal_id=str(reversal.reversal_id))


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
