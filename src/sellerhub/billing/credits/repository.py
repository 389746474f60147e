"""Every SQL statement of the credit ledger. They run on a psycopg connection: a request's or
job's session connection inside its transaction (``TenantLedger(conn=…)``), or the autocommit
write pool through the group-committing ``LedgerWriter`` (the consume route). Balances change
only through ``credits_transfer_batch`` (migration ``2026_12_02_credits_ledger``); every
statement here binds the organization it reads or writes."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, LiteralString

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from sellerhub.billing.credits.models import (
    CREDITS_LEDGER,
    ORGANIZATION_KINDS,
    AccountKind,
    TransferPhase,
)
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger

log = get_logger(__name__)

MAX_BATCH = 256  # transfers per call of the function
# Two calls at a time per process: while one is in the database, the next batch gathers and
# goes, so the worker's Python and PostgreSQL overlap. Calls on one hot wallet still serialise on
# its row lock (the second waits for the first's commit). ``make bench`` on one machine: the hot
# wallet 0.93x-0.99x the raw UPDATE with one in flight, 1.04x-1.17x with two; over 1,000 wallets
# 0.38x-0.40x with one, 0.37x-0.43x with two (all runs: docs/credits.md, Figures).
MAX_IN_FLIGHT = 2
# Before a call, wait at most this long for as many transfers as the last call carried: when a
# call's callers are answered, they come back together, and the first one alone must not start
# a call of one (each call costs a commit, a WAL flush, whatever its size).
LINGER_SECONDS = 0.003
ALONE_ATTEMPTS = 5
RETRYABLE = frozenset({"40P01", "40001", "55P03", "23505"})  # deadlock, serialization, lock, key

# --- accounts ----------------------------------------------------------------------------------

AccountKey = tuple[AccountKind, uuid.UUID | None, str | None]  # kind, organization, app

_ENSURE_ACCOUNTS: LiteralString = """
WITH want AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(kinds)s::text[], %(orgs)s::uuid[],
                         %(apps)s::text[]) WITH ORDINALITY AS w(id, kind, org, app, n)
), made AS (
    INSERT INTO credit_accounts (id, organization_id, app_id, kind, ledger,
        debits_must_not_exceed_credits, credits_must_not_exceed_debits, debits_pending,
        debits_posted, credits_pending, credits_posted)
    SELECT id, org, app, kind, %(ledger)s, kind = 'wallet', false, 0, 0, 0, 0 FROM want
    ORDER BY kind, org, app
    ON CONFLICT (kind, organization_id, app_id, ledger) DO NOTHING
    RETURNING id, kind, organization_id, app_id
)
SELECT w.n, coalesce(m.id, a.id)
FROM want w
LEFT JOIN made m ON m.kind = w.kind AND m.organization_id IS NOT DISTINCT FROM w.org
     AND m.app_id IS NOT DISTINCT FROM w.app
LEFT JOIN credit_accounts a ON a.kind = w.kind AND a.organization_id IS NOT DISTINCT FROM w.org
     AND a.app_id IS NOT DISTINCT FROM w.app AND a.ledger = %(ledger)s
ORDER BY w.n
"""


class AccountCache:
    """Account ids by (kind, organization, app), per process: accounts are never deleted, so an
    id once read stays right (a database emptied under a running process — tests — is caught by
    the function: it answers ``missing``, and the caller forgets the ids and asks again)."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self.ids: dict[AccountKey, uuid.UUID] = {}

    def forget(self, keys: Sequence[AccountKey] | None = None) -> None:
        if keys is None:
            self.ids.clear()
        else:
            for key in keys:
                self.ids.pop(key, None)

    async def ensure(self, conn: Any, keys: Sequence[AccountKey]) -> list[uuid.UUID]:
        """The ids of the accounts, created when missing (a wallet with its guard)."""
        try:  # the common case: every account known
            return [self.ids[k] for k in keys]
        except KeyError:
            pass
        missing = sorted({k for k in keys if k not in self.ids}, key=str)
        for attempt in range(3):
            if not missing:
                break
            cursor = await conn.execute(
                _ENSURE_ACCOUNTS,
                {
                    "ids": [uuid7() for _ in missing],
                    "kinds": [k[0].value for k in missing],
                    "orgs": [k[1] for k in missing],
                    "apps": [k[2] for k in missing],
                    "ledger": CREDITS_LEDGER,
                },
            )
            rows = await cursor.fetchall()
            left: list[AccountKey] = []
            for n, account_id in rows:
                if account_id is None:  # made by a concurrent statement after our snapshot
                    left.append(missing[n - 1])
                else:
                    self.ids[missing[n - 1]] = account_id
            missing = left
            if attempt == 2 and missing:
                raise RuntimeError("credit accounts could not be created")
        if len(self.ids) > self.LIMIT:
            wanted = {k: self.ids[k] for k in keys}
            self.ids = wanted
        return [self.ids[k] for k in keys]


