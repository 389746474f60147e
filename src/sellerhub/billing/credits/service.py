"""The credit ledger's rules as plain async functions on a psycopg connection (a session's,
inside its transaction) or the autocommit write pool (the consume route).

Accounts: an organization's ``wallet`` (guarded: never below zero, holds counted), its
``app_revenue`` account per app (what it spent with that app; app None: with sellerhub itself),
and the platform's ``grants``, ``purchases``, ``expiry``, ``platform`` accounts. A consume moves
credits wallet → app revenue; a hold reserves them (pending) and is posted (≤ held, the rest
released) or voided; a grant moves them grants → wallet, a purchase purchases → wallet.

``transfer`` is the one entry point other flows use (Checkout fulfilment: ``grant`` with the
session's id as the key): the same key answers the same transfer, another request under the
same key is a 409."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from prometheus_client import Counter
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit import service as audit
from sellerhub.billing.credits import repository as repo
from sellerhub.billing.credits.errors import (
    HoldExceeded,
    HoldNotFound,
    HoldResolved,
    IdempotencyKeyReused,
    InsufficientCredits,
)
from sellerhub.billing.credits.models import AccountKind, TransferCode, TransferPhase
from sellerhub.billing.credits.repository import (
    Reconciliation,
    TenantLedger,
    TransferOutcome,
    TransferRequest,
    TransferRow,
    account_key,
)
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import Conflict, NotFound
from sellerhub.core.logging import get_logger
from sellerhub.core.metrics import REGISTRY
from sellerhub.db.tenancy import system_context

log = get_logger(__name__)

LEDGER_MISMATCHES = Counter(
    "sellerhub_credits_ledger_mismatches_total",
    "Reconciliations of the credit ledger that found a difference",
    registry=REGISTRY,
)

HOLD_SCOPE = "hold"  # the keys of posts and voids: one each per hold
PLATFORM_SCOPE = "platform"  # grants and purchases (admins, Checkout, subscriptions)


def scope_of(app_id: str | None) -> str:
    """Idempotency keys are unique per organization and caller: an app's keys never meet
    another app's or the organization's own."""
    return f"app:{app_id}" if app_id else "org"


def _same(row: TransferRow, request: TransferRequest) -> bool:
    if row.phase != request.phase.value:
        return False
    if request.phase in (TransferPhase.POST, TransferPhase.VOID):
        return row.pending_id == request.pending_id and (
            request.amount is None or row.amount == request.amount
        )
    return (
        row.code == request.code
        and row.amount == request.amount
        and row.service == request.service
        and row.app_id == request.app_id
    )


def settle(outcome: TransferOutcome, request: TransferRequest) -> tuple[TransferRow, bool]:
    """The transfer and whether it was made now; or the error that says why it was not."""
    status = outcome.status
    if status in ("created", "existing") and outcome.transfer is not None:
        if status == "existing" and not _same(outcome.transfer, request):
            raise IdempotencyKeyReused(
                f"the idempotency key {request.key!r} was used for another request "
                f"({outcome.transfer.phase} of {outcome.transfer.amount} credits)"
            )
        return outcome.transfer, status == "created"
    if status == "insufficient":
        available = outcome.available or 0
        raise InsufficientCredits(
            f"{request.amount} credits requested, {available} available",
            balance=available,
            required=request.amount,
        )
    if status == "no_hold":
        raise HoldNotFound("no hold of this organization has that id")
    if status == "exceeds_hold":
        raise HoldExceeded(
            f"{request.amount} credits asked, the hold reserved {outcome.available}",
            held=outcome.available,
        )
    if status == "resolved":
        raise HoldResolved("the hold was posted or voided already")
    if status == "expired":
        raise HoldResolved("the hold expired; its credits are released")
    if status == "refused":
        raise Conflict("the receiving account refused the transfer")
    raise RuntimeError(f"the ledger answered {status!r} for a transfer")


async def transfer(conn: Any, request: TransferRequest) -> tuple[TransferRow, bool]:
    """Make one transfer on ``conn`` (inside the caller's transaction when it has one)."""
    outcome = await TenantLedger(conn, request.organization_id).transfer(request)
    if outcome.status == "resolved" and request.pending_id is not None:
        # Voided by expiry (its key) and voided again by the caller: the same void.
        found = await TenantLedger(conn, request.organization_id).resolution(request.pending_id)
        if found is not None and _same(found, request):
            return found, False
    return settle(outcome, request)


def wallet_after(row: TransferRow, wallet_id: uuid.UUID | None) -> int | None:
    if wallet_id is None:
        return None
    if row.debit_account_id == wallet_id:
        return row.debit_balance_after
    if row.credit_account_id == wallet_id:
        return row.credit_balance_after
    return None


# --- consume (the hot path) --------------------------------------------------------------------


def consume_request(
    organization_id: uuid.UUID,
    *,
    amount: int,
    service: str,
    key: str,
    app_id: str | None,
    metadata: dict[str, Any] | None = None,
) -> TransferRequest:
    return TransferRequest(
        organization_id=organization_id,
        key_scope=scope_of(app_id),
        key=key,
        phase=TransferPhase.SINGLE,
        code=TransferCode.CONSUME.value,
        amount=amount,
        debit=account_key(AccountKind.WALLET, organization_id),
        credit=account_key(AccountKind.APP_REVENUE, organization_id, app_id),
        app_id=app_id,
        service=service,
        metadata=metadata or {},
    )


async def consume(
    pool: AsyncConnectionPool,
    organization_id: uuid.UUID,
    *,
    amount: int,
    service: str,
    key: str,
    app_id: str | None,
    metadata: dict[str, Any] | None = None,
) -> tuple[TransferRow, bool]:
    """Spend ``amount`` credits of the organization's wallet on ``service`` (of ``app_id``),
    group-committed with the consumes arriving meanwhile; answered after its commit. 402 when
    the wallet's available balance is short."""
    request = consume_request(
        organization_id, amount=amount, service=service, key=key, app_id=app_id,
        metadata=metadata,
    )  # fmt: skip
    outcome = await repo.writer_of(pool).submit(request)
    return settle(outcome, request)


# --- holds ---------------------------------------------------------------------------------


async def hold(
    conn: Any,
    organization_id: uuid.UUID,
    *,
    amount: int,
    service: str,
    key: str,
    app_id: str | None,
    timeout_seconds: int,
) -> tuple[TransferRow, bool]:
    """Reserve ``amount`` credits (a pending transfer wallet → app revenue): they count against
    the available balance until posted, voided or expired."""
    request = TransferRequest(
        organization_id=organization_id,
        key_scope=scope_of(app_id),
        key=key,
        phase=TransferPhase.PENDING,
        code=TransferCode.HOLD.value,
        amount=amount,
        debit=account_key(AccountKind.WALLET, organization_id),
        credit=account_key(AccountKind.APP_REVENUE, organization_id, app_id),
        timeout_at=utcnow() + timedelta(seconds=timeout_seconds),
        app_id=app_id,
        service=service,
    )
    return await transfer(conn, request)


async def _own_hold(
    conn: Any, organization_id: uuid.UUID, hold_id: uuid.UUID, app_id: str | None
) -> None:
    """An app resolves only its own holds (the organization's users resolve any of theirs)."""
    if app_id is None:
        return
    found = await TenantLedger(conn, organization_id).by_id(hold_id)
    if found is None or found.phase != TransferPhase.PENDING.value or found.app_id != app_id:
        raise HoldNotFound("no hold of this app has that id")


async def post_hold(
    conn: Any,
    organization_id: uuid.UUID,
    hold_id: uuid.UUID,
    amount: int | None,
    *,
    app_id: str | None = None,
) -> tuple[TransferRow, bool]:
    """Post ``amount`` (at most the amount held; None: all of it); the rest is released. A
    hold past its timeout can no longer be posted. ``app_id``: the calling app's, which may
    resolve only its own holds."""
    await _own_hold(conn, organization_id, hold_id, app_id)
    request = TransferRequest(
        organization_id=organization_id,
        key_scope=HOLD_SCOPE,
        key=f"post:{hold_id}",
        phase=TransferPhase.POST,
        code=TransferCode.HOLD.value,
        amount=amount,
        pending_id=hold_id,
    )
    return await transfer(conn, request)


def void_request(
    organization_id: uuid.UUID, hold_id: uuid.UUID, reason: str = "voided"
) -> TransferRequest:
    return TransferRequest(
        organization_id=organization_id,
        key_scope=HOLD_SCOPE,
        key=f"void:{hold_id}",
        phase=TransferPhase.VOID,
        code=TransferCode.HOLD.value,
        amount=None,
        pending_id=hold_id,
        metadata={"reason": reason},
    )


async def void_hold(
    conn: Any, organization_id: uuid.UUID, hold_id: uuid.UUID, *, app_id: str | None = None
) -> tuple[TransferRow, bool]:
    """Release the hold: nothing is posted."""
    await _own_hold(conn, organization_id, hold_id, app_id)
    return await transfer(conn, void_request(organization_id, hold_id))


async def expire_holds(conn: Any, *, now: datetime | None = None, limit: int = 200) -> int:
    """Void the open holds past their timeout (``limit`` of them, oldest first, in one call);
    how many were voided now."""
    due = await repo.expired_holds(conn, now or utcnow(), limit)
    if not due:
        return 0
    requests = [void_request(org, hold_id, "expired") for hold_id, org in due]
    outcomes = await repo.transfer_batch(conn, requests)
    return sum(1 for o in outcomes if o.status == "created")


# --- grants --------------------------------------------------------------------------------


async def grant(
    conn: Any,
    organization_id: uuid.UUID,
    *,
    amount: int,
    key: str,
    code: TransferCode = TransferCode.GRANT,
    metadata: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> tuple[TransferRow, bool]:
    """Credit the organization's wallet with ``amount``: from the grants account (admins,
    subscriptions: ``TransferCode.GRANT``) or the purchases clearing account (Checkout:
    ``TransferCode.PURCHASE``), once per ``key`` (e.g. ``checkout:<session id>``). Runs inside
    the caller's transaction on ``conn``; returns (transfer, made now). ``expires_at``: the
    credits expire then (a ``credit_lots`` row, made in the same transaction while the grant
    holds the wallet's lock; spent before credits that expire later or never)."""
    source = AccountKind.PURCHASES if code is TransferCode.PURCHASE else AccountKind.GRANTS
    request = TransferRequest(
        organization_id=organization_id,
        key_scope=PLATFORM_SCOPE,
        key=key,
        phase=TransferPhase.SINGLE,
        code=code.value,
        amount=amount,
        debit=account_key(source, organization_id),
        credit=account_key(AccountKind.WALLET, organization_id),
        metadata=metadata or {},
    )
    # Decided before the ledger: a grant to an organization that does not exist would be
    # refused by the accounts' foreign key (an error inside the transfer's savepoint).
    if not await repo.organization_exists(conn, organization_id):
        raise NotFound("no organization has that id")
    try:
        if expires_at is None:
            return await transfer(conn, request)
        async with conn.transaction():  # the grant and its lot commit together
            row, created = await transfer(conn, request)
            if created:
                await repo.create_lot(conn, row, organization_id, expires_at)
            return row, created
    except psycopg.errors.ForeignKeyViolation:  # deleted meanwhile
        raise NotFound("no organization has that id") from None


async def admin_grant(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    amount: int,
    key: str,
    reason: str,
    actor_user_id: uuid.UUID | None,
    expires_in_days: int | None = None,
) -> tuple[TransferRow, bool]:
    """A grant by a platform administrator (API or CLI: ``actor_user_id`` None), recorded in
    the organization's audit trail when made, in the session's transaction; its credits
    expire after ``expires_in_days`` when given."""
    by = "cli" if actor_user_id is None else str(actor_user_id)
    expires_at = None
    if expires_in_days is not None:
        expires_at = utcnow() + timedelta(days=expires_in_days)
    row, created = await grant(
        await raw_connection(session),
        organization_id,
        amount=amount,
        key=key,
        metadata={"reason": reason, "by": by},
        expires_at=expires_at,
    )
    if created:
        with system_context(session, "a platform administrator grants an organization credits"):
            await audit.record(
                session,
                organization_id=organization_id,
                action="credits.granted",
                actor_user_id=actor_user_id,
                actor_type="user" if actor_user_id is not None else "system",
                target_type="credit_transfer",
                target_id=str(row.id),
                data={"amount": amount, "reason": reason},
            )
    return row, created


# --- expiry of granted credits -----------------------------------------------------------


def expiry_request(lot: repo.Lot, amount: int) -> TransferRequest:
    """What is left of an expired grant leaves the wallet for the platform's expiry account,
    keyed by the lot and its expired total (once per credit)."""
    return TransferRequest(
        organization_id=lot.organization_id,
        key_scope=PLATFORM_SCOPE,
        key=f"expire:{lot.id}:{lot.expired + amount}",
        phase=TransferPhase.SINGLE,
        code=TransferCode.EXPIRE.value,
        amount=amount,
        debit=account_key(AccountKind.WALLET, lot.organization_id),
        credit=account_key(AccountKind.EXPIRY, lot.organization_id),
        metadata={"lot": str(lot.id), "expires_at": lot.expires_at.isoformat()},
    )


async def expire_grants(conn: Any, *, now: datetime | None = None, limit: int = 200) -> int:
    """Move what is left of each grant past its expiry to the ``expiry`` account, once; in the
    caller's transaction (one run at a time: an advisory lock). Each lot is read again under
    its wallet's lock, so a consume running meanwhile is either before (the lot has less
    left) or after (it finds the credits gone). Credits a hold still reserves are not
    expired; given back by the hold's void, they expire on the next run. How many credits
    expired."""
    cursor = await conn.execute(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('credits-expire-grants', 0))"
    )
    locked = await cursor.fetchone()
    if not locked or not locked[0]:
        return 0
    due = await repo.due_lots(conn, now or utcnow(), limit)
    if not due:
        return 0
    expiry_key = account_key(AccountKind.EXPIRY, due[0].organization_id)
    (expiry,) = await repo.accounts.ensure(conn, [expiry_key])
    total = 0
    for found in due:
        lot = await repo.lock_lot(conn, found, expiry)
        if lot is None or lot.remaining <= 0:
            continue
        wallet = await TenantLedger(conn, lot.organization_id).wallet()
        amount = min(lot.remaining, max(0, wallet.available))
        if amount < lot.remaining:  # held by an open hold; should never be short otherwise
            log.info("credits.lot_held", lot=str(lot.id), left=lot.remaining, moved=amount)
        if amount > 0:
            await transfer(conn, expiry_request(lot, amount))
        await repo.close_lot(conn, lot.id, amount)
        total += amount
    return total


# --- reads ---------------------------------------------------------------------------------


async def wallet(conn: Any, organization_id: uuid.UUID) -> repo.Wallet:
    return await TenantLedger(conn, organization_id).wallet()


async def expiring(
    conn: Any, organization_id: uuid.UUID, limit: int = 10
) -> list[tuple[int, datetime]]:
    return await repo.expiring(conn, organization_id, limit)


async def usage(
    conn: Any, organization_id: uuid.UUID
) -> list[tuple[str | None, str | None, int, int]]:
    return await TenantLedger(conn, organization_id).usage()


async def page(
    conn: Any, organization_id: uuid.UUID, *, before: uuid.UUID | None, limit: int
) -> tuple[list[repo.PageRow], uuid.UUID | None]:
    rows = await TenantLedger(conn, organization_id).page(before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].transfer.id if more and rows else None)


