"""Stock that never oversells.

Levels per (product, location) hold ``on_hand`` and ``reserved``; PostgreSQL's CHECKs keep
``0 <= reserved <= on_hand`` whoever writes. Every change goes through ``change_level`` (one
statement: the conditional level update and its journal line), so the journal replayed equals
the levels (``verify``). Reservations take their lines all or none, each line one conditional
``UPDATE … WHERE on_hand - reserved >= q`` in a fixed order (by product id, then location id:
two reservations never wait on each other crosswise, so no deadlock); commit (the units ship:
on_hand and reserved both drop), release and expiry happen once each, journaled.

For other writers of stock (bulk imports, the FBA sync): call ``change_level`` per level, or
write the level and its movement set-based in the same transaction with the same columns
(delta, reason, source, idempotency key, quantities after) — ``verify`` will tell."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import timedelta

from psycopg_pool import AsyncConnectionPool
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.catalog import service as catalog
from sellerhub.commerce.inventory import repository
from sellerhub.commerce.inventory.errors import (
    Archived,
    BelowReserved,
    IdempotencyKeyReused,
    InsufficientStock,
    LocationCodeTaken,
    QuantityChanged,
    ReservationClosed,
)
from sellerhub.commerce.inventory.models import (
    Location,
    LocationKind,
    Reservation,
    ReservationStatus,
)
from sellerhub.commerce.inventory.repository import (
    LevelChange,
    LocationRepository,
    ReservationRepository,
    StockRepository,
    StoredReservation,
    TenantStock,
    journal_mismatches,
    resolve_lines,
)
from sellerhub.commerce.inventory.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    LevelOut,
    LocationIn,
    LocationOut,
    LocationUpdate,
    Mismatch,
    MovementOut,
    ReservationIn,
    ReservationLineOut,
    ReservationOut,
)
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.core.ids import uuid7
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import system_context, tenant_of

log = get_logger(__name__)

# Movement reasons written here (imports and the FBA sync add their own).
ADJUST = "adjust"
RESERVE = "reserve"
COMMIT = "commit"
RELEASE = "release"
EXPIRE = "expire"
SHIP = "ship"  # an order shipped without a reservation before it (see flows)


def _tenant(session: AsyncSession) -> uuid.UUID:
    organization_id = tenant_of(session)
    if organization_id is None:  # the endpoints' sessions are always scoped
        raise NotFound("no organization")
    return organization_id


# --- the primitive -------------------------------------------------------------------------


async def change_level(
    session: AsyncSession,
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
    """Change one level by the deltas and journal it, in one statement (see
    ``StockRepository.change``); None when the level is missing or the result would break a
    rule (available below zero, reserved below zero) or ``expected_on_hand`` no longer holds —
    nothing is written then. The caller's transaction commits it. Reuse this for every stock
    change (imports, syncs): the journal must explain every level."""
    return await StockRepository(session).change(
        organization_id=organization_id,
        product_id=product_id,
        location_id=location_id,
        d_on_hand=d_on_hand,
        d_reserved=d_reserved,
        reason=reason,
        source=source,
        idempotency_key=idempotency_key,
        expected_on_hand=expected_on_hand,
    )


async def ensure_level(
    session: AsyncSession, organization_id: uuid.UUID, product_id: uuid.UUID, location_id: uuid.UUID
) -> None:
    """Create the level at 0 / 0 when it does not exist yet (before a first receipt)."""
    await StockRepository(session).ensure_level(organization_id, product_id, location_id)


# --- locations -----------------------------------------------------------------------------


def describe_location(location: Location) -> LocationOut:
    return LocationOut(
        id=location.id,
        code=location.code,
        name=location.name,
        kind=location.kind,
        marketplace_id=location.marketplace_id,
        connection_id=location.connection_id,
        archived_at=location.archived_at,
        created_at=location.created_at,
        updated_at=location.updated_at,
    )


async def get_location(session: AsyncSession, location_id: uuid.UUID) -> Location:
    location = await LocationRepository(session).get(location_id)
    if location is None:
        raise NotFound("no such location")
    return location


async def location_by_code(session: AsyncSession, code: str) -> Location:
    location = await LocationRepository(session).by_code(code)
    if location is None:
        raise NotFound(f"no location has the code {code!r}")
    return location


async def locations_page(
    session: AsyncSession, *, limit: int, after: uuid.UUID | None, archived: bool
) -> tuple[list[LocationOut], uuid.UUID | None]:
    rows = list(await LocationRepository(session).page(limit=limit, after=after, archived=archived))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return [describe_location(r) for r in rows[:limit]], next_cursor


async def create_location(session: AsyncSession, body: LocationIn) -> LocationOut:
    organization_id = _tenant(session)
    repo = LocationRepository(session)
    if await repo.by_code(body.code) is not None:
        raise LocationCodeTaken(f"another location already has the code {body.code!r}")
    if body.kind == "fba" and not body.marketplace_id:
        raise ValidationFailed("an FBA location names its marketplace_id")
    location = Location(
        organization_id=organization_id,
        code=body.code,
        name=body.name,
        kind=LocationKind(body.kind),
        marketplace_id=body.marketplace_id,
        connection_id=body.connection_id,
    )
    location.ensure_id()
    repo.add(location)
    try:
        await session.flush()
    except IntegrityError:
        raise LocationCodeTaken(f"another location already has the code {body.code!r}") from None
    await session.refresh(location)
    return describe_location(location)


async def update_location(
    session: AsyncSession, location_id: uuid.UUID, body: LocationUpdate
) -> LocationOut:
    location = await get_location(session, location_id)
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        location.name = changes["name"] or ""
    if "marketplace_id" in changes:
        location.marketplace_id = changes["marketplace_id"]
    await session.flush()
    await session.refresh(location)
    return describe_location(location)


async def archive_location(session: AsyncSession, location_id: uuid.UUID) -> LocationOut:
    """An archived location keeps its levels and history, and takes no new reservations or
    adjustments. Archiving again changes nothing."""
    location = await get_location(session, location_id)
    if location.archived_at is None:
        location.archived_at = utcnow()
        await session.flush()
        await session.refresh(location)
    return describe_location(location)


def channel_location_code(connection_id: uuid.UUID) -> str:
    """The code of a store's own location (one per channel connection)."""
    return f"channel-{connection_id}"