accounts = AccountCache()


def account_key(
    kind: AccountKind, organization_id: uuid.UUID, app_id: str | None = None
) -> AccountKey:
    """The key of ``kind``'s account for an organization (the platform's own kinds ignore it)."""
    if kind in ORGANIZATION_KINDS:
        return (kind, organization_id, app_id if kind is AccountKind.APP_REVENUE else None)
    return (kind, None, None)


# --- transfers ---------------------------------------------------------------------------------

# The batch goes as ONE JSON document (a row per transfer, encoded by orjson) that the
# statement spreads into the function's fourteen arrays, in the document's order. Fourteen
# array parameters were each dumped element by element by psycopg's list dumper, in Python, on
# the worker's CPU, which bounds the consume route over many wallets: a batch of 8 took 84 µs,
# the document (rows built, encoded, dumped) 9.3 µs (``make bench``, credits.batch_params).
TRANSFER_BATCH_SQL: LiteralString = """
SELECT f.* FROM (
    SELECT array_agg(b.id ORDER BY b.n) AS id, array_agg(b.org ORDER BY b.n) AS org,
           array_agg(b.scope ORDER BY b.n) AS scope, array_agg(b.key ORDER BY b.n) AS key,
           array_agg(b.debit ORDER BY b.n) AS debit, array_agg(b.credit ORDER BY b.n) AS credit,
           array_agg(b.amount ORDER BY b.n) AS amount, array_agg(b.code ORDER BY b.n) AS code,
           array_agg(b.phase ORDER BY b.n) AS phase,
           array_agg(b.pending ORDER BY b.n) AS pending,
           array_agg(b.timeout ORDER BY b.n) AS timeout, array_agg(b.app ORDER BY b.n) AS app,
           array_agg(b.service ORDER BY b.n) AS service, array_agg(b.meta ORDER BY b.n) AS meta
    FROM ROWS FROM (json_to_recordset(%s::json) AS (
        id uuid, org uuid, scope text, key text, debit uuid, credit uuid, amount bigint,
        code text, phase text, pending uuid, timeout timestamptz, app text, service text,
        meta text
    )) WITH ORDINALITY AS b(id, org, scope, key, debit, credit, amount, code, phase, pending,
                            timeout, app, service, meta, n)
) AS batch
CROSS JOIN LATERAL credits_transfer_batch(
    batch.id, batch.org, batch.scope, batch.key, batch.debit, batch.credit, batch.amount,
    batch.code, batch.phase, batch.pending, batch.timeout, batch.app, batch.service, batch.meta
) AS f
"""


@dataclass(frozen=True)
class TransferRequest:
    """One transfer to make, bound to its organization by the caller (the principal's or the
    session's tenant). For a post or void, ``pending_id`` names the hold and the accounts are
    ignored; a post's ``amount`` None posts all of it."""

    organization_id: uuid.UUID
    key_scope: str
    key: str
    phase: TransferPhase
    code: str
    amount: int | None
    debit: AccountKey | None = None
    credit: AccountKey | None = None
    pending_id: uuid.UUID | None = None
    timeout_at: datetime | None = None
    app_id: str | None = None
    service: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: uuid.UUID = field(default_factory=uuid7)


@dataclass(frozen=True)
class TransferRow:
    id: uuid.UUID
    amount: int
    code: str
    phase: str
    pending_id: uuid.UUID | None
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    app_id: str | None
    service: str | None
    debit_balance_after: int
    credit_balance_after: int
    timeout_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TransferOutcome:
    """What the function did with one transfer (see the migration for the statuses)."""

    status: str
    transfer: TransferRow | None
    available: int | None = None


class AccountsMissing(Exception):
    """An account id the call named does not exist (the cache outlived the rows)."""