async def packages(conn: Any, *, active_only: bool = True) -> Sequence[repo.PackageRow]:
    return await repo.packages(conn, active_only=active_only)


async def create_package(
    conn: Any,
    *,
    name: str,
    credits: int,
    price_minor: int,
    currency: str,
    active: bool,
    interval: str | None = None,
    grant_expires_days: int | None = None,
) -> repo.PackageRow:
    return await repo.create_package(
        conn, name=name, credits=credits, price_minor=price_minor, currency=currency,
        active=active, interval=interval, grant_expires_days=grant_expires_days,
    )  # fmt: skip


async def update_package(
    conn: Any, package_id: uuid.UUID, changes: dict[str, Any]
) -> repo.PackageRow | None:
    return await repo.update_package(conn, package_id, changes)


async def raw_connection(session: AsyncSession) -> Any:
    """The psycopg connection under a session (its transaction is the caller's)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


# --- reconciliation ------------------------------------------------------------------------


async def reconcile(conn: Any) -> Reconciliation:
    """Prove the ledger: each account's totals = the sums of its transfers, the balances of all
    accounts sum to zero (posted and pending), and open holds match unresolved pending
    transfers. A difference is an alarm: logged as an error and counted
    (``sellerhub_credits_ledger_mismatches_total``); the caller records it in the audit trail."""
    report = await repo.reconcile(conn)
    if report.ok:
        log.info("credits.reconciled", accounts=report.accounts, transfers=report.transfers)
    else:
        LEDGER_MISMATCHES.inc()
        log.error(
            "credits.ledger_mismatch",
            accounts=[str(m.account_id) for m in report.mismatches[:20]],
            mismatched=len(report.mismatches),
            posted_sum=report.posted_sum,
            pending_sum=report.pending_sum,
            holds_out_of_step=report.holds_out_of_step,
            lots_over_balance=report.lots_over_balance,
        )
    return report


def describe(report: Reconciliation) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "accounts": report.accounts,
        "transfers": report.transfers,
        "posted_sum": report.posted_sum,
        "pending_sum": report.pending_sum,
        "holds_out_of_step": report.holds_out_of_step,
        "lots_over_balance": report.lots_over_balance,
        "mismatches": [
            {
                "account_id": str(m.account_id),
                "kind": m.kind,
                "organization_id": None if m.organization_id is None else str(m.organization_id),
                "stored": {
                    "debits_posted": m.stored[0],
                    "debits_pending": m.stored[1],
                    "credits_posted": m.stored[2],
                    "credits_pending": m.stored[3],
                },
                "summed": {
                    "debits_posted": m.summed[0],
                    "debits_pending": m.summed[1],
                    "credits_posted": m.summed[2],
                    "credits_pending": m.summed[3],
                },
            }
            for m in report.mismatches
        ],
    }


async def reconcile_and_record(session: AsyncSession) -> Reconciliation:
    """``reconcile`` on the session's connection; a difference is also recorded in the
    platform's audit trail (``credits.ledger_mismatch``), in the session's transaction."""
    report = await reconcile(await raw_connection(session))
    if not report.ok:
        await audit.record_platform(
            session,
            action="credits.ledger_mismatch",
            target_type="credit_ledger",
            data=describe(report),
        )
    return report
