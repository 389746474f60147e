"""Reservations in batches (``inventory_reserve_batch`` and the route's group-committing
``ReservationWriter``): in ONE call, each reservation gets its own outcome — made, short, the
key's earlier reservation (made before the batch or earlier in it), an unknown SKU, another
organization's SKU — a reservation the database undoes fails alone, and levels, journal and
reservations agree afterwards; concurrent callers share a call and each gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.commerce.inventory import repository
from sellerhub.commerce.inventory.repository import (
    ReservationFailed,
    ReserveOutcome,
    ReserveRequest,
    TenantStock,
    reserve_batch,
)
from sellerhub.commerce.inventory.service import request_hash
from sellerhub.core.ids import uuid7
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.test_reservations import _agree, _reserve, _seed


def _request(
    tenant: Tenant, key: str, *lines: tuple[str, str, int], line_ids: list[uuid.UUID] | None = None
) -> ReserveRequest:
    return ReserveRequest(
        organization_id=tenant.organization.id,
        reservation_id=uuid7(),
        key=key,
        request_hash=request_hash(list(lines)),
        source="api",
        expires_at=None,
        lines=tuple(lines),
        line_ids=tuple(line_ids or [uuid7() for _ in lines]),
    )


async def _existing_line_id(runtime: Runtime, key: str) -> uuid.UUID:
    async with runtime.engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT rl.id FROM reservation_lines rl JOIN reservations r"
                " ON r.id = rl.reservation_id WHERE r.idempotency_key = :key"
            ),
            {"key": key},
        )
    assert isinstance(found, uuid.UUID)
    return found


async def _keys(runtime: Runtime) -> set[str]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(text("SELECT idempotency_key FROM reservations"))
    return {key for (key,) in rows}


async def test_one_batch_answers_each_reservation_alone(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5, "B": 1})
    await _seed(client, other_tenant, {"C": 3})
    old = await _reserve(client, tenant, "k-old", ("A", "main", 1))
    assert old.status_code == 201, old.text
    taken_line = await _existing_line_id(runtime, "k-old")
    batch = [
        _request(tenant, "k1", ("A", "main", 2)),  # made
        _request(tenant, "k2", ("B", "main", 2)),  # short: 1 available
        _request(tenant, "k-old", ("A", "main", 1)),  # the key's reservation, made before
        _request(tenant, "k4", ("NOPE", "main", 1)),  # no such SKU
        # The database refuses it (a line id already taken): undone alone.
        _request(tenant, "k5", ("A", "main", 1), line_ids=[taken_line]),
        _request(tenant, "k6", ("A", "main", 2), ("B", "main", 1)),  # made, after k1's units
        _request(tenant, "k7", ("A", "main", 1)),  # short: k1 and k6 took what was left
        _request(tenant, "k1", ("A", "main", 2)),  # the key's reservation, made in this batch
        _request(other_tenant, "k9", ("A", "main", 1)),  # another organization's SKU
        _request(other_tenant, "k10", ("C", "main", 3)),  # made, in the other organization
    ]
    async with runtime.writes.connection() as conn:
        outcomes = await reserve_batch(conn, batch)
    made = [o.made is not None for o in outcomes]
    assert made == [True, False, False, False, False, True, False, False, False, True]
    assert outcomes[1].short == ("B", "main", 1)
    assert outcomes[2].existing_hash == batch[2].request_hash
    assert outcomes[3].unusable == ("NOPE", "main", False, False, True, False)
    assert outcomes[4].failed == "23505" and outcomes[4].made is None
    assert outcomes[6].short == ("A", "main", 0)
    assert outcomes[7].existing_hash == batch[0].request_hash
    assert outcomes[8].unusable == ("A", "main", False, False, True, False)
    assert all(o.failed is None for n, o in enumerate(outcomes) if n != 4)
    # Committed: what was made is kept, nothing of the refused or the failed ones.
    assert await _keys(runtime) == {"k-old", "k1", "k6", "k10"}
    assert await _agree(runtime, tenant) == {"A": (5, 5), "B": (1, 1)}
    assert await _agree(runtime, other_tenant) == {"C": (3, 3)}


async def test_concurrent_callers_share_a_call_and_get_their_own_answers(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _seed(client, tenant, {"A": 10})
    first = await _reserve(client, tenant, "first", ("A", "main", 1))
    taken_line = await _existing_line_id(runtime, "first")
    sizes: list[int] = []

    async def counted(conn: Any, requests: list[ReserveRequest]) -> list[ReserveOutcome]:
        sizes.append(len(requests))
        return await reserve_batch(conn, requests)

    monkeypatch.setattr(repository, "reserve_batch", counted)
    stock = TenantStock(tenant.organization.id, pool=runtime.writes)

    async def reserve(request: ReserveRequest) -> ReserveOutcome | str:
        try:
            return await stock.reserve(
                reservation_id=request.reservation_id,
                key=request.key,
                request_hash=request.request_hash,
                source=request.source,
                expires_at=request.expires_at,
                lines=request.lines,
                line_ids=request.line_ids,
            )
        except ReservationFailed:
            return "failed"

    answers = await asyncio.gather(
        *(reserve(_request(tenant, f"c-{n}", ("A", "main", 1))) for n in range(2)),
        reserve(_request(tenant, "bad", ("A", "main", 1), line_ids=[taken_line])),
        *(reserve(_request(tenant, f"c-{n}", ("A", "main", 1))) for n in range(2, 4)),
    )
    # One call for all five (the writer formed the batch), then the one the database refused
    # alone again (an error is tried once outside the batch), where it fails for good.
    assert sizes == [5, 1], sizes
    assert answers[2] == "failed"
    made = Counter(isinstance(a, ReserveOutcome) and a.made is not None for a in answers)
    assert made == {True: 4, False: 1}
    assert first.status_code == 201
    assert await _agree(runtime, tenant) == {"A": (10, 5)}
    assert "bad" not in await _keys(runtime)


async def test_http_answers_in_one_burst_are_each_their_own(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 2})
    answers = await asyncio.gather(
        _reserve(client, tenant, "h1", ("A", "main", 1)),
        _reserve(client, tenant, "h1", ("A", "main", 1)),
        _reserve(client, tenant, "h2", ("A", "main", 1)),
        _reserve(client, tenant, "h3", ("A", "main", 5)),
        _reserve(client, tenant, "h4", ("Z", "main", 1)),
    )
    codes = [a.status_code for a in answers]
    assert sorted(codes[:2]) == [200, 201] and codes[2:] == [201, 409, 404], codes
    assert answers[0].json()["id"] == answers[1].json()["id"]
    assert answers[3].json()["code"] == "insufficient-stock"
    reused = await _reserve(client, tenant, "h1", ("A", "main", 2))
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency-key-reused"
    assert await _agree(runtime, tenant) == {"A": (2, 2)}


async def _subtransactions(runtime: Runtime, keys: list[str]) -> int:
    """How many (sub)transactions wrote these reservations: the loop applies each in its own,
    the set-based path all of a batch in one."""
    async with runtime.engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(DISTINCT xmin::text) FROM reservations"
                " WHERE idempotency_key = ANY(:keys)"
            ),
            {"keys": keys},
        )
    assert isinstance(found, int)
    return found


async def _reserved_after(runtime: Runtime, tenant: Tenant, sku: str) -> list[tuple[str, int]]:
    """The journal of a SKU's reservations in its order: (key, reserved after)."""
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT m.idempotency_key, m.reserved_after FROM stock_movements m"
                " JOIN products p ON p.id = m.product_id"
                " WHERE m.organization_id = :org AND p.sku = :sku AND m.reason = 'reserve'"
                " ORDER BY m.id"
            ),
            {"org": tenant.organization.id, "sku": sku},
        )
    return [(key, reserved) for key, reserved in rows]