async def _params(conn: Any, requests: Sequence[TransferRequest]) -> list[Any]:
    """The call's one parameter: the batch as a JSON document, a row per transfer (the accounts'
    ids from the cache; a post or void names none)."""
    keys: list[AccountKey] = []
    for r in requests:
        if r.debit is not None and r.credit is not None:
            keys += [r.debit, r.credit]
    ids = iter(await accounts.ensure(conn, keys)) if keys else iter(())
    rows = []
    for r in requests:
        paired = r.debit is not None and r.credit is not None
        rows.append(
            {
                "id": r.id,
                "org": r.organization_id,
                "scope": r.key_scope,
                "key": r.key,
                "debit": next(ids) if paired else None,
                "credit": next(ids) if paired else None,
                "amount": r.amount,
                "code": r.code,
                "phase": r.phase.value,
                "pending": r.pending_id,
                "timeout": r.timeout_at,
                "app": r.app_id,
                "service": r.service,
                "meta": orjson.dumps(r.metadata).decode() if r.metadata else None,
            }
        )
    return [orjson.dumps(rows, option=orjson.OPT_NAIVE_UTC).decode()]


def _outcome(row: Sequence[Any]) -> TransferOutcome:
    status = row[1]
    transfer = None
    if row[2] is not None:
        transfer = TransferRow(
            id=row[2],
            amount=int(row[3]),
            code=row[4],
            phase=row[5],
            pending_id=row[6],
            debit_account_id=row[7],
            credit_account_id=row[8],
            app_id=row[9],
            service=row[10],
            debit_balance_after=int(row[11]),
            credit_balance_after=int(row[12]),
            timeout_at=row[13],
            created_at=row[14],
        )
    return TransferOutcome(status, transfer, None if row[15] is None else int(row[15]))


async def transfer_batch(conn: Any, requests: Sequence[TransferRequest]) -> list[TransferOutcome]:
    """One call of ``credits_transfer_batch``: an outcome per request, in their order. On an
    autocommit connection the call is one transaction, committed when this returns."""
    cursor = await conn.execute(TRANSFER_BATCH_SQL, await _params(conn, requests), prepare=True)
    rows = await cursor.fetchall()
    if len(rows) != len(requests):
        raise RuntimeError("the transfer batch answered another number of rows")
    outcomes = [_outcome(row) for row in rows]
    if any(o.status == "missing" for o in outcomes):
        # An id from the cache that no longer exists: forget them all and let the caller retry.
        gone = [k for r in requests for k in (r.debit, r.credit) if k is not None]
        if gone:
            accounts.forget(gone)
    return outcomes


async def transfer_alone(conn: Any, request: TransferRequest) -> TransferOutcome:
    """One transfer in a call of its own, retried while the database undoes it for a reason worth
    retrying (a deadlock, a key taken meanwhile) or an account id was stale. On a session's
    connection (inside its transaction) the call runs in a savepoint, so a failed attempt leaves
    the transaction usable."""
    for attempt in range(1, ALONE_ATTEMPTS + 1):
        savepoint = not conn.autocommit
        try:
            if savepoint:  # psycopg begins the caller's transaction first if it has not yet
                await conn.execute("SAVEPOINT credits_transfer")
            (outcome,) = await transfer_batch(conn, [request])
            if savepoint:
                await conn.execute("RELEASE SAVEPOINT credits_transfer")
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            if savepoint:
                await conn.execute("ROLLBACK TO SAVEPOINT credits_transfer")
            sqlstate = exc.sqlstate or ""
            if sqlstate in RETRYABLE and attempt < ALONE_ATTEMPTS:
                log.info("credits.transfer_retried", attempt=attempt, sqlstate=sqlstate)
                continue
            if isinstance(exc, psycopg.errors.ForeignKeyViolation):
                # A row the transfer names is gone (its organization): the caller answers it
                # (``service.grant``: 404); callers check first, so this is only a race.
                log.info("credits.transfer_refused", sqlstate=sqlstate)
                raise
            log.error("credits.transfer_failed", sqlstate=sqlstate)
            raise
        if outcome.status == "missing" and attempt < ALONE_ATTEMPTS and request.debit:
            continue  # the ids were forgotten: ensured again on the next attempt
        return outcome
    raise AssertionError("unreachable: the last attempt returns or raises")


Waiter = tuple[TransferRequest, "asyncio.Future[TransferOutcome]"]


