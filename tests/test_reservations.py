"""Reservations over HTTP: all lines or none, a shortfall named in words, the same key answers
the same reservation (another body: 409), commit ships, release gives back, each once, expiry by
the periodic job; and under real concurrency on live servers: 200 reservations of one unit
against 100 on hand give exactly 100, and mixed reserve/commit/release from two server
processes leave levels, journal and reservations agreeing."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.commerce.inventory import service
from sellerhub.commerce.inventory.schemas import ReservationOut
from sellerhub.config import Settings
from sellerhub.db.session import unit_of_work
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.servers import free_port, server_env, serving
from tests.test_inventory import adjust, levels, location, product


def _body(key: str, *lines: tuple[str, str, int], **extra: Any) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "lines": [{"sku": s, "location": loc, "quantity": q} for s, loc, q in lines],
        **extra,
    }


async def _reserve(
    client: httpx.AsyncClient, tenant: Tenant, key: str, *lines: tuple[str, str, int], **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/inventory/reservations", json=_body(key, *lines, **extra), headers=tenant.headers
    )


async def _post_retrying(
    client: httpx.AsyncClient, path: str, tenant: Tenant, **kw: Any
) -> httpx.Response:
    """A client under load: a 503 (the server's pool was busy for longer than its wait; nothing
    ran) is retried, with the same idempotency key, as a real client would."""
    for _ in range(50):
        answer = await client.post(path, headers=tenant.headers, **kw)
        if answer.status_code != 503:
            return answer
        await asyncio.sleep(0.05)
    return answer


async def _reserve_retrying(
    client: httpx.AsyncClient, tenant: Tenant, key: str, *lines: tuple[str, str, int]
) -> httpx.Response:
    return await _post_retrying(
        client, "/api/v1/inventory/reservations", tenant, json=_body(key, *lines)
    )


async def _seed(client: httpx.AsyncClient, tenant: Tenant, stock: dict[str, int]) -> None:
    await location(client, tenant, "main")
    for sku, on_hand in stock.items():
        await product(client, tenant, sku)
        answer = await adjust(client, tenant, sku, "main", mode="set", quantity=on_hand)
        assert answer.status_code == 200, answer.text


async def _agree(runtime: Runtime, tenant: Tenant) -> dict[str, tuple[int, int]]:
    """Levels, journal and reservations agree: verify finds nothing, and each level's
    reserved equals the units of its active reservations. Returns sku → (on_hand, reserved)."""
    async with runtime.sessionmaker() as session:
        assert await service.verify(session, tenant.organization.id) == []
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT p.sku, l.on_hand, l.reserved, coalesce((SELECT sum(rl.quantity)"
                " FROM reservation_lines rl JOIN reservations r ON r.id = rl.reservation_id"
                " WHERE r.status = 'active' AND rl.product_id = l.product_id"
                " AND rl.location_id = l.location_id), 0) AS active"
                " FROM stock_levels l JOIN products p ON p.id = l.product_id"
                " WHERE l.organization_id = :org"
            ),
            {"org": tenant.organization.id},
        )
        found = {}
        for sku, on_hand, reserved, active in rows:
            assert reserved == active, (sku, reserved, active)
            found[sku] = (on_hand, reserved)
    return found


async def test_all_lines_or_none(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5, "B": 1})
    short = await _reserve(client, tenant, "k1", ("A", "main", 2), ("B", "main", 2))
    assert short.status_code == 409
    problem = short.json()
    assert problem["code"] == "insufficient-stock"
    assert problem["detail"] == "B at main: 1 available, 2 requested"
    assert (problem["sku"], problem["location"], problem["available"]) == ("B", "main", 1)
    assert await _agree(runtime, tenant) == {"A": (5, 0), "B": (1, 0)}  # A was not kept
    made = await _reserve(client, tenant, "k1", ("A", "main", 2), ("B", "main", 1))
    assert made.status_code == 201, made.text  # the failed attempt did not burn the key
    body = ReservationOut.model_validate(made.json())
    assert body.status == "active" and [(x.sku, x.quantity) for x in body.lines] == [
        ("A", 2),
        ("B", 1),
    ]
    assert await _agree(runtime, tenant) == {"A": (5, 2), "B": (1, 1)}
    duplicate = await _reserve(client, tenant, "k2", ("A", "main", 1), ("A", "main", 1))
    assert duplicate.status_code == 422
    unknown = await _reserve(client, tenant, "k3", ("NOPE", "main", 1))
    assert unknown.status_code == 404 and "'NOPE'" in unknown.json()["detail"]
    nowhere = await _reserve(client, tenant, "k4", ("A", "attic", 1))
    assert nowhere.status_code == 404 and "'attic'" in nowhere.json()["detail"]


async def test_retry_with_the_key_answers_the_same(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5})
    first = await _reserve(client, tenant, "order-1", ("A", "main", 2))
    again = await _reserve(client, tenant, "order-1", ("A", "main", 2))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = await _reserve(client, tenant, "order-1", ("A", "main", 3))
    assert other.status_code == 409 and other.json()["code"] == "idempotency-key-reused"
    racing = await asyncio.gather(
        *(_reserve(client, tenant, "order-2", ("A", "main", 1)) for _ in range(10))
    )
    assert sorted(r.status_code for r in racing) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in racing}) == 1
    assert await _agree(runtime, tenant) == {"A": (5, 3)}


async def test_commit_and_release_once_each(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 10})
    one = (await _reserve(client, tenant, "r1", ("A", "main", 3))).json()["id"]
    two = (await _reserve(client, tenant, "r2", ("A", "main", 4))).json()["id"]
    base = "/api/v1/inventory/reservations"
    for _ in range(2):
        done = await client.post(f"{base}/{one}/commit", headers=tenant.headers)
        assert done.status_code == 200 and done.json()["status"] == "committed"
    assert await _agree(runtime, tenant) == {"A": (7, 4)}
    refused = await client.post(f"{base}/{one}/release", headers=tenant.headers)
    assert refused.status_code == 409 and "shipped" in refused.json()["detail"]
    for _ in range(2):
        back = await client.post(f"{base}/{two}/release", headers=tenant.headers)
        assert back.status_code == 200 and back.json()["status"] == "released"
    late = await client.post(f"{base}/{two}/commit", headers=tenant.headers)
    assert late.status_code == 409 and late.json()["code"] == "reservation-closed"
    assert await _agree(runtime, tenant) == {"A": (7, 0)}
    moves = await client.get("/api/v1/inventory/movements?sku=A", headers=tenant.headers)
    assert [
        (m["reason"], m["delta_on_hand"], m["delta_reserved"]) for m in moves.json()["items"]
    ] == [
        ("release", 0, -4),
        ("commit", -3, -3),
        ("reserve", 0, 4),
        ("reserve", 0, 3),
        ("adjust", 10, 0),
    ]
    for path in (f"{base}/{one}", f"{base}/{one}/commit", f"{base}/{two}/release"):
        method = "GET" if path.endswith(one) else "POST"
        foreign = await client.request(method, path, headers=other_tenant.headers)
        assert foreign.status_code == 404, path
    racing = await asyncio.gather(
        *(
            client.post(f"{base}/{rid}/{verb}", headers=tenant.headers)
            for rid in [(await _reserve(client, tenant, "r3", ("A", "main", 2))).json()["id"]]
            for verb in ("commit", "release") * 4
        )
    )
    assert {r.status_code for r in racing} <= {200, 409}
    assert await _agree(runtime, tenant) in ({"A": (5, 0)}, {"A": (7, 0)})


async def test_expiry_by_the_periodic_job(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 3})
    made = await _reserve(client, tenant, "soon", ("A", "main", 2), expires_in_seconds=60)
    kept = await _reserve(client, tenant, "later", ("A", "main", 1), expires_in_seconds=3600)
    assert made.json()["expires_at"] is not None and kept.status_code == 201
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE reservations SET expires_at = now() - interval '1 second'"
                " WHERE idempotency_key = 'soon'"
            )
        )
    for _ in range(2):  # a second run finds nothing more to do
        async with unit_of_work(runtime.sessionmaker) as session:
            from sellerhub.commerce.inventory.tasks import expire_reservations

            await expire_reservations(session)
    got = await client.get(
        f"/api/v1/inventory/reservations/{made.json()['id']}", headers=tenant.headers
    )
    assert got.json()["status"] == "expired"
    assert await _agree(runtime, tenant) == {"A": (3, 1)}
    late = await client.post(
        f"/api/v1/inventory/reservations/{made.json()['id']}/commit", headers=tenant.headers
    )
    assert late.status_code == 409


# --- real concurrency over real HTTP ---------------------------------------------------------


async def test_200_concurrent_reservations_against_100_units(
    live_server: str, runtime: Runtime, tenant: Tenant
) -> None:
    async with httpx.AsyncClient(
        base_url=live_server, timeout=60, limits=httpx.Limits(max_connections=200)
    ) as client:
        await _seed(client, tenant, {"HOT": 100})
        answers = await asyncio.gather(
            *(_reserve_retrying(client, tenant, f"c-{n}", ("HOT", "main", 1)) for n in range(200))
        )
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 100, 409: 100}, codes
    assert all(r.json()["code"] == "insufficient-stock" for r in answers if r.status_code == 409)
    assert await _agree(runtime, tenant) == {"HOT": (100, 100)}
    async with runtime.engine.connect() as conn:
        counted = await conn.scalar(
            text("SELECT count(*) FROM reservations WHERE status = 'active'")
        )
        journal = await conn.scalar(
            text("SELECT count(*) FROM stock_movements WHERE reason = 'reserve'")
        )
    assert counted == journal == 100


@pytest.fixture
def second_server(settings: Settings, database_url: str, tmp_path: Path, suite_logs: Path) -> Any:
    assert settings.encryption_keys is not None
    env = server_env(
        database_url=database_url,
        encryption_keys=settings.encryption_keys.get_secret_value(),
        port=free_port(),
        data_dir=tmp_path,
    )
    with serving(env, suite_logs / "inventory_second_server.log") as base:
        yield base


async def test_mixed_reserve_commit_release_from_two_processes(
    live_server: str, second_server: str, runtime: Runtime, tenant: Tenant
) -> None:
    rng = random.Random(13)
    limits = httpx.Limits(max_connections=50)
    async with (
        httpx.AsyncClient(base_url=live_server, timeout=60, limits=limits) as one,
        httpx.AsyncClient(base_url=second_server, timeout=60, limits=limits) as two,
    ):
        await _seed(one, tenant, {"HOT": 60, "WARM": 40})

        async def actor(n: int) -> tuple[str, str]:
            first, second = (one, two) if n % 2 else (two, one)
            lines = [("HOT", "main", 1)] + ([("WARM", "main", 1)] if n % 3 == 0 else [])
            made = await _reserve_retrying(first, tenant, f"m-{n}", *lines)
            if made.status_code == 409:
                return "short", ""
            assert made.status_code == 201, made.text
            verb = rng.choice(["commit", "release", "keep"])
            if verb != "keep":
                rid = made.json()["id"]
                answers = await asyncio.gather(
                    _post_retrying(first, f"/api/v1/inventory/reservations/{rid}/{verb}", tenant),
                    _post_retrying(second, f"/api/v1/inventory/reservations/{rid}/{verb}", tenant),
                )
                assert [a.status_code for a in answers] == [200, 200]
            return verb, "+".join(line[0] for line in lines)

        outcomes = await asyncio.gather(*(actor(n) for n in range(240)))
    state = await _agree(runtime, tenant)
    shipped: Counter[str] = Counter()
    held: Counter[str] = Counter()
    for verb, skus in outcomes:
        for sku in filter(None, skus.split("+")):
            if verb == "commit":
                shipped[sku] += 1
            elif verb == "keep":
                held[sku] += 1
    assert state == {
        "HOT": (60 - shipped["HOT"], held["HOT"]),
        "WARM": (40 - shipped["WARM"], held["WARM"]),
    }
    assert any(verb == "short" for verb, _ in outcomes)  # the stock did run out


# --- channel orders drive the reservations -----------------------------------------------------


async def _order_stock(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, on_hand: int
) -> str:
    """A connected shop, SKU-1 in the catalog (SKU-2 is not) with ``on_hand`` units at the
    shop's channel location; returns the location's code."""
    from tests.test_orders import SHOP, _connect_shop

    await _connect_shop(runtime, tenant, SHOP)
    async with runtime.engine.connect() as conn:
        connection_id = await conn.scalar(text("SELECT id FROM connections"))
    code = f"channel-{connection_id}"
    made = await client.post(
        "/api/v1/locations",
        json={"code": code, "kind": "channel", "connection_id": str(connection_id)},
        headers=tenant.headers,
    )
    assert made.status_code == 201, made.text
    await product(client, tenant, "SKU-1")
    assert (
        await adjust(client, tenant, "SKU-1", code, mode="set", quantity=on_hand)
    ).status_code == 200
    return code


async def _send(
    client: httpx.AsyncClient, order_id: int, updated: str, event: str, **state: Any
) -> None:
    from tests.test_orders import _deliver, _order

    order = _order(order_id, updated) | state  # lines: 2 of SKU-1, 1 of SKU-2
    answer = await _deliver(client, order, event)
    assert answer.status_code == 200


async def _level(client: httpx.AsyncClient, tenant: Tenant) -> tuple[int, int]:
    (level,) = await levels(client, tenant, "?sku=SKU-1")
    return level.on_hand, level.reserved


async def _audit(runtime: Runtime, action: str) -> list[str]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT data->>'reason' FROM audit_events WHERE action = :a"), {"a": action}
        )
    return [row[0] for row in rows]


async def test_an_order_reserves_then_ships_once(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from tests.jobs_helpers import run_worker

    await _order_stock(client, runtime, tenant, 10)
    await _send(client, 801, "2026-11-20T10:00:00Z", "a1")
    await _send(client, 801, "2026-11-20T10:00:00Z", "a1-again")  # the same version again
    await run_worker()
    assert await _level(client, tenant) == (10, 2)
    # SKU-2 is not in the catalog: the order is kept, and the reason is on record.
    orders = (await client.get("/api/v1/orders", headers=tenant.headers)).json()["items"]
    assert [o["external_id"] for o in orders] == ["801"]
    assert await _audit(runtime, "inventory.order_line_unreserved") == [
        "no product has the SKU 'SKU-2'"
    ]
    await _send(client, 801, "2026-11-20T11:00:00Z", "a2", fulfillment_status="fulfilled")
    await _send(client, 801, "2026-11-20T12:00:00Z", "a3", fulfillment_status="fulfilled")
    await run_worker()
    assert await _level(client, tenant) == (8, 0)
    await _send(client, 801, "2026-11-20T13:00:00Z", "a4", cancelled_at="2026-11-20T13:00:00Z")
    await run_worker()
    assert await _level(client, tenant) == (8, 0)  # shipped units are not given back
    assert await _agree(runtime, tenant) == {"SKU-1": (8, 0)}


async def test_a_cancelled_order_releases(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from tests.jobs_helpers import run_worker

    await _order_stock(client, runtime, tenant, 10)
    await _send(client, 802, "2026-11-20T10:00:00Z", "b1")
    await run_worker()
    assert await _level(client, tenant) == (10, 2)
    await _send(client, 802, "2026-11-20T11:00:00Z", "b2", cancelled_at="2026-11-20T11:00:00Z")
    await run_worker()
    assert await _level(client, tenant) == (10, 0)
    assert await _agree(runtime, tenant) == {"SKU-1": (10, 0)}


async def test_events_out_of_order_leave_stock_right(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from tests.jobs_helpers import run_worker

    await _order_stock(client, runtime, tenant, 10)
    # Order 803: the cancellation arrives first, then the creation (older): nothing is held.
    await _send(client, 803, "2026-11-20T11:00:00Z", "c2", cancelled_at="2026-11-20T11:00:00Z")
    await run_worker()
    await _send(client, 803, "2026-11-20T10:00:00Z", "c1")
    await run_worker()
    assert await _level(client, tenant) == (10, 0)
    # Order 804: the fulfilment arrives first: the units ship once, a late creation holds none.
    await _send(client, 804, "2026-11-20T11:00:00Z", "d2", fulfillment_status="fulfilled")
    await run_worker()
    await _send(client, 804, "2026-11-20T10:00:00Z", "d1")
    await _send(client, 804, "2026-11-20T12:00:00Z", "d3", fulfillment_status="fulfilled")
    await run_worker()
    assert await _level(client, tenant) == (8, 0)
    assert await _agree(runtime, tenant) == {"SKU-1": (8, 0)}


async def test_an_order_short_of_stock_is_kept(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from tests.jobs_helpers import run_worker

    code = await _order_stock(client, runtime, tenant, 1)
    await _send(client, 806, "2026-11-20T10:00:00Z", "e1")
    await run_worker()
    assert await _level(client, tenant) == (1, 0)
    reasons = await _audit(runtime, "inventory.order_line_unreserved")
    assert f"SKU-1 at {code}: 1 available, 2 requested" in reasons
    await _send(client, 806, "2026-11-20T11:00:00Z", "e2", fulfillment_status="fulfilled")
    await run_worker()
    assert await _level(client, tenant) == (1, 0)  # never below zero
    assert await _audit(runtime, "inventory.order_line_unshipped") == [
        "SKU-1: fewer than 2 units available to ship"
    ]
    orders = (await client.get("/api/v1/orders", headers=tenant.headers)).json()["items"]
    assert [o["external_id"] for o in orders] == ["806"]
    assert await _agree(runtime, tenant) == {"SKU-1": (1, 0)}


# --- the one-statement reservation: its edges ----------------------------------------------------


async def test_refusals_name_the_line_and_write_nothing(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5, "B": 5, "OLD": 5})
    await _seed(client, other_tenant, {"THEIRS": 5})
    await location(client, tenant, "attic")
    theirs = await _reserve(client, tenant, "t1", ("A", "main", 1), ("THEIRS", "main", 1))
    assert theirs.status_code == 404 and "'THEIRS'" in theirs.json()["detail"]
    products = (await client.get("/api/v1/products?search=OLD", headers=tenant.headers)).json()
    old = products["items"][0]["id"]
    archived = await client.post(f"/api/v1/products/{old}/archive", headers=tenant.headers)
    assert archived.status_code == 200, archived.text
    gone = await _reserve(client, tenant, "t2", ("A", "main", 1), ("OLD", "main", 1))
    assert gone.status_code == 409 and gone.json()["code"] == "archived"
    assert "'OLD'" in gone.json()["detail"]
    no_level = await _reserve(client, tenant, "t3", ("A", "main", 1), ("A", "attic", 1))
    assert no_level.status_code == 409
    assert no_level.json()["detail"] == "A at attic: 0 available, 1 requested"
    zero = await _reserve(client, tenant, "t4", ("A", "main", 0))
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "lines.0.quantity"
    broken = await client.post(
        "/api/v1/inventory/reservations", content=b"{not json", headers=tenant.headers
    )
    assert broken.status_code == 400 and broken.json()["code"] == "malformed-json"
    anonymous = await client.post("/api/v1/inventory/reservations", json=_body("t5"))
    assert anonymous.status_code == 401
    # None of the refused keys was taken, and nothing moved.
    assert await _agree(runtime, tenant) == {"A": (5, 0), "B": (5, 0), "OLD": (5, 0)}
    assert await _agree(runtime, other_tenant) == {"THEIRS": (5, 0)}
    for key in ("t1", "t2", "t3"):
        made = await _reserve(client, tenant, key, ("B", "main", 1))
        assert made.status_code == 201, made.text


async def test_a_replay_answers_the_lines_as_asked(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _seed(client, tenant, {"A": 5, "B": 5, "C": 5})
    asked = (("C", "main", 1), ("A", "main", 2), ("B", "main", 3))
    first = await _reserve(client, tenant, "many", *asked)
    assert first.status_code == 201, first.text
    assert [(x["sku"], x["quantity"]) for x in first.json()["lines"]] == [
        ("C", 1),
        ("A", 2),
        ("B", 3),
    ]
    again = await _reserve(client, tenant, "many", *reversed(asked))  # the same lines
    assert again.status_code == 200 and again.json() == first.json()
    assert await _agree(runtime, tenant) == {"A": (5, 2), "B": (5, 3), "C": (5, 1)}


async def test_racing_retries_of_the_last_unit_answer_the_same(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    """Ten retries of one key race for the last unit: the one that reserves it answers 201
    and the others, which find no unit left, answer that reservation (200), not a shortfall."""
    await _seed(client, tenant, {"A": 1})
    racing = await asyncio.gather(
        *(_reserve(client, tenant, "last", ("A", "main", 1)) for _ in range(10))
    )
    assert sorted(r.status_code for r in racing) == [200] * 9 + [201], [r.text for r in racing]
    assert len({r.json()["id"] for r in racing}) == 1
    assert await _agree(runtime, tenant) == {"A": (1, 1)}


async def test_a_unit_released_while_the_reservation_waits_is_reserved(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    """The reservation's statement begins while another transaction holds the level and is
    giving a unit back: the statement's snapshot still shows no unit available, the locked
    row shows one. It must reserve it (run again on a fresh snapshot), neither refuse it nor
    fail on the CHECK that the old version would break."""
    from sellerhub.db.tenancy import set_tenant

    await _seed(client, tenant, {"A": 1})
    held = await _reserve(client, tenant, "held", ("A", "main", 1))
    assert held.status_code == 201
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        released = await service.release_reservation(session, held.json()["id"])
        assert released.status == "released"
        waiting = asyncio.ensure_future(_reserve(client, tenant, "next", ("A", "main", 1)))
        await asyncio.sleep(0.5)  # the statement has its snapshot and waits for the row
        assert not waiting.done()
    answer = await waiting
    assert answer.status_code == 201, answer.text
    assert await _agree(runtime, tenant) == {"A": (1, 1)}