async def test_a_plainly_good_batch_is_written_at_once_and_journaled_in_its_order(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5, "B": 3})
    await _seed(client, other_tenant, {"C": 2})
    batch = [
        _request(tenant, "g1", ("A", "main", 1)),
        _request(tenant, "g2", ("A", "main", 2), ("B", "main", 1)),
        _request(other_tenant, "g3", ("C", "main", 2)),
        _request(tenant, "g4", ("A", "main", 2)),  # A's last units: the batch asks exactly 5
        _request(tenant, "g5", ("B", "main", 2)),
    ]
    async with runtime.writes.connection() as conn:
        outcomes = await reserve_batch(conn, batch)
    assert all(o.made is not None for o in outcomes), outcomes
    assert all(
        o.existing_hash is None and o.unusable is None and o.short is None and o.failed is None
        for o in outcomes
    )
    assert len({o.made for o in outcomes}) == 1  # one transaction: one created_at
    assert await _subtransactions(runtime, ["g1", "g2", "g3", "g4", "g5"]) == 1
    assert await _agree(runtime, tenant) == {"A": (5, 5), "B": (3, 3)}
    assert await _agree(runtime, other_tenant) == {"C": (2, 2)}
    # As if made one by one, in the batch's order.
    assert await _reserved_after(runtime, tenant, "A") == [("g1", 1), ("g2", 3), ("g4", 5)]
    assert await _reserved_after(runtime, tenant, "B") == [("g2", 1), ("g5", 3)]
    # Retried, each key answers its reservation (now through the loop: the keys are used).
    async with runtime.writes.connection() as conn:
        again = await reserve_batch(conn, batch)
    assert [o.existing_hash for o in again] == [r.request_hash for r in batch]
    assert await _agree(runtime, tenant) == {"A": (5, 5), "B": (3, 3)}


async def test_a_batch_asking_more_than_a_level_has_is_decided_one_by_one(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 3})
    batch = [
        _request(tenant, "s1", ("A", "main", 2)),
        _request(tenant, "s2", ("A", "main", 2)),  # short: 1 left after s1
        _request(tenant, "s3", ("A", "main", 1)),  # fits what s2 left
    ]
    async with runtime.writes.connection() as conn:
        outcomes = await reserve_batch(conn, batch)
    assert [o.made is not None for o in outcomes] == [True, False, True]
    assert outcomes[1].short == ("A", "main", 1)
    assert await _subtransactions(runtime, ["s1", "s3"]) == 2
    assert await _agree(runtime, tenant) == {"A": (3, 3)}
    assert await _reserved_after(runtime, tenant, "A") == [("s1", 2), ("s3", 3)]


async def test_a_key_twice_in_one_batch_is_decided_one_by_one(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5})
    batch = [
        _request(tenant, "d1", ("A", "main", 1)),
        _request(tenant, "d1", ("A", "main", 1)),  # the same key: the first's reservation
        _request(tenant, "d2", ("A", "main", 1), ("A", "main", 1)),  # one level twice
    ]
    async with runtime.writes.connection() as conn:
        outcomes = await reserve_batch(conn, batch)
    assert outcomes[0].made is not None
    assert outcomes[1].made is None and outcomes[1].existing_hash == batch[0].request_hash
    assert outcomes[2].made is None  # the loop's answer for a level named twice
    assert await _agree(runtime, tenant) == {"A": (5, 1)}