class LedgerWriter:
    """Group commit for the consume route (the reservation route's ``ReservationWriter``
    pattern). Each caller waits for the commit of the call that carries its transfer, so its
    answer follows the commit; transfers that arrive while earlier ones are being written share
    one call, one lock of each account and one commit. If the whole call fails, each transfer of
    it is made again alone (the database unreachable: every caller gets the error)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.waiting: list[Waiter] = []
        self.flushing: set[asyncio.Task[None]] = set()
        self.last_size = 1  # transfers in the last call
        # One per call gathering its batch, set once as many transfers are waiting again.
        self.gathering: set[asyncio.Event] = set()

    async def submit(self, request: TransferRequest) -> TransferOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TransferOutcome] = loop.create_future()
        self.waiting.append((request, future))
        if self.gathering and len(self.waiting) >= self.last_size:
            for gathered in self.gathering:
                gathered.set()
        if len(self.flushing) < MAX_IN_FLIGHT:
            flush = loop.create_task(self._flush())
            self.flushing.add(flush)
            flush.add_done_callback(self._flushed)
        return await asyncio.shield(future)  # a client hanging up does not cancel the write

    def _flushed(self, flush: asyncio.Task[None]) -> None:
        self.flushing.discard(flush)
        if not flush.cancelled() and (exc := flush.exception()) is not None:
            log.error("credits.flush_failed", error=type(exc).__name__)

    async def _gather(self) -> None:
        """Linger (``LINGER_SECONDS`` at most) until as many transfers wait as the last call
        carried; under no load that is one, and nothing waits."""
        if len(self.waiting) >= min(self.last_size, MAX_BATCH):
            return
        gathered = asyncio.Event()
        self.gathering.add(gathered)
        try:
            await asyncio.wait_for(gathered.wait(), LINGER_SECONDS)
        except TimeoutError:
            pass
        finally:
            self.gathering.discard(gathered)

    async def _flush(self) -> None:
        while self.waiting:
            try:
                await self._gather()
            except asyncio.CancelledError:  # shutting down: the callers stop waiting too
                for _, future in self.waiting:
                    future.cancel()
                raise
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            self.last_size = len(batch)
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:
                log.error("credits.write_failed", error=type(exc).__name__)
                for _, future in batch:
                    _settle(future, exc)

    async def _write(self, batch: list[Waiter]) -> None:
        again: list[Waiter] = []
        try:
            async with self.pool.connection() as conn:
                outcomes = await transfer_batch(conn, [request for request, _ in batch])
        except psycopg.OperationalError as exc:
            for _, future in batch:
                _settle(future, exc)
            return
        except psycopg.Error as exc:  # nothing of the call was kept: each one alone
            log.info("credits.batch_failed", sqlstate=exc.sqlstate, size=len(batch))
            again = batch
        else:
            for (request, future), outcome in zip(batch, outcomes, strict=True):
                if outcome.status == "missing" and request.debit is not None:
                    again.append((request, future))
                else:
                    _settle(future, outcome)
        for request, future in again:
            try:
                async with self.pool.connection() as conn:
                    _settle(future, await transfer_alone(conn, request))
            except Exception as exc:
                _settle(future, exc)


def _settle(future: asyncio.Future[TransferOutcome], outcome: TransferOutcome | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


_writers: weakref.WeakKeyDictionary[AsyncConnectionPool, LedgerWriter] = weakref.WeakKeyDictionary()


def writer_of(pool: AsyncConnectionPool) -> LedgerWriter:
    """The pool's ledger writer (one per pool, so per process)."""
    writer = _writers.get(pool)
    if writer is None:
        writer = _writers[pool] = LedgerWriter(pool)
    return writer


# --- reads -------------------------------------------------------------------------------------

_BY_KEY: LiteralString = (
    "SELECT t.id, t.amount, t.code, t.phase, t.pending_id, t.debit_account_id,"
    " t.credit_account_id, t.app_id, t.service, t.debit_balance_after, t.credit_balance_after,"
    " t.timeout_at, t.created_at FROM credit_transfers t"
    " WHERE t.organization_id = %(org)s AND t.key_scope = %(scope)s"
    " AND t.idempotency_key = %(key)s"
)

_RESOLUTION: LiteralString = (
    "SELECT t.id, t.amount, t.code, t.phase, t.pending_id, t.debit_account_id,"
    " t.credit_account_id, t.app_id, t.service, t.debit_balance_after, t.credit_balance_after,"
    " t.timeout_at, t.created_at FROM credit_transfers t"
    " WHERE t.organization_id = %(org)s AND t.pending_id = %(id)s"
)

_BY_ID: LiteralString = (
    "SELECT t.id, t.amount, t.code, t.phase, t.pending_id, t.debit_account_id,"
    " t.credit_account_id, t.app_id, t.service, t.debit_balance_after, t.credit_balance_after,"
    " t.timeout_at, t.created_at FROM credit_transfers t"
    " WHERE t.organization_id = %(org)s AND t.id = %(id)s"
)