async def channel_location(
    session: AsyncSession, organization_id: uuid.UUID, channel: str, connection_id: uuid.UUID
) -> uuid.UUID:
    """The id of the store's channel location, created on first use: the stock a store's
    orders reserve, commit and release."""
    return await LocationRepository(session).ensure(
        organization_id,
        location_id=uuid7(),
        code=channel_location_code(connection_id),
        name=f"{channel} store",
        kind=LocationKind.CHANNEL.value,
        connection_id=connection_id,
    )


# --- reads ---------------------------------------------------------------------------------


def _levels_after(cursor: str | None) -> tuple[uuid.UUID, uuid.UUID] | None:
    if cursor is None:
        return None
    product, _, location = cursor.partition(".")
    try:
        return uuid.UUID(product), uuid.UUID(location)
    except ValueError:
        raise ValidationFailed("cursor is not a next_cursor of this list") from None


async def levels_page(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None,
    location: str | None,
    sku: str | None,
    product_id: uuid.UUID | None,
    below: int | None,
) -> tuple[list[LevelOut], str | None]:
    """Levels by (product, location), cursor-paged; filters: a location's code, a SKU or a
    product id, and ``below`` (available under it: low stock)."""
    location_id = None if location is None else (await location_by_code(session, location)).id
    if sku is not None:
        found = (await catalog.by_sku(session, sku)).id
        if product_id is not None and product_id != found:
            return [], None
        product_id = found
    elif product_id is not None:
        await catalog.get(session, product_id)
    rows = list(
        await StockRepository(session).levels_page(
            limit=limit,
            after=_levels_after(cursor),
            location_id=location_id,
            product_id=product_id,
            below=below,
        )
    )
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1][0]
        next_cursor = f"{last.product_id}.{last.location_id}"
    items = [
        LevelOut(
            product_id=level.product_id,
            sku=sku_,
            title=title,
            location_id=level.location_id,
            location=code,
            on_hand=level.on_hand,
            reserved=level.reserved,
            available=level.on_hand - level.reserved,
            updated_at=level.updated_at,
        )
        for level, sku_, title, code in rows[:limit]
    ]
    return items, next_cursor


async def summary(session: AsyncSession, *, below: int) -> tuple[int, int, int]:
    """The organization's stock at a glance: (live SKUs, units available, levels with fewer
    than ``below`` available)."""
    return await StockRepository(session).summary(below)


