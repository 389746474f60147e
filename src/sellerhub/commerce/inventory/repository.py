"""Every SQL statement of the inventory.

Stock moves through ONE primitive, ``StockRepository.change``: a single statement that updates
the level under its conditions and appends the movement with the quantities after
(``WITH changed AS (UPDATE stock_levels … RETURNING …) INSERT INTO stock_movements SELECT …
FROM changed``), so a level never changes without its journal line, nor the other way round.
Other writers of stock (bulk imports, the FBA sync) either call it or write the same pair
set-based in one transaction; ``journal_mismatches`` checks that they did."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import (
    Integer,
    String,
    Uuid,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.catalog.models import Product
from sellerhub.commerce.inventory.errors import StockBusy
from sellerhub.commerce.inventory.models import (
    Location,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    StockMovement,
)
from sellerhub.core.errors import TenantScopeViolation
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import system_context, tenant_of

log = get_logger(__name__)


@dataclass(frozen=True)
class LevelChange:
    """What ``StockRepository.change`` did: the movement's id and the level after it."""

    movement_id: int
    on_hand: int
    reserved: int


def _change_statement() -> Any:
    """Built once. The level changes only when every condition holds — the row exists, the
    result keeps ``reserved <= on_hand`` and ``reserved >= 0`` (so a reservation needs
    ``on_hand - reserved >= q``) and, when ``expected`` is not negative, ``on_hand`` is still
    ``expected`` — and the movement is inserted from the updated row in the same statement.
    (Parameter names differ from column names: the ORM would read ``product_id`` as a
    bulk UPDATE by primary key and SET it.)"""
    d_on_hand = bindparam("d_on_hand", type_=Integer)
    d_reserved = bindparam("d_reserved", type_=Integer)
    expected = bindparam("expected", type_=Integer)
    org = bindparam("org", type_=Uuid)
    changed = (
        update(StockLevel)
        .where(
            StockLevel.organization_id == org,
            StockLevel.product_id == bindparam("pid", type_=Uuid),
            StockLevel.location_id == bindparam("lid", type_=Uuid),
            StockLevel.on_hand + d_on_hand >= StockLevel.reserved + d_reserved,
            StockLevel.reserved + d_reserved >= literal_column("0"),
            or_(expected < literal_column("0"), StockLevel.on_hand == expected),
        )
        .values(
            on_hand=StockLevel.on_hand + d_on_hand,
            reserved=StockLevel.reserved + d_reserved,
            updated_at=func.now(),
        )
        .returning(
            StockLevel.product_id, StockLevel.location_id, StockLevel.on_hand, StockLevel.reserved
        )
        .cte("changed")
    )
    columns = [
        "organization_id",
        "product_id",
        "location_id",
        "delta_on_hand",
        "delta_reserved",
        "on_hand_after",
        "reserved_after",
        "reason",
        "source",
        "idempotency_key",
    ]
    rows = select(
        org,
        changed.c.product_id,
        changed.c.location_id,
        d_on_hand,
        d_reserved,
        changed.c.on_hand,
        changed.c.reserved,
        bindparam("reason", type_=String),
        bindparam("source", type_=String),
        bindparam("key", type_=String),
    )
    return (
        insert(StockMovement)
        .from_select(columns, rows)
        .returning(StockMovement.id, StockMovement.on_hand_after, StockMovement.reserved_after)
        # One statement with its parameters, not the ORM's bulk INSERT of parameter rows.
        .execution_options(dml_strategy="raw")
    )


_CHANGE = _change_statement()


def _check_scope(session: AsyncSession, organization_id: uuid.UUID) -> None:
    tenant = tenant_of(session)
    if tenant is not None and tenant != organization_id:
        raise TenantScopeViolation("stock is changed only in its organization's scope")


class StockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def change(
        self,
        *,
        organization_id: uuid.UUID,
        product_id: uuid.UUID,
        location_id: uuid.UUID,
        d_on_hand: int,
        d_reserved: int,
        reason: str,
        source: str,
        idempotency_key: str | None,
        expected_on_hand: int | None = None,
    ) -> LevelChange | None:
        """THE primitive every stock change goes through: one statement that changes the
        level of (product, location) by the deltas and appends its movement. None when the
        level is missing or a condition failed (not enough available, ``expected_on_hand``
        no longer true); then nothing was written. A second movement with the same
        (idempotency key, level, reason) violates ``uq_stock_movements_idempotency`` and the
        whole statement, level included, fails (``IntegrityError``)."""
        _check_scope(self.session, organization_id)
        row = (
            await self.session.execute(
                _CHANGE,
                {
                    "org": organization_id,
                    "pid": product_id,
                    "lid": location_id,
                    "d_on_hand": d_on_hand,
                    "d_reserved": d_reserved,
                    "expected": -1 if expected_on_hand is None else expected_on_hand,
                    "reason": reason,
                    "source": source,
                    "key": idempotency_key,
                },
            )
        ).one_or_none()
        return None if row is None else LevelChange(row[0], row[1], row[2])

    async def ensure_level(
        self, organization_id: uuid.UUID, product_id: uuid.UUID, location_id: uuid.UUID
    ) -> None:
        """Create the (product, location) level at 0 / 0 if it does not exist (no movement:
        nothing moved)."""
        _check_scope(self.session, organization_id)
        await self.session.execute(
            pg_insert(StockLevel)
            .values(
                organization_id=organization_id,
                product_id=product_id,
                location_id=location_id,
                on_hand=0,
                reserved=0,
            )
            .on_conflict_do_nothing()
        )

    async def level(
        self, product_id: uuid.UUID, location_id: uuid.UUID, *, lock: bool = False
    ) -> StockLevel | None:
        stmt = select(StockLevel).where(
            StockLevel.product_id == product_id, StockLevel.location_id == location_id
        )
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt.execution_options(populate_existing=True))

    async def available(self, product_id: uuid.UUID, location_id: uuid.UUID) -> int:
        value = await self.session.scalar(
            select(StockLevel.on_hand - StockLevel.reserved).where(
                StockLevel.product_id == product_id, StockLevel.location_id == location_id
            )
        )
        return int(value or 0)

    async def movement_by_key(
        self, key: str, product_id: uuid.UUID, location_id: uuid.UUID, reason: str
    ) -> StockMovement | None:
        return await self.session.scalar(
            select(StockMovement).where(
                StockMovement.idempotency_key == key,
                StockMovement.product_id == product_id,
                StockMovement.location_id == location_id,
                StockMovement.reason == reason,
            )
        )

    async def levels_page(
        self,
        *,
        limit: int,
        after: tuple[uuid.UUID, uuid.UUID] | None,
        location_id: uuid.UUID | None,
        product_id: uuid.UUID | None,
        below: int | None,
    ) -> Sequence[tuple[StockLevel, str, str, str]]:
        """(level, sku, title, location code) by (product id, location id), ``limit + 1``
        rows; ``below``: only levels whose available quantity is under it (low stock)."""
        stmt = (
            select(StockLevel, Product.sku, Product.title, Location.code)
            .join(Product, Product.id == StockLevel.product_id)
            .join(Location, Location.id == StockLevel.location_id)
            .order_by(StockLevel.product_id, StockLevel.location_id)
            .limit(limit + 1)
        )
        if after is not None:
            stmt = stmt.where(tuple_(StockLevel.product_id, StockLevel.location_id) > after)
        if location_id is not None:
            stmt = stmt.where(StockLevel.location_id == location_id)
        if product_id is not None:
            stmt = stmt.where(StockLevel.product_id == product_id)
        if below is not None:
            stmt = stmt.where(StockLevel.on_hand - StockLevel.reserved < below)
        rows = await self.session.execute(stmt)
        return [(level, sku, title, code) for level, sku, title, code in rows]

    async def summary(self, below: int) -> tuple[int, int, int]:
        """(live products, units available over every level, levels whose available is under
        ``below``) of the session's organization, in three small scoped queries."""
        skus = await self.session.scalar(
            select(func.count(Product.id)).where(Product.archived_at.is_(None))
        )
        available = await self.session.scalar(
            select(func.coalesce(func.sum(StockLevel.on_hand - StockLevel.reserved), 0))
        )
        low = await self.session.scalar(
            select(func.count(StockLevel.product_id)).where(
                StockLevel.on_hand - StockLevel.reserved < below
            )
        )
        return int(skus or 0), int(available or 0), int(low or 0)

    async def movements_page(
        self,
        *,
        product_id: uuid.UUID,
        location_id: uuid.UUID | None,
        limit: int,
        before: int | None,
    ) -> Sequence[tuple[StockMovement, str]]:
        """A product's movements, newest first, with the location's code; ``limit + 1``."""
        stmt = (
            select(StockMovement, Location.code)
            .join(Location, Location.id == StockMovement.location_id)
            .where(StockMovement.product_id == product_id)
            .order_by(StockMovement.id.desc())
            .limit(limit + 1)
        )
        if location_id is not None:
            stmt = stmt.where(StockMovement.location_id == location_id)
        if before is not None:
            stmt = stmt.where(StockMovement.id < before)
        rows = await self.session.execute(stmt)
        return [(movement, code) for movement, code in rows]


class LocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, location: Location) -> None:
        self.session.add(location)

    async def get(self, location_id: uuid.UUID) -> Location | None:
        return await self.session.scalar(select(Location).where(Location.id == location_id))

    async def by_code(self, code: str) -> Location | None:
        return await self.session.scalar(select(Location).where(Location.code == code))

    async def codes_of(self, location_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not location_ids:
            return {}
        rows = await self.session.execute(
            select(Location.id, Location.code).where(Location.id.in_(list(location_ids)))
        )
        return {lid: code for lid, code in rows}

    async def page(
        self, *, limit: int, after: uuid.UUID | None, archived: bool
    ) -> Sequence[Location]:
        stmt = select(Location).order_by(Location.id).limit(limit + 1)
        if after is not None:
            stmt = stmt.where(Location.id > after)
        if not archived:
            stmt = stmt.where(Location.archived_at.is_(None))
        return (await self.session.execute(stmt)).scalars().all()

    async def ensure(
        self,
        organization_id: uuid.UUID,
        *,
        location_id: uuid.UUID,
        code: str,
        name: str,
        kind: str,
        connection_id: uuid.UUID | None,
    ) -> uuid.UUID:
        """The id of the location with ``code``, created with these values if it is missing
        (concurrent callers get the same row)."""
        _check_scope(self.session, organization_id)
        await self.session.execute(
            pg_insert(Location)
            .values(
                id=location_id,
                organization_id=organization_id,
                code=code,
                name=name,
                kind=kind,
                connection_id=connection_id,
            )
            .on_conflict_do_nothing(index_elements=["organization_id", "code"])
        )
        found = await self.session.scalar(select(Location.id).where(Location.code == code))
        assert found is not None
        return found


async def resolve_lines(
    session: AsyncSession, skus: Collection[str], codes: Collection[str]
) -> tuple[dict[str, uuid.UUID], dict[str, uuid.UUID]]:
    """SKU → product id (live products) and code → location id (live locations) of the
    session's organization (two scoped queries: ``db.tenancy`` refuses a UNION over tenant
    tables, whose arms its criteria do not reach)."""
    products = await session.execute(
        select(Product.sku, Product.id).where(
            Product.sku.in_(list(skus)), Product.archived_at.is_(None)
        )
    )
    locations = await session.execute(
        select(Location.code, Location.id).where(
            Location.code.in_(list(codes)), Location.archived_at.is_(None)
        )
    )
    return (
        {sku: product_id for sku, product_id in products},
        {code: location_id for code, location_id in locations},
    )


class ReservationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(
        self,
        organization_id: uuid.UUID,
        *,
        reservation_id: uuid.UUID,
        key: str,
        request_hash: str,
        source: str,
        expires_at: datetime | None,
        status: ReservationStatus = ReservationStatus.ACTIVE,
    ) -> tuple[datetime, datetime] | None:
        """Insert the reservation unless its idempotency key exists (then None: the caller
        reads the existing one). A concurrent insert with the same key waits for the first
        to commit, then finds it."""
        _check_scope(self.session, organization_id)
        row = (
            await self.session.execute(
                pg_insert(Reservation)
                .values(
                    id=reservation_id,
                    organization_id=organization_id,
                    idempotency_key=key,
                    request_hash=request_hash,
                    status=status.value,
                    source=source,
                    expires_at=expires_at,
                )
                .on_conflict_do_nothing(index_elements=["organization_id", "idempotency_key"])
                .returning(Reservation.created_at, Reservation.updated_at)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def insert_lines(self, organization_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
        _check_scope(self.session, organization_id)
        if rows:
            await self.session.execute(
                insert(ReservationLine), [{"organization_id": organization_id, **r} for r in rows]
            )

    async def get(self, reservation_id: uuid.UUID) -> Reservation | None:
        return await self.session.scalar(
            select(Reservation)
            .where(Reservation.id == reservation_id)
            .execution_options(populate_existing=True)
        )

    async def by_key(self, key: str) -> Reservation | None:
        return await self.session.scalar(
            select(Reservation)
            .where(Reservation.idempotency_key == key)
            .execution_options(populate_existing=True)
        )

    async def lines(self, reservation_id: uuid.UUID) -> Sequence[ReservationLine]:
        """In the fixed lock order: by product id, then location id."""
        return (
            await self.session.scalars(
                select(ReservationLine)
                .where(ReservationLine.reservation_id == reservation_id)
                .order_by(ReservationLine.product_id, ReservationLine.location_id)
            )
        ).all()

    async def transition(
        self,
        organization_id: uuid.UUID,
        reservation_id: uuid.UUID,
        to: ReservationStatus,
    ) -> bool:
        """Active → ``to``, once: True for the one caller that moved it (the row lock makes a
        concurrent second caller wait, then find it no longer active)."""
        _check_scope(self.session, organization_id)
        row = (
            await self.session.execute(
                update(Reservation)
                .where(
                    Reservation.organization_id == organization_id,
                    Reservation.id == reservation_id,
                    Reservation.status == ReservationStatus.ACTIVE.value,
                )
                .values(status=to.value, updated_at=func.now())
                .returning(Reservation.id)
                .execution_options(synchronize_session=False)
            )
        ).one_or_none()
        return row is not None

    async def due(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(organization id, reservation id) of active reservations past their expiry, any
        organization; rows another expiry run holds are skipped."""
        stmt = (
            select(Reservation.organization_id, Reservation.id)
            .where(
                Reservation.status == ReservationStatus.ACTIVE.value,
                Reservation.expires_at < now,
            )
            .order_by(Reservation.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with system_context(self.session, "inventory: expire reservations past their time"):
            rows = (await self.session.execute(stmt)).all()
        return [(org, rid) for org, rid in rows]


# The journal replayed against the levels. Per level: the sum of the movements' deltas must
# equal the level, and so must the last movement's quantities after; each movement's "after"
# must be the previous one's plus its delta (the chain is unbroken).
_VERIFY_SQL = """
WITH moves AS (
    SELECT organization_id, product_id, location_id, id, delta_on_hand, delta_reserved,
           on_hand_after, reserved_after,
           lag(on_hand_after, 1, 0) OVER w AS prev_on_hand,
           lag(reserved_after, 1, 0) OVER w AS prev_reserved,
           row_number() OVER (PARTITION BY organization_id, product_id, location_id
                              ORDER BY id DESC) AS from_end
    FROM stock_movements
    WHERE CAST(:org AS uuid) IS NULL OR organization_id = CAST(:org AS uuid)
    WINDOW w AS (PARTITION BY organization_id, product_id, location_id ORDER BY id)
),
journal AS (
    SELECT organization_id, product_id, location_id,
           sum(delta_on_hand) AS on_hand, sum(delta_reserved) AS reserved,
           max(on_hand_after) FILTER (WHERE from_end = 1) AS last_on_hand,
           max(reserved_after) FILTER (WHERE from_end = 1) AS last_reserved,
           min(id) FILTER (WHERE prev_on_hand + delta_on_hand <> on_hand_after
                            OR prev_reserved + delta_reserved <> reserved_after) AS broken_at
    FROM moves GROUP BY organization_id, product_id, location_id
),
levels AS (
    SELECT organization_id, product_id, location_id, on_hand, reserved FROM stock_levels
    WHERE CAST(:org AS uuid) IS NULL OR organization_id = CAST(:org AS uuid)
)
SELECT coalesce(l.organization_id, j.organization_id) AS organization_id,
       coalesce(l.product_id, j.product_id) AS product_id,
       coalesce(l.location_id, j.location_id) AS location_id,
       p.sku, loc.code AS location,
       l.on_hand AS level_on_hand, l.reserved AS level_reserved,
       j.on_hand AS journal_on_hand, j.reserved AS journal_reserved,
       j.last_on_hand, j.last_reserved, j.broken_at
FROM levels l
FULL JOIN journal j USING (organization_id, product_id, location_id)
LEFT JOIN products p ON p.id = coalesce(l.product_id, j.product_id)
LEFT JOIN locations loc ON loc.id = coalesce(l.location_id, j.location_id)
WHERE coalesce(l.on_hand, 0) <> coalesce(j.on_hand, 0)
   OR coalesce(l.reserved, 0) <> coalesce(j.reserved, 0)
   OR (j.last_on_hand IS NOT NULL AND (j.last_on_hand <> coalesce(l.on_hand, 0)
                                       OR j.last_reserved <> coalesce(l.reserved, 0)))
   OR j.broken_at IS NOT NULL
ORDER BY 1, 4, 5
"""


async def journal_mismatches(
    session: AsyncSession, organization_id: uuid.UUID | None
) -> list[dict[str, Any]]:
    """Every level the journal does not explain (one organization, or all): a system read,
    since the check is the operator's (``sellerhub inventory verify``) or a periodic job's."""
    with system_context(session, "inventory: replay the journal against the levels"):
        rows = await session.execute(text(_VERIFY_SQL), {"org": organization_id})
    return [dict(row._mapping) for row in rows]


# --- reservations in batches ----------------------------------------------------------------
#
# A reservation is taken by the function ``inventory_reserve_batch`` (migration
# 2026_12_01_reserve_batch), one call for many reservations: it locks every level the batch
# names in the fixed order (product id, then location id: ``ORDER BY … FOR UPDATE``, so a batch
# never waits on another writer crosswise), then takes the reservations one by one, each in its
# own subtransaction (an error undoes that reservation alone): a key already used answers the
# reservation it names; a line naming a missing or archived SKU or location, or one short of
# stock (tested on the locked rows), refuses the reservation and writes nothing; else the
# reservation is inserted (``ON CONFLICT`` on its key: a concurrent request with the same key
# waits for it), each line applied by its conditional ``UPDATE … WHERE on_hand - reserved >=
# q`` and the lines and the movements appended. Every statement of the function takes a fresh
# snapshot, so it tests and changes the latest version of the levels it holds locked. Each
# reservation is bound to its organization (the principal's, or the session's tenant), which
# every statement in the function filters on.
#
# On the HTTP hot path ``ReservationWriter`` gathers the reservations that arrive while earlier
# ones are being written into one call on an autocommit connection: one round trip and ONE
# commit for the batch, every caller answered after it (the ingress ``InboxWriter`` pattern).
# On one hot level the batch holds the level's lock once for all its reservations, where one
# statement per reservation held it through each one's commit.
RESERVE_BATCH_SQL = (
    "SELECT * FROM inventory_reserve_batch(%s::uuid[], %s::uuid[], %s::text[], %s::text[],"
    " %s::text[], %s::timestamptz[], %s::int[], %s::text[], %s::text[], %s::int[], %s::uuid[])"
)

# A reservation as it was made, by its key: the reservation's columns with each line's SKU,
# location code and quantity, in the order they were asked (line ids are UUIDv7s made in that
# order): what a replay answers.
RESERVATION_BY_KEY_SQL = """
SELECT r.id, r.request_hash, r.status, r.source, r.expires_at, r.created_at, r.updated_at,
       p.sku, l.code, rl.quantity
FROM reservations r
LEFT JOIN reservation_lines rl
       ON rl.organization_id = %(organization_id)s AND rl.reservation_id = r.id
LEFT JOIN products p ON p.organization_id = %(organization_id)s AND p.id = rl.product_id
LEFT JOIN locations l ON l.organization_id = %(organization_id)s AND l.id = rl.location_id
WHERE r.organization_id = %(organization_id)s AND r.idempotency_key = %(key)s
ORDER BY rl.id
"""

# Attempts of a reservation undone by an error worth retrying (its levels changed under it, a
# deadlock, a serialization failure), each alone, before the caller is answered 503.
RESERVE_ATTEMPTS = 8
RETRYABLE = frozenset({"P0001", "40P01", "40001", "55P03"})
# Reservations per call. Each one that writes is a subtransaction with its own transaction id;
# PostgreSQL caches 64 of them per backend, beyond which every other backend's snapshot checks
# of this transaction go through pg_subtrans.
MAX_BATCH = 64
# Calls running side by side (an idle server writes a reservation at once; a busy one forms
# batches by itself while these run).
MAX_IN_FLIGHT = 2


class ReservationFailed(RuntimeError):
    """The database undid one reservation for a reason that retrying will not cure (its
    SQLSTATE is logged); nothing of it was written."""


@dataclass(frozen=True)
class ReserveRequest:
    """One reservation to take, bound to its organization by the caller (the principal's, or
    the session's tenant): lines are (SKU, location code, quantity) as asked."""

    organization_id: uuid.UUID
    reservation_id: uuid.UUID
    key: str
    request_hash: str
    source: str
    expires_at: datetime | None
    lines: tuple[tuple[str, str, int], ...]
    line_ids: tuple[uuid.UUID, ...]


@dataclass(frozen=True)
class ReserveOutcome:
    """What the function did with one reservation. ``made`` (created_at, updated_at) when the
    reservation was inserted with all its lines; else the first reason it was not, in this
    order: ``existing_hash`` (the key was taken before), ``unusable`` (the first line naming a
    missing or archived SKU or location), ``short`` (the first line in the lock order that does
    not fit: SKU, code, available). None of them: the key was taken by a concurrent request
    while this one waited (read it again). ``failed``: the SQLSTATE of an error that undid it."""

    made: tuple[datetime, datetime] | None
    existing_hash: str | None
    unusable: tuple[str, str, bool, bool, bool, bool] | None
    short: tuple[str, str, int] | None
    failed: str | None = None


def _batch_params(requests: Sequence[ReserveRequest]) -> list[Any]:
    items: list[int] = []
    skus: list[str] = []
    codes: list[str] = []
    quantities: list[int] = []
    line_ids: list[uuid.UUID] = []
    for n, request in enumerate(requests, start=1):
        for (sku, code, quantity), line_id in zip(request.lines, request.line_ids, strict=True):
            items.append(n)
            skus.append(sku)
            codes.append(code)
            quantities.append(quantity)
            line_ids.append(line_id)
    return [
        [r.organization_id for r in requests],
        [r.reservation_id for r in requests],
        [r.key for r in requests],
        [r.request_hash for r in requests],
        [r.source for r in requests],
        [r.expires_at for r in requests],
        items,
        skus,
        codes,
        quantities,
        line_ids,
    ]


def _outcome(row: Sequence[Any]) -> ReserveOutcome:
    return ReserveOutcome(
        made=None if row[1] is None else (row[1], row[2]),
        existing_hash=row[3],
        unusable=None if row[4] is None else (row[4], row[5], *row[6:10]),
        short=None if row[10] is None else (row[10], row[11], int(row[12])),
        failed=row[13],
    )


async def reserve_batch(conn: Any, requests: Sequence[ReserveRequest]) -> list[ReserveOutcome]:
    """One call of ``inventory_reserve_batch``: an outcome per request, in their order. On an
    autocommit connection the call is one transaction: committed when this returns."""
    cursor = await conn.execute(RESERVE_BATCH_SQL, _batch_params(requests), prepare=True)
    rows = await cursor.fetchall()
    if len(rows) != len(requests):  # the function answers every reservation it was given
        raise RuntimeError("the reservation batch answered another number of rows")
    return [_outcome(row) for row in rows]


def _settled(outcome: ReserveOutcome, attempt: int) -> ReserveOutcome | None:
    """The outcome to answer, or None to try the reservation again."""
    if outcome.failed is None:
        return outcome
    if outcome.failed in RETRYABLE:
        log.info("inventory.reserve_retried", attempt=attempt, sqlstate=outcome.failed)
        if attempt < RESERVE_ATTEMPTS:
            return None
        raise StockBusy("the stock changed while it was reserved; retry")
    log.error("inventory.reserve_failed", sqlstate=outcome.failed)
    raise ReservationFailed(f"the reservation was undone by the database ({outcome.failed})")


async def reserve_alone(conn: Any, request: ReserveRequest) -> ReserveOutcome:
    """One reservation in a call of its own (retried while the database undoes it for a reason
    worth retrying): a channel order's, on the session's connection inside its transaction, or
    one that failed in a batch."""
    for attempt in range(1, RESERVE_ATTEMPTS + 1):
        (outcome,) = await reserve_batch(conn, [request])
        settled = _settled(outcome, attempt)
        if settled is not None:
            return settled
    raise AssertionError("unreachable: the last attempt settles or raises")


Waiter = tuple[ReserveRequest, "asyncio.Future[ReserveOutcome]"]


class ReservationWriter:
    """Group commit for the reservation route. Each caller waits for the commit of the call
    that carries its reservation, so its answer still follows the commit; but reservations that
    arrive while earlier ones are being written share one call and one commit. A reservation
    the function undid is tried again alone, once the others are answered (and again while its
    error is worth retrying: ``reserve_alone``); if the whole call fails (the database
    unreachable: every caller gets the error; anything else: each reservation is tried
    alone), no caller waits forever."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.waiting: list[Waiter] = []
        # The flush tasks running now (the event loop keeps only weak references to tasks).
        self.flushing: set[asyncio.Task[None]] = set()

    async def reserve(self, request: ReserveRequest) -> ReserveOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ReserveOutcome] = loop.create_future()
        self.waiting.append((request, future))
        if len(self.flushing) < MAX_IN_FLIGHT:
            flush = loop.create_task(self._flush())
            self.flushing.add(flush)
            flush.add_done_callback(self._flushed)
        return await asyncio.shield(future)  # a client hanging up does not cancel the write

    def _flushed(self, flush: asyncio.Task[None]) -> None:
        self.flushing.discard(flush)
        if not flush.cancelled() and (exc := flush.exception()) is not None:  # retrieved
            log.error("inventory.reserve_flush_failed", error=type(exc).__name__)

    async def _flush(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:MAX_BATCH], self.waiting[MAX_BATCH:]
            try:
                await self._write(batch)
            except asyncio.CancelledError:  # shutting down: its callers stop waiting too
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # ``_write`` settles what it can; no caller waits forever
                log.error("inventory.reserve_write_failed", error=type(exc).__name__)
                for _, future in batch:
                    _settle(future, exc)

    async def _write(self, batch: list[Waiter]) -> None:
        try:
            async with self.pool.connection() as conn:
                outcomes = await reserve_batch(conn, [request for request, _ in batch])
        except psycopg.OperationalError as exc:  # the database is unreachable: all fail
            for _, future in batch:
                _settle(future, exc)
            return
        except psycopg.Error:  # the call itself failed (nothing of it was kept): one by one
            outcomes = [ReserveOutcome(None, None, None, None, "call") for _ in batch]
        again: list[Waiter] = []
        for (request, future), outcome in zip(batch, outcomes, strict=True):
            if outcome.failed is None:
                _settle(future, outcome)
            else:
                again.append((request, future))
        for request, future in again:  # after the others are answered
            try:
                async with self.pool.connection() as conn:
                    _settle(future, await reserve_alone(conn, request))
            except Exception as exc:
                _settle(future, exc)


def _settle(future: asyncio.Future[ReserveOutcome], outcome: ReserveOutcome | Exception) -> None:
    if future.done():
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


_writers: weakref.WeakKeyDictionary[AsyncConnectionPool, ReservationWriter] = (
    weakref.WeakKeyDictionary()
)


def writer_of(pool: AsyncConnectionPool) -> ReservationWriter:
    """The pool's reservation writer (one per pool, so per process)."""
    writer = _writers.get(pool)
    if writer is None:
        writer = _writers[pool] = ReservationWriter(pool)
    return writer


@dataclass(frozen=True)
class StoredReservation:
    id: uuid.UUID
    request_hash: str
    status: str
    source: str
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    lines: list[tuple[str, str, int]]  # (sku, location code, quantity), as they were asked


class TenantStock:
    """Reservations of one organization: on the session's own connection inside its
    transaction (``conn``: a channel order's, one call of its own), or through the pool's
    group-committing writer (``pool``: the HTTP hot path). The caller passes the principal's
    or the session's tenant, and the statements take the organization from here only."""

    def __init__(
        self,
        organization_id: uuid.UUID,
        *,
        conn: Any = None,
        pool: AsyncConnectionPool | None = None,
    ) -> None:
        if (conn is None) == (pool is None):
            raise ValueError("a connection or a pool, one of them")
        self.organization_id = organization_id
        self.conn = conn
        self.pool = pool

    async def reserve(
        self,
        *,
        reservation_id: uuid.UUID,
        key: str,
        request_hash: str,
        source: str,
        expires_at: datetime | None,
        lines: Sequence[tuple[str, str, int]],
        line_ids: Sequence[uuid.UUID],
    ) -> ReserveOutcome:
        request = ReserveRequest(
            organization_id=self.organization_id,
            reservation_id=reservation_id,
            key=key,
            request_hash=request_hash,
            source=source,
            expires_at=expires_at,
            lines=tuple(lines),
            line_ids=tuple(line_ids),
        )
        if self.pool is not None:
            return await writer_of(self.pool).reserve(request)
        return await reserve_alone(self.conn, request)

    async def by_key(self, key: str) -> StoredReservation | None:
        params = {"organization_id": self.organization_id, "key": key}
        if self.pool is not None:
            async with self.pool.connection() as conn:
                cursor = await conn.execute(RESERVATION_BY_KEY_SQL, params, prepare=True)
                rows = await cursor.fetchall()
        else:
            cursor = await self.conn.execute(RESERVATION_BY_KEY_SQL, params, prepare=True)
            rows = await cursor.fetchall()
        if not rows:
            return None
        first = rows[0]
        return StoredReservation(
            id=first[0],
            request_hash=first[1],
            status=first[2],
            source=first[3],
            expires_at=first[4],
            created_at=first[5],
            updated_at=first[6],
            lines=[(r[7], r[8], r[9]) for r in rows if r[9] is not None],
        )


# The dashboard's stock card in one read-only round trip: live products, units available over
# every level, and levels whose available quantity is under the threshold.
_SUMMARY_SQL: LiteralString = (
    "SELECT json_build_array("
    " (SELECT count(*) FROM products WHERE organization_id = %(organization_id)s"
    " AND archived_at IS NULL),"
    " (SELECT coalesce(sum(on_hand - reserved), 0) FROM stock_levels"
    " WHERE organization_id = %(organization_id)s),"
    " (SELECT count(*) FROM stock_levels WHERE organization_id = %(organization_id)s"
    " AND on_hand - reserved < %(below)s))"
)


def _summary(found: list[int]) -> tuple[int, int, int]:
    skus, units, low = found
    return int(skus), int(units), int(low)


def summary_read(below: int) -> Read[tuple[int, int, int]]:
    """(live products, units available, low levels) of the reader's organization."""
    return Read(_SUMMARY_SQL, {"below": below}, _summary)