_WALLET: LiteralString = """
SELECT a.id, a.credits_posted - a.debits_posted, a.debits_pending
FROM credit_accounts a
WHERE a.kind = 'wallet' AND a.organization_id = %(org)s AND a.app_id IS NULL
  AND a.ledger = %(ledger)s
"""

_USAGE: LiteralString = """
SELECT t.app_id, t.service, sum(t.amount)::bigint, count(*)
FROM credit_transfers t
WHERE t.organization_id = %(org)s AND t.code IN ('consume', 'hold')
  AND t.phase IN ('single', 'post')
GROUP BY t.app_id, t.service
ORDER BY t.app_id NULLS FIRST, t.service NULLS FIRST
"""

_PAGE: LiteralString = (
    "SELECT t.id, t.amount, t.code, t.phase, t.pending_id, t.debit_account_id,"
    " t.credit_account_id, t.app_id, t.service, t.debit_balance_after, t.credit_balance_after,"
    " t.timeout_at, t.created_at, t.idempotency_key, t.metadata, d.kind, c.kind"
    " FROM credit_transfers t"
    " JOIN credit_accounts d ON d.id = t.debit_account_id"
    " JOIN credit_accounts c ON c.id = t.credit_account_id"
    " WHERE t.organization_id = %(org)s AND (%(before)s::uuid IS NULL OR t.id < %(before)s)"
    " AND t.amount > 0"  # always true (a CHECK); it lets the history use its partial index
    " ORDER BY t.id DESC LIMIT %(limit)s"
)

_OPEN_HOLDS: LiteralString = (
    "SELECT t.id, t.amount, t.code, t.phase, t.pending_id, t.debit_account_id,"
    " t.credit_account_id, t.app_id, t.service, t.debit_balance_after, t.credit_balance_after,"
    " t.timeout_at, t.created_at FROM credit_holds h"
    " JOIN credit_transfers t ON t.id = h.transfer_id"
    " WHERE h.organization_id = %(org)s ORDER BY h.transfer_id DESC LIMIT %(limit)s"
)

_EXPIRED_HOLDS: LiteralString = """
SELECT h.transfer_id, h.organization_id FROM credit_holds h
WHERE h.expires_at <= %(now)s ORDER BY h.expires_at, h.transfer_id LIMIT %(limit)s
"""


def _row(row: Sequence[Any]) -> TransferRow:
    return TransferRow(
        id=row[0],
        amount=int(row[1]),
        code=row[2],
        phase=row[3],
        pending_id=row[4],
        debit_account_id=row[5],
        credit_account_id=row[6],
        app_id=row[7],
        service=row[8],
        debit_balance_after=int(row[9]),
        credit_balance_after=int(row[10]),
        timeout_at=row[11],
        created_at=row[12],
    )


@dataclass(frozen=True)
class Wallet:
    id: uuid.UUID | None
    balance: int  # posted
    held: int  # pending debits

    @property
    def available(self) -> int:
        return self.balance - self.held


@dataclass(frozen=True)
class PageRow:
    transfer: TransferRow
    idempotency_key: str
    metadata: dict[str, Any]
    debit_kind: str
    credit_kind: str


class TenantLedger:
    """The ledger of one organization on a connection (a session's, inside its transaction; or
    an autocommit one). The organization comes from the caller's principal or tenant only."""

    def __init__(self, conn: Any, organization_id: uuid.UUID) -> None:
        self.conn = conn
        self.organization_id = organization_id

    async def _all(self, sql: LiteralString, **params: Any) -> list[tuple[Any, ...]]:
        cursor = await self.conn.execute(sql, {"org": self.organization_id, **params})
        return [tuple(row) for row in await cursor.fetchall()]

    async def wallet(self) -> Wallet:
        rows = await self._all(_WALLET, ledger=CREDITS_LEDGER)
        if not rows:
            return Wallet(None, 0, 0)
        account_id, balance, held = rows[0]
        return Wallet(account_id, int(balance), int(held))

    async def by_key(self, scope: str, key: str) -> TransferRow | None:
        rows = await self._all(_BY_KEY, scope=scope, key=key)
        return _row(rows[0]) if rows else None

    async def by_id(self, transfer_id: uuid.UUID) -> TransferRow | None:
        rows = await self._all(_BY_ID, id=transfer_id)
        return _row(rows[0]) if rows else None

    async def resolution(self, hold_id: uuid.UUID) -> TransferRow | None:
        rows = await self._all(_RESOLUTION, id=hold_id)
        return _row(rows[0]) if rows else None

    async def usage(self) -> list[tuple[str | None, str | None, int, int]]:
        return [(r[0], r[1], int(r[2]), int(r[3])) for r in await self._all(_USAGE)]

    async def page(self, before: uuid.UUID | None, limit: int) -> list[PageRow]:
        rows = await self._all(_PAGE, before=before, limit=limit)
        return [PageRow(_row(r[:13]), r[13], r[14], r[15], r[16]) for r in rows]

    async def open_holds(self, limit: int) -> list[TransferRow]:
        return [_row(r) for r in await self._all(_OPEN_HOLDS, limit=limit)]

    async def transfer(self, request: TransferRequest) -> TransferOutcome:
        if request.organization_id != self.organization_id:
            raise ValueError("a transfer of another organization")
        return await transfer_alone(self.conn, request)