def summary_read(*, below: int) -> Read[tuple[int, int, int]]:
    """``summary`` as a read for ``TenantReader`` (no ORM session), for the dashboard."""
    return repository.summary_read(below)


async def movements_page(
    session: AsyncSession, *, sku: str, location: str | None, limit: int, before: int | None
) -> tuple[list[MovementOut], int | None]:
    product = await catalog.by_sku(session, sku)
    location_id = None if location is None else (await location_by_code(session, location)).id
    rows = list(
        await StockRepository(session).movements_page(
            product_id=product.id, location_id=location_id, limit=limit, before=before
        )
    )
    next_cursor = rows[limit - 1][0].id if len(rows) > limit else None
    items = [
        MovementOut(
            id=m.id,
            sku=product.sku,
            location=code,
            delta_on_hand=m.delta_on_hand,
            delta_reserved=m.delta_reserved,
            on_hand_after=m.on_hand_after,
            reserved_after=m.reserved_after,
            reason=m.reason,
            source=m.source,
            idempotency_key=m.idempotency_key,
            created_at=m.created_at,
        )
        for m, code in rows[:limit]
    ]
    return items, next_cursor


# --- adjustments ---------------------------------------------------------------------------


async def _resolve_one(session: AsyncSession, sku: str, code: str) -> tuple[uuid.UUID, uuid.UUID]:
    products, locations = await resolve_lines(session, [sku], [code])
    if sku not in products:
        await catalog.by_sku(session, sku)  # 404 in words; or archived:
        raise Archived(f"the product with the SKU {sku!r} is archived")
    if code not in locations:
        await location_by_code(session, code)
        raise Archived(f"the location {code!r} is archived")
    return products[sku], locations[code]


async def adjust(
    session: AsyncSession, body: AdjustmentIn, *, source: str = "api"
) -> AdjustmentOut:
    """Set or change ``on_hand`` of (SKU, location), optionally only while it is still
    ``expected_on_hand`` (compare-and-set: 409 ``quantity-changed`` otherwise). On hand never
    drops below what is reserved (409 ``below-reserved``). The same idempotency key answers
    the movement it wrote the first time."""
    organization_id = _tenant(session)
    product_id, location_id = await _resolve_one(session, body.sku, body.location)
    stock = StockRepository(session)
    previous = await stock.movement_by_key(body.idempotency_key, product_id, location_id, ADJUST)
    if previous is not None:
        return _replayed(
            body,
            previous.id,
            previous.delta_on_hand,
            previous.on_hand_after,
            previous.reserved_after,
        )
    if body.mode == "set" and body.quantity < 0:
        raise ValidationFailed("a quantity to set must not be negative")
    await stock.ensure_level(organization_id, product_id, location_id)
    level = await stock.level(product_id, location_id, lock=True)  # held to the commit
    assert level is not None
    if body.expected_on_hand is not None and level.on_hand != body.expected_on_hand:
        raise QuantityChanged(
            f"{body.sku} at {body.location} has {level.on_hand} on hand now, not "
            f"{body.expected_on_hand}: read it again and retry",
            on_hand=level.on_hand,
        )
    delta = body.quantity - level.on_hand if body.mode == "set" else body.quantity
    target = level.on_hand + delta
    if target < level.reserved:
        raise BelowReserved(
            f"{body.sku} at {body.location} has {level.reserved} units reserved; on hand "
            f"cannot become {target}" + (" (below zero)" if target < 0 else ""),
            reserved=level.reserved,
            on_hand=level.on_hand,
        )
    try:
        async with session.begin_nested():
            changed = await stock.change(
                organization_id=organization_id,
                product_id=product_id,
                location_id=location_id,
                d_on_hand=delta,
                d_reserved=0,
                reason=ADJUST,
                source=source,
                idempotency_key=body.idempotency_key,
                expected_on_hand=level.on_hand,
            )
    except IntegrityError:  # the same key applied by a concurrent request that committed
        previous = await stock.movement_by_key(
            body.idempotency_key, product_id, location_id, ADJUST
        )
        if previous is None:
            raise
        return _replayed(
            body,
            previous.id,
            previous.delta_on_hand,
            previous.on_hand_after,
            previous.reserved_after,
        )
    if changed is None:  # the row is locked by us: only a broken rule can refuse it
        raise QuantityChanged(f"{body.sku} at {body.location} changed; read it again")
    return AdjustmentOut(
        sku=body.sku,
        location=body.location,
        on_hand=changed.on_hand,
        reserved=changed.reserved,
        available=changed.on_hand - changed.reserved,
        delta_on_hand=delta,
        movement_id=changed.movement_id,
        replayed=False,
    )


