"""Set-based stock writes for a batch of channel order lines (``commerce.flows.apply_orders``):
the same rows, columns and keys as one order at a time (``service.reserve``, ``close_by_key``,
``record_closed``), written with a handful of statements per batch instead of several per line.

Each line is named by its idempotency key ``order-line:<order id>:<line id>`` and asks to
reserve (an open order), commit (fulfilled) or release (cancelled) its units at one level.
The reservations the keys name and the levels the batch touches are locked first, the
reservations in key order and the levels in (product, location) order (the order every writer
of levels uses, so no deadlock). Then each line is decided in that same fixed order against the
locked quantities, exactly as the one-line path would decide it (a line short of stock is
refused alone and the next lines see the units it did not take), and the outcome is written:
one ``UPDATE … FROM unnest`` of the levels, one ``INSERT`` of their movements (the quantities
after each line), one of the new reservations and their lines, one ``UPDATE`` of the closed
ones. The CHECKs of ``stock_levels`` stay the last guard: a computed level they refuse fails
the whole batch (the caller falls back to one order at a time).

The statements bind the organization themselves (``%(organization_id)s``), as the bulk
import's do; the caller has scoped the session to it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, LiteralString

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.inventory.models import ReservationStatus
from sellerhub.core.errors import TenantScopeViolation
from sellerhub.core.ids import uuid7
from sellerhub.db.tenancy import tenant_of

RESERVE, COMMIT, RELEASE = "reserve", "commit", "release"

_RESERVATIONS = """
SELECT r.idempotency_key, r.id, r.status, l.product_id, l.location_id, l.quantity
FROM reservations r
LEFT JOIN reservation_lines l
  ON l.reservation_id = r.id AND l.organization_id = %(organization_id)s
WHERE r.organization_id = %(organization_id)s AND r.idempotency_key = ANY(%(keys)s::text[])
ORDER BY r.idempotency_key, l.product_id, l.location_id
FOR UPDATE OF r
"""

_LEVELS = """
SELECT sl.product_id, sl.location_id, sl.on_hand, sl.reserved
FROM stock_levels sl
JOIN unnest(%(products)s::uuid[], %(locations)s::uuid[]) AS k(product_id, location_id)
  ON sl.product_id = k.product_id AND sl.location_id = k.location_id
WHERE sl.organization_id = %(organization_id)s
ORDER BY sl.product_id, sl.location_id
FOR NO KEY UPDATE OF sl
"""

_WRITE_LEVELS = """
UPDATE stock_levels sl SET on_hand = v.on_hand, reserved = v.reserved, updated_at = now()
FROM unnest(%(products)s::uuid[], %(locations)s::uuid[], %(on_hand)s::int[],
            %(reserved)s::int[]) AS v(product_id, location_id, on_hand, reserved)
WHERE sl.organization_id = %(organization_id)s
  AND sl.product_id = v.product_id AND sl.location_id = v.location_id
"""

_JOURNAL = """
INSERT INTO stock_movements
    (organization_id, product_id, location_id, delta_on_hand, delta_reserved, on_hand_after,
     reserved_after, reason, source, idempotency_key)
SELECT %(organization_id)s, product_id, location_id, d_on_hand, d_reserved, on_hand_after,
       reserved_after, reason, source, key
FROM unnest(%(products)s::uuid[], %(locations)s::uuid[], %(d_on_hand)s::int[],
            %(d_reserved)s::int[], %(on_hand_after)s::int[], %(reserved_after)s::int[],
            %(reasons)s::text[], %(sources)s::text[], %(keys)s::text[])
    AS m(product_id, location_id, d_on_hand, d_reserved, on_hand_after, reserved_after, reason,
         source, key)
ORDER BY product_id, location_id
"""

_NEW_RESERVATIONS = """
INSERT INTO reservations
    (id, organization_id, idempotency_key, request_hash, status, source, expires_at,
     created_at, updated_at)
SELECT id, %(organization_id)s, key, digest, status, source, NULL, now(), now()
FROM unnest(%(ids)s::uuid[], %(keys)s::text[], %(digests)s::text[], %(statuses)s::text[],
            %(sources)s::text[]) AS r(id, key, digest, status, source)
ORDER BY key
ON CONFLICT (organization_id, idempotency_key) DO NOTHING
RETURNING 1
"""

_NEW_LINES = """
INSERT INTO reservation_lines
    (id, organization_id, reservation_id, product_id, location_id, quantity)