async def organization_exists(conn: Any, organization_id: uuid.UUID) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = %(org)s)", {"org": organization_id}
    )
    row = await cursor.fetchone()
    return bool(row and row[0])


async def create_lot(
    conn: Any, row: TransferRow, organization_id: uuid.UUID, expires_at: datetime
) -> None:
    """The grant ``row`` (into a wallet) expires at ``expires_at``: its lot, all of it left.
    Made in the grant's transaction, while the grant's lock on the wallet is held, so no
    debit runs between the grant and its lot."""
    await conn.execute(
        "INSERT INTO credit_lots (id, organization_id, account_id, amount, remaining, expired,"
        " expires_at) VALUES (%(id)s, %(org)s, %(account)s, %(amount)s, %(amount)s, 0,"
        " %(expires)s) ON CONFLICT (id) DO NOTHING",
        {
            "id": row.id,
            "org": organization_id,
            "account": row.credit_account_id,
            "amount": row.amount,
            "expires": expires_at,
        },
    )


async def lot_expiry(conn: Any, transfer_id: uuid.UUID) -> datetime | None:
    cursor = await conn.execute(
        "SELECT expires_at FROM credit_lots WHERE id = %(id)s", {"id": transfer_id}
    )
    row = await cursor.fetchone()
    return None if row is None else row[0]


@dataclass(frozen=True)
class Lot:
    id: uuid.UUID
    organization_id: uuid.UUID
    account_id: uuid.UUID
    remaining: int
    expired: int
    expires_at: datetime


async def due_lots(conn: Any, now: datetime, limit: int) -> list[Lot]:
    """Expiring grants past their expiry with something left, soonest first."""
    cursor = await conn.execute(
        "SELECT id, organization_id, account_id, remaining, expired, expires_at FROM credit_lots"
        " WHERE remaining > 0 AND expires_at <= %(now)s ORDER BY expires_at, id"
        " LIMIT %(limit)s",
        {"now": now, "limit": limit},
    )
    return [Lot(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5]) for r in await cursor.fetchall()]


async def lock_lot(conn: Any, lot: Lot, expiry_account: uuid.UUID) -> Lot | None:
    """Lock the lot's wallet and the expiry account (in id order, as the transfer function
    does), then the lot, and read it again: no debit of the wallet can run until the commit."""
    await conn.execute(
        "SELECT 1 FROM credit_accounts WHERE id IN (%(wallet)s, %(expiry)s)"
        " ORDER BY id FOR NO KEY UPDATE",
        {"wallet": lot.account_id, "expiry": expiry_account},
    )
    cursor = await conn.execute(
        "SELECT id, organization_id, account_id, remaining, expired, expires_at FROM credit_lots"
        " WHERE id = %(id)s FOR UPDATE",
        {"id": lot.id},
    )
    r = await cursor.fetchone()
    return None if r is None else Lot(r[0], r[1], r[2], int(r[3]), int(r[4]), r[5])


async def close_lot(conn: Any, lot_id: uuid.UUID, moved: int) -> None:
    """What was left of the lot has expired (``moved`` of it left the wallet)."""
    await conn.execute(
        "UPDATE credit_lots SET remaining = 0, expired = expired + %(moved)s WHERE id = %(id)s",
        {"moved": moved, "id": lot_id},
    )