def _replayed(
    body: AdjustmentIn, movement_id: int, delta: int, on_hand: int, reserved: int
) -> AdjustmentOut:
    same = on_hand == body.quantity if body.mode == "set" else delta == body.quantity
    if not same:
        raise IdempotencyKeyReused(
            f"the idempotency key {body.idempotency_key!r} was used for another adjustment "
            f"of {body.sku} at {body.location}"
        )
    return AdjustmentOut(
        sku=body.sku,
        location=body.location,
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
        delta_on_hand=delta,
        movement_id=movement_id,
        replayed=True,
    )


# --- reservations --------------------------------------------------------------------------


def request_hash(lines: Sequence[tuple[str, str, int]]) -> str:
    """What the idempotency key stands for: the lines (SKU, location, quantity), order-free."""
    canonical = json.dumps(sorted(lines), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def describe_reservation(session: AsyncSession, reservation: Reservation) -> ReservationOut:
    lines = await ReservationRepository(session).lines(reservation.id)
    skus = await catalog.skus_of(session, {line.product_id for line in lines})
    codes = await LocationRepository(session).codes_of({line.location_id for line in lines})
    return ReservationOut(
        id=reservation.id,
        idempotency_key=reservation.idempotency_key,
        status=reservation.status,
        source=reservation.source,
        expires_at=reservation.expires_at,
        created_at=reservation.created_at,
        updated_at=reservation.updated_at,
        lines=[
            ReservationLineOut(
                sku=skus.get(line.product_id, ""),
                location=codes.get(line.location_id, ""),
                quantity=line.quantity,
            )
            for line in lines
        ],
    )


async def get_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> Reservation:
    reservation = await ReservationRepository(session).get(reservation_id)
    if reservation is None:
        raise NotFound("no such reservation")
    return reservation


def _stored_out(found: StoredReservation, key: str, digest: str) -> ReservationOut:
    if found.request_hash != digest:
        raise IdempotencyKeyReused(
            f"the idempotency key {key!r} names a reservation with other lines"
        )
    return ReservationOut(
        id=found.id,
        idempotency_key=key,
        status=found.status,
        source=found.source,
        expires_at=found.expires_at,
        created_at=found.created_at,
        updated_at=found.updated_at,
        lines=[ReservationLineOut(sku=s, location=c, quantity=q) for s, c, q in found.lines],
    )


async def _session_stock(session: AsyncSession) -> TenantStock:
    """The reservation statements on the session's own connection, inside its transaction
    (and savepoint), bound to the session's tenant."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return TenantStock(_tenant(session), conn=raw.driver_connection)


async def reserve(
    session: AsyncSession, body: ReservationIn, *, source: str = "api"
) -> tuple[ReservationOut, bool]:
    """Reserve every line or none, in the session's transaction (``reserve_lines``). The
    session's caller commits."""
    return await reserve_lines(await _session_stock(session), body, source=source)


async def reserve_now(
    pool: AsyncConnectionPool, organization_id: uuid.UUID, body: ReservationIn, *, source: str
) -> tuple[ReservationOut, bool]:
    """``reserve_lines`` through the pool's group-committing writer: the reservation is
    committed, with those that arrived beside it, when this returns (the HTTP route).
    ``organization_id`` is the authenticated caller's."""
    return await reserve_lines(TenantStock(organization_id, pool=pool), body, source=source)


async def reserve_lines(
    stock: TenantStock, body: ReservationIn, *, source: str
) -> tuple[ReservationOut, bool]:
    """Reserve every line or none (function ``inventory_reserve_batch``). Returns the
    reservation and whether it is new: the same idempotency key with the same lines answers
    the reservation made the first time, with other lines 409 ``idempotency-key-reused``. A
    line short of stock writes nothing (409 ``insufficient-stock`` naming the SKU, the
    location and what is available; the key stays free)."""
    asked = [(line.sku, line.location, line.quantity) for line in body.lines]
    if len({(sku, code) for sku, code, _ in asked}) != len(asked):
        raise ValidationFailed("each (sku, location) may appear in one line only")
    digest = request_hash(asked)
    reservation_id = uuid7()
    expires_at = (
        None
        if body.expires_in_seconds is None
        else utcnow() + timedelta(seconds=body.expires_in_seconds)
    )
    outcome = await stock.reserve(
        reservation_id=reservation_id,
        key=body.idempotency_key,
        request_hash=digest,
        source=source,
        expires_at=expires_at,
        lines=asked,
        line_ids=[uuid7() for _ in asked],
    )
    if outcome.made is not None:
        created_at, updated_at = outcome.made
        return (
            ReservationOut(
                id=reservation_id,
                idempotency_key=body.idempotency_key,
                status=ReservationStatus.ACTIVE.value,
                source=source,
                expires_at=expires_at,
                created_at=created_at,
                updated_at=updated_at,
                lines=[ReservationLineOut(sku=s, location=c, quantity=q) for s, c, q in asked],
            ),
            True,
        )
    if outcome.existing_hash is None and outcome.unusable is None:
        # Short, or the key was taken by a request that committed while this one waited: a
        # reservation that exists now answers (the same key, the same answer).
        found = await stock.by_key(body.idempotency_key)
        if found is not None:
            return _stored_out(found, body.idempotency_key, digest), False
        assert outcome.short is not None  # nothing else stops a usable reservation
        sku, code, available = outcome.short
        quantity = next(q for s, c, q in asked if (s, c) == (sku, code))
        raise InsufficientStock(
            f"{sku} at {code}: {available} available, {quantity} requested",
            sku=sku,
            location=code,
            available=available,
            requested=quantity,
        )
    if outcome.existing_hash is not None:
        found = await stock.by_key(body.idempotency_key)
        assert found is not None  # reservations are never deleted
        return _stored_out(found, body.idempotency_key, digest), False
    assert outcome.unusable is not None
    sku, code, product_found, product_archived, location_found, _ = outcome.unusable
    if not product_found:
        raise NotFound(f"no product has the SKU {sku!r}")
    if product_archived:
        raise Archived(f"the product with the SKU {sku!r} is archived")
    if not location_found:
        raise NotFound(f"no location has the code {code!r}")
    raise Archived(f"the location {code!r} is archived")


async def _close(
    session: AsyncSession,
    organization_id: uuid.UUID,
    reservation_id: uuid.UUID,
    to: ReservationStatus,
    reason: str,
    key: str,
) -> bool:
    """Move an active reservation to ``to`` and give its lines back (release, expiry) or ship
    them (commit), once: False when it was not active (nothing changes)."""
    repo = ReservationRepository(session)
    if not await repo.transition(organization_id, reservation_id, to):
        return False
    shipped = to is ReservationStatus.COMMITTED
    stock = StockRepository(session)
    for line in await repo.lines(reservation_id):  # by product, then location: lock order
        changed = await stock.change(
            organization_id=organization_id,
            product_id=line.product_id,
            location_id=line.location_id,
            d_on_hand=-line.quantity if shipped else 0,
            d_reserved=-line.quantity,
            reason=reason,
            source=f"reservation:{reservation_id}",
            idempotency_key=key,
        )
        if changed is None:  # impossible while the CHECKs hold: refuse rather than half-close
            raise ReservationClosed("the reservation's units are no longer reserved")
    return True


async def commit_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationOut:
    """Ship the reserved units: on_hand and reserved both drop by each line's quantity. Once:
    committing a committed reservation answers it as it is; a released or expired one is 409."""
    organization_id = _tenant(session)
    reservation = await get_reservation(session, reservation_id)
    if not await _close(
        session,
        organization_id,
        reservation_id,
        ReservationStatus.COMMITTED,
        COMMIT,
        reservation.idempotency_key,
    ):
        reservation = await get_reservation(session, reservation_id)
        if reservation.status != ReservationStatus.COMMITTED.value:
            raise ReservationClosed(
                f"the reservation is {reservation.status}: its units are no longer reserved"
            )
    return await describe_reservation(session, await get_reservation(session, reservation_id))


async def release_reservation(session: AsyncSession, reservation_id: uuid.UUID) -> ReservationOut:
    """Give the reserved units back. Once: releasing a released (or expired) reservation
    answers it as it is; a committed one is 409 (its units have shipped)."""
    organization_id = _tenant(session)
    reservation = await get_reservation(session, reservation_id)
    if not await _close(
        session,
        organization_id,
        reservation_id,
        ReservationStatus.RELEASED,
        RELEASE,
        reservation.idempotency_key,
    ):
        reservation = await get_reservation(session, reservation_id)
        if reservation.status == ReservationStatus.COMMITTED.value:
            raise ReservationClosed("the reservation is committed: its units have shipped")
    return await describe_reservation(session, await get_reservation(session, reservation_id))


async def expire_due(session: AsyncSession, *, limit: int = 200) -> int:
    """Release the active reservations past their expiry (any organization), each once;
    returns how many. Runs in a system context (the job's)."""
    repo = ReservationRepository(session)
    expired = 0
    with system_context(session, "inventory: expire reservations past their time"):
        for organization_id, reservation_id in await repo.due(utcnow(), limit):
            reservation = await repo.get(reservation_id)
            if reservation is None:
                continue
            if await _close(
                session,
                organization_id,
                reservation_id,
                ReservationStatus.EXPIRED,
                EXPIRE,
                reservation.idempotency_key,
            ):
                expired += 1
    return expired


# --- order lines (driven by commerce.flows) --------------------------------------------------


async def reservation_by_key(session: AsyncSession, key: str) -> Reservation | None:
    return await ReservationRepository(session).by_key(key)


async def close_by_key(
    session: AsyncSession, organization_id: uuid.UUID, key: str, *, commit: bool
) -> str | None:
    """Commit or release the active reservation named by ``key``; its status after (None when
    there is none)."""
    reservation = await ReservationRepository(session).by_key(key)
    if reservation is None:
        return None
    if reservation.status == ReservationStatus.ACTIVE.value:
        to = ReservationStatus.COMMITTED if commit else ReservationStatus.RELEASED
        if await _close(
            session, organization_id, reservation.id, to, COMMIT if commit else RELEASE, key
        ):
            return to.value
        reservation = await ReservationRepository(session).by_key(key)
        assert reservation is not None
    return str(reservation.status)


async def record_closed(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    key: str,
    source: str,
    status: ReservationStatus,
    lines: Sequence[tuple[uuid.UUID, uuid.UUID, int]],
    digest: str,
) -> bool:
    """A reservation that is closed from the start (an order cancelled or shipped before it
    reserved anything): it keeps the key, so a late reserve for it does nothing. False when
    the key exists already."""
    reservation_id = uuid7()
    repo = ReservationRepository(session)
    stamps = await repo.insert(
        organization_id,
        reservation_id=reservation_id,
        key=key,
        request_hash=digest,
        source=source,
        expires_at=None,
        status=status,
    )
    if stamps is None:
        return False
    await repo.insert_lines(
        organization_id,
        [
            {
                "id": uuid7(),
                "reservation_id": reservation_id,
                "product_id": p,
                "location_id": loc,
                "quantity": q,
            }
            for p, loc, q in lines
        ],
    )
    return True


# --- the journal ---------------------------------------------------------------------------


async def verify(session: AsyncSession, organization_id: uuid.UUID | None) -> list[Mismatch]:
    """Replay the journal and compare it with the levels: every difference (empty when the
    journal explains every level)."""
    found = []
    for row in await journal_mismatches(session, organization_id):
        problems = []
        if (row["level_on_hand"] or 0) != (row["journal_on_hand"] or 0) or (
            row["level_reserved"] or 0
        ) != (row["journal_reserved"] or 0):
            problems.append("the level differs from the sum of its movements")
        if row["last_on_hand"] is not None and (
            row["last_on_hand"] != (row["level_on_hand"] or 0)
            or row["last_reserved"] != (row["level_reserved"] or 0)
        ):
            problems.append("the level differs from its last movement's quantities after")
        if row["broken_at"] is not None:
            problems.append(f"movement {row['broken_at']} does not follow from the one before")
        found.append(
            Mismatch(
                organization_id=row["organization_id"],
                product_id=row["product_id"],
                location_id=row["location_id"],
                sku=row["sku"],
                location=row["location"],
                level_on_hand=row["level_on_hand"],
                level_reserved=row["level_reserved"],
                journal_on_hand=row["journal_on_hand"],
                journal_reserved=row["journal_reserved"],
                problem="; ".join(problems),
            )
        )
    return found