SELECT id, %(organization_id)s, reservation_id, product_id, location_id, quantity
FROM unnest(%(ids)s::uuid[], %(reservations)s::uuid[], %(products)s::uuid[],
            %(locations)s::uuid[], %(quantities)s::int[])
    AS l(id, reservation_id, product_id, location_id, quantity)
"""

_CLOSE = """
UPDATE reservations r SET status = v.status, updated_at = now()
FROM unnest(%(ids)s::uuid[], %(statuses)s::text[]) AS v(id, status)
WHERE r.organization_id = %(organization_id)s AND r.id = v.id AND r.status = 'active'
"""


@dataclass(frozen=True)
class OrderLineStock:
    """One order line's stock request. ``digest`` is the reservation's request hash (what
    the one-line path stores for the same line); ``sku`` and ``code`` name it in a refusal."""

    key: str
    action: str  # reserve | commit | release
    order_id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: int
    sku: str
    code: str
    digest: str


@dataclass(frozen=True)
class Refusal:
    """A line that moved nothing: ``what`` is ``unreserved`` or ``unshipped``."""

    line: OrderLineStock
    what: str
    reason: str


@dataclass
class _Level:
    on_hand: int
    reserved: int
    changed: bool = False


@dataclass
class _Plan:
    movements: list[tuple[Any, ...]] = field(default_factory=list)
    new: list[tuple[uuid.UUID, OrderLineStock, str, str]] = field(default_factory=list)
    closed: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


class BatchStock:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        if tenant_of(session) != organization_id:
            raise TenantScopeViolation("stock is written only in its organization's scope")
        self.session = session
        self.organization_id = organization_id

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
        return driver

    async def _run(self, statement: LiteralString, **params: Any) -> list[tuple[Any, ...]]:
        if "%(organization_id)s" not in statement:
            raise TenantScopeViolation("a stock statement without %(organization_id)s")
        connection = await self._connection()
        cursor = await connection.execute(
            statement, {**params, "organization_id": self.organization_id}
        )
        if cursor.description is None:
            return []
        return [tuple(row) for row in await cursor.fetchall()]

    async def apply(self, lines: Sequence[OrderLineStock]) -> list[Refusal]:
        """Reserve, commit or release every line once (a line whose key is taken already
        changes nothing); returns the lines refused for want of stock."""
        if not lines:
            return []
        if len({line.key for line in lines}) != len(lines):
            raise ValueError("each order line key may appear once in a batch")
        existing: dict[str, tuple[uuid.UUID, str, list[tuple[uuid.UUID, uuid.UUID, int]]]] = {}
        for key, rid, status, product_id, location_id, quantity in await self._run(
            _RESERVATIONS, keys=sorted(line.key for line in lines)
        ):
            entry = existing.setdefault(key, (rid, status, []))
            if product_id is not None:
                entry[2].append((product_id, location_id, quantity))
        wanted = {(line.product_id, line.location_id) for line in lines}
        for _, status, held in existing.values():
            if status == ReservationStatus.ACTIVE.value:
                wanted.update((p, loc) for p, loc, _ in held)
        pairs = sorted(wanted)
        levels = {
            (p, loc): _Level(on_hand, reserved)
            for p, loc, on_hand, reserved in await self._run(
                _LEVELS, products=[p for p, _ in pairs], locations=[loc for _, loc in pairs]
            )
        }
        plan = _Plan()
        for line in sorted(lines, key=lambda x: (x.product_id, x.location_id, x.key)):
            self._decide(line, existing.get(line.key), levels, plan)
        await self._write(levels, plan)
        return plan.refused

    def _decide(
        self,
        line: OrderLineStock,
        found: tuple[uuid.UUID, str, list[tuple[uuid.UUID, uuid.UUID, int]]] | None,
        levels: dict[tuple[uuid.UUID, uuid.UUID], _Level],
        plan: _Plan,
    ) -> None:
        level = levels.get((line.product_id, line.location_id))
        available = 0 if level is None else level.on_hand - level.reserved
        if found is not None:
            rid, status, held = found
            if line.action == RESERVE or status != ReservationStatus.ACTIVE.value:
                return  # reserved, shipped or released already: once per line
            shipped = line.action == COMMIT
            to = ReservationStatus.COMMITTED if shipped else ReservationStatus.RELEASED
            plan.closed.append((rid, to.value))
            for p, loc, quantity in held:
                held_level = levels[(p, loc)]
                d_on_hand = -quantity if shipped else 0
                self._move(
                    plan, held_level, p, loc, d_on_hand, -quantity, line.action,
                    f"reservation:{rid}", line.key,
                )  # fmt: skip
            return
        source = f"order:{line.order_id}"
        if line.action == RELEASE:  # cancelled before it reserved: nothing moves, key taken
            plan.new.append((uuid7(), line, ReservationStatus.RELEASED.value, source))
            return
        if level is None or available < line.quantity:
            if line.action == RESERVE:
                reason = (
                    f"{line.sku} at {line.code}: {available} available, {line.quantity} requested"
                )
                plan.refused.append(Refusal(line, "unreserved", reason))
            else:
                reason = f"{line.sku}: fewer than {line.quantity} units available to ship"
                plan.refused.append(Refusal(line, "unshipped", reason))
            return
        if line.action == RESERVE:
            plan.new.append((uuid7(), line, ReservationStatus.ACTIVE.value, source))
            self._move(
                plan, level, line.product_id, line.location_id, 0, line.quantity, RESERVE,
                source, line.key,
            )  # fmt: skip
        else:  # shipped before anything was reserved: the units leave at once
            plan.new.append((uuid7(), line, ReservationStatus.COMMITTED.value, source))
            self._move(
                plan, level, line.product_id, line.location_id, -line.quantity, 0, "ship",
                source, line.key,
            )  # fmt: skip

    @staticmethod
    def _move(
        plan: _Plan,
        level: _Level,
        product_id: uuid.UUID,
        location_id: uuid.UUID,
        d_on_hand: int,
        d_reserved: int,
        reason: str,
        source: str,
        key: str,
    ) -> None:
        level.on_hand += d_on_hand
        level.reserved += d_reserved
        level.changed = True
        plan.movements.append(
            (
                product_id,
                location_id,
                d_on_hand,
                d_reserved,
                level.on_hand,
                level.reserved,
                reason,
                source,
                key,
            )
        )

    async def _write(self, levels: dict[tuple[uuid.UUID, uuid.UUID], _Level], plan: _Plan) -> None:
        changed = sorted((pair, level) for pair, level in levels.items() if level.changed)
        if changed:
            await self._run(
                _WRITE_LEVELS,
                products=[p for (p, _), _ in changed],
                locations=[loc for (_, loc), _ in changed],
                on_hand=[level.on_hand for _, level in changed],
                reserved=[level.reserved for _, level in changed],
            )
        if plan.movements:
            columns = list(zip(*plan.movements, strict=True))
            await self._run(
                _JOURNAL,
                products=list(columns[0]),
                locations=list(columns[1]),
                d_on_hand=list(columns[2]),
                d_reserved=list(columns[3]),
                on_hand_after=list(columns[4]),
                reserved_after=list(columns[5]),
                reasons=list(columns[6]),
                sources=list(columns[7]),
                keys=list(columns[8]),
            )
        if plan.new:
            inserted = await self._run(
                _NEW_RESERVATIONS,
                ids=[rid for rid, _, _, _ in plan.new],
                keys=[line.key for _, line, _, _ in plan.new],
                digests=[line.digest for _, line, _, _ in plan.new],
                statuses=[status for _, _, status, _ in plan.new],
                sources=[source for _, _, _, source in plan.new],
            )
            if len(inserted) != len(plan.new):  # a key taken meanwhile: decided on stale rows
                raise KeyTaken("an order line's key was taken while the batch was decided")
            await self._run(
                _NEW_LINES,
                ids=[uuid7() for _ in plan.new],
                reservations=[rid for rid, _, _, _ in plan.new],
                products=[line.product_id for _, line, _, _ in plan.new],
                locations=[line.location_id for _, line, _, _ in plan.new],
                quantities=[line.quantity for _, line, _, _ in plan.new],
            )
        if plan.closed:
            await self._run(
                _CLOSE,
                ids=[rid for rid, _ in plan.closed],
                statuses=[status for _, status in plan.closed],
            )


class KeyTaken(Exception):
    """Another transaction took a key the batch decided as free (the caller retries the
    batch one order at a time)."""