async def expiring(conn: Any, organization_id: uuid.UUID, limit: int) -> list[tuple[int, datetime]]:
    """(credits left, expires at) of the organization's expiring grants, soonest first."""
    cursor = await conn.execute(
        "SELECT remaining, expires_at FROM credit_lots"
        " WHERE organization_id = %(org)s AND remaining > 0 ORDER BY expires_at, id"
        " LIMIT %(limit)s",
        {"org": organization_id, "limit": limit},
    )
    return [(int(r[0]), r[1]) for r in await cursor.fetchall()]


async def expired_holds(conn: Any, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(hold id, organization id) of the open holds past their timeout, oldest first."""
    cursor = await conn.execute(_EXPIRED_HOLDS, {"now": now, "limit": limit})
    return [(r[0], r[1]) for r in await cursor.fetchall()]


# --- reconciliation ----------------------------------------------------------------------------

# Each account's four totals against the sums of its transfers: posted = singles and posts;
# pending = holds not resolved yet; and the whole ledger's zero sum.
_RECONCILE: LiteralString = """
WITH moves AS (
    SELECT t.debit_account_id AS account_id,
           sum(t.amount) FILTER (WHERE t.phase IN ('single', 'post')) AS debits_posted,
           sum(t.amount) FILTER (WHERE t.phase = 'pending' AND r.id IS NULL) AS debits_pending,
           0::numeric AS credits_posted, 0::numeric AS credits_pending
    FROM credit_transfers t
    LEFT JOIN credit_transfers r ON r.pending_id = t.id AND t.phase = 'pending'
    GROUP BY t.debit_account_id
    UNION ALL
    SELECT t.credit_account_id, 0, 0,
           sum(t.amount) FILTER (WHERE t.phase IN ('single', 'post')),
           sum(t.amount) FILTER (WHERE t.phase = 'pending' AND r.id IS NULL)
    FROM credit_transfers t
    LEFT JOIN credit_transfers r ON r.pending_id = t.id AND t.phase = 'pending'
    GROUP BY t.credit_account_id
), sums AS (
    SELECT account_id, coalesce(sum(debits_posted), 0) AS dp, coalesce(sum(debits_pending), 0)
           AS dq, coalesce(sum(credits_posted), 0) AS cp, coalesce(sum(credits_pending), 0) AS cq
    FROM moves GROUP BY account_id
)
SELECT a.id, a.kind, a.organization_id, a.debits_posted, a.debits_pending, a.credits_posted,
       a.credits_pending, coalesce(s.dp, 0), coalesce(s.dq, 0), coalesce(s.cp, 0),
       coalesce(s.cq, 0)
FROM credit_accounts a LEFT JOIN sums s ON s.account_id = a.id
WHERE a.debits_posted <> coalesce(s.dp, 0) OR a.debits_pending <> coalesce(s.dq, 0)
   OR a.credits_posted <> coalesce(s.cp, 0) OR a.credits_pending <> coalesce(s.cq, 0)
ORDER BY a.id
"""

_TOTALS: LiteralString = """
SELECT count(*), coalesce(sum(credits_posted - debits_posted), 0),
       coalesce(sum(credits_pending - debits_pending), 0),
       (SELECT count(*) FROM credit_transfers)
FROM credit_accounts
"""

_OPEN_HOLDS_CHECK: LiteralString = """
SELECT count(*) FROM credit_transfers t
WHERE t.phase = 'pending'
  AND (EXISTS (SELECT 1 FROM credit_transfers r WHERE r.pending_id = t.id))
    = (EXISTS (SELECT 1 FROM credit_holds h WHERE h.transfer_id = t.id))
"""


# Expiring grants never hold more than their wallet has available (every debit draws on them
# first, under the wallet's lock).
_LOTS_CHECK: LiteralString = """
SELECT count(*) FROM (
    SELECT l.account_id, sum(l.remaining) AS remaining FROM credit_lots l
    WHERE l.remaining > 0 GROUP BY l.account_id
) x JOIN credit_accounts a ON a.id = x.account_id
WHERE x.remaining > a.credits_posted - a.debits_posted - a.debits_pending
"""


@dataclass(frozen=True)
class AccountMismatch:
    account_id: uuid.UUID
    kind: str
    organization_id: uuid.UUID | None
    stored: tuple[int, int, int, int]  # debits posted, debits pending, credits posted, pending
    summed: tuple[int, int, int, int]


@dataclass(frozen=True)
class Reconciliation:
    accounts: int
    transfers: int
    posted_sum: int  # sum over accounts of credits_posted - debits_posted: must be 0
    pending_sum: int  # sum of credits_pending - debits_pending: must be 0
    mismatches: list[AccountMismatch]
    holds_out_of_step: int  # pending transfers whose open-hold row disagrees with resolutions
    lots_over_balance: int = 0  # wallets whose expiring grants exceed their available balance

    @property
    def ok(self) -> bool:
        return (
            not self.mismatches
            and self.posted_sum == 0
            and self.pending_sum == 0
            and self.holds_out_of_step == 0
            and self.lots_over_balance == 0
        )


async def reconcile(conn: Any) -> Reconciliation:
    """Prove every account's totals equal the sums of its transfers, and the zero sums. Each
    check is one statement, so it reads one snapshot: writes running meanwhile cannot make it
    disagree with itself."""
    cursor = await conn.execute(_RECONCILE)
    mismatches = [
        AccountMismatch(
            r[0],
            r[1],
            r[2],
            (int(r[3]), int(r[4]), int(r[5]), int(r[6])),
            (int(r[7]), int(r[8]), int(r[9]), int(r[10])),
        )
        for r in await cursor.fetchall()
    ]
    cursor = await conn.execute(_TOTALS)
    total = await cursor.fetchone()
    cursor = await conn.execute(_OPEN_HOLDS_CHECK)
    out_of_step = await cursor.fetchone()
    cursor = await conn.execute(_LOTS_CHECK)
    over = await cursor.fetchone()
    assert total is not None and out_of_step is not None and over is not None
    return Reconciliation(
        accounts=int(total[0]),
        transfers=int(total[3]),
        posted_sum=int(total[1]),
        pending_sum=int(total[2]),
        mismatches=mismatches,
        holds_out_of_step=int(out_of_step[0]),
        lots_over_balance=int(over[0]),
    )


# --- packages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageRow:
    id: uuid.UUID
    name: str
    credits: int
    price_minor: int
    currency: str
    active: bool
    created_at: datetime
    updated_at: datetime
    interval: str | None = None  # a subscription plan's period; None: sold once
    grant_expires_days: int | None = None  # each grant expires after; None: never


_PACKAGE_COLUMNS = (
    "id, name, credits, price_minor, currency, active, created_at, updated_at, interval,"
    " grant_expires_days"
)


def _package(row: Sequence[Any]) -> PackageRow:
    return PackageRow(
        row[0], row[1], int(row[2]), int(row[3]), row[4], row[5], row[6], row[7], row[8],
        None if row[9] is None else int(row[9]),
    )  # fmt: skip


async def packages(conn: Any, *, active_only: bool) -> list[PackageRow]:
    cursor = await conn.execute(
        f"SELECT {_PACKAGE_COLUMNS} FROM credit_packages"  # noqa: S608 - constant columns
        " WHERE active OR NOT %(active_only)s ORDER BY credits, id",
        {"active_only": active_only},
    )
    return [_package(r) for r in await cursor.fetchall()]


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
) -> PackageRow:
    cursor = await conn.execute(
        "INSERT INTO credit_packages (id, name, credits, price_minor, currency, active,"  # noqa: S608
        " interval, grant_expires_days) VALUES (%(id)s, %(name)s, %(credits)s, %(price)s,"
        " %(currency)s, %(active)s, %(interval)s, %(expires)s)"
        f" RETURNING {_PACKAGE_COLUMNS}",
        {
            "expires": grant_expires_days,
            "id": uuid7(),
            "name": name,
            "credits": credits,
            "price": price_minor,
            "currency": currency,
            "active": active,
            "interval": interval,
        },
    )
    row = await cursor.fetchone()
    assert row is not None
    return _package(row)


async def update_package(
    conn: Any, package_id: uuid.UUID, changes: dict[str, Any]
) -> PackageRow | None:
    cursor = await conn.execute(
        "UPDATE credit_packages SET name = coalesce(%(name)s, name),"  # noqa: S608
        " credits = coalesce(%(credits)s, credits),"
        " price_minor = coalesce(%(price_minor)s, price_minor),"
        " currency = coalesce(%(currency)s, currency), active = coalesce(%(active)s, active),"
        " grant_expires_days = coalesce(%(expires)s, grant_expires_days),"
        f" updated_at = now() WHERE id = %(id)s RETURNING {_PACKAGE_COLUMNS}",
        {
            "expires": changes.get("grant_expires_days"),
            "id": package_id,
            "name": changes.get("name"),
            "credits": changes.get("credits"),
            "price_minor": changes.get("price_minor"),
            "currency": changes.get("currency"),
            "active": changes.get("active"),
        },
    )
    row = await cursor.fetchone()
    return None if row is None else _package(row)
