"""Stock over HTTP: locations, adjustments (set and delta, compare-and-set, never below what is
reserved, idempotent by key), levels with their filters and cursor, a SKU's movements; every
change journaled so the journal replayed equals the levels (``sellerhub inventory verify``
reports a level broken on purpose); PostgreSQL itself refuses a negative quantity; another
organization's SKUs, locations and levels are 404; members may adjust, only admins manage
locations."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from sellerhub.commerce.inventory.schemas import AdjustmentOut, LevelPage, MovementPage
from sellerhub.identity.organizations.models import Role
from sellerhub.runtime import Runtime
from tests.conftest import Tenant, make_tenant


async def product(client: httpx.AsyncClient, tenant: Tenant, sku: str) -> str:
    response = await client.post(
        "/api/v1/products", json={"sku": sku, "title": sku.title()}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def location(client: httpx.AsyncClient, tenant: Tenant, code: str) -> str:
    response = await client.post(
        "/api/v1/locations", json={"code": code, "name": code.upper()}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def adjust(
    client: httpx.AsyncClient, tenant: Tenant, sku: str, where: str, **body: Any
) -> httpx.Response:
    body = {"idempotency_key": uuid.uuid4().hex, "sku": sku, "location": where} | body
    return await client.post("/api/v1/inventory/adjustments", json=body, headers=tenant.headers)


async def stock(
    client: httpx.AsyncClient, tenant: Tenant, sku: str, where: str, on_hand: int
) -> None:
    """The SKU and the location exist, with ``on_hand`` units."""
    await product(client, tenant, sku)
    if (await client.get("/api/v1/locations", headers=tenant.headers)).json()["items"] == []:
        await location(client, tenant, where)
    response = await adjust(client, tenant, sku, where, mode="set", quantity=on_hand)
    assert response.status_code == 200, response.text


async def levels(client: httpx.AsyncClient, tenant: Tenant, query: str = "") -> list[Any]:
    response = await client.get(f"/api/v1/inventory/levels{query}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(LevelPage.model_validate(response.json()).items)


async def sellerhub_cli(runtime: Runtime, database_url: str, *args: str) -> tuple[int, str, str]:
    assert runtime.settings.encryption_keys is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERHUB_")} | {
        "SELLERHUB_ENV": "test",
        "SELLERHUB_DATABASE_URL": database_url,
        "SELLERHUB_ENCRYPTION_KEYS": runtime.settings.encryption_keys.get_secret_value(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sellerhub",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_locations(client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant) -> None:
    made = await location(client, tenant, "main")
    taken = await client.post("/api/v1/locations", json={"code": "main"}, headers=tenant.headers)
    assert taken.status_code == 409 and "'main'" in taken.json()["detail"]
    fba = await client.post(
        "/api/v1/locations", json={"code": "fba-us", "kind": "fba"}, headers=tenant.headers
    )
    assert fba.status_code == 422 and "marketplace_id" in fba.json()["detail"]
    renamed = await client.patch(
        f"/api/v1/locations/{made}", json={"name": "Main warehouse"}, headers=tenant.headers
    )
    assert renamed.json()["name"] == "Main warehouse"
    archived = await client.post(f"/api/v1/locations/{made}/archive", headers=tenant.headers)
    assert archived.json()["archived_at"] is not None
    assert (await client.get("/api/v1/locations", headers=tenant.headers)).json()["items"] == []
    await product(client, tenant, "SKU-A")
    refused = await adjust(client, tenant, "SKU-A", "main", mode="set", quantity=1)
    assert refused.status_code == 409 and "archived" in refused.json()["detail"]
    member = await make_tenant(runtime, role=Role.MEMBER)
    denied = await client.post("/api/v1/locations", json={"code": "x"}, headers=member.headers)
    assert denied.status_code == 403


async def test_adjustments_set_delta_and_compare_and_set(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await stock(client, tenant, "SKU-A", "main", 10)
    delta = await adjust(client, tenant, "SKU-A", "main", mode="delta", quantity=-3)
    body = AdjustmentOut.model_validate(delta.json())
    assert (body.on_hand, body.delta_on_hand, body.replayed) == (7, -3, False)
    stale = await adjust(
        client, tenant, "SKU-A", "main", mode="set", quantity=20, expected_on_hand=10
    )
    assert stale.status_code == 409 and stale.json()["code"] == "quantity-changed"
    assert stale.json()["on_hand"] == 7 and "7 on hand" in stale.json()["detail"]
    fresh = await adjust(
        client, tenant, "SKU-A", "main", mode="set", quantity=20, expected_on_hand=7
    )
    assert fresh.status_code == 200 and fresh.json()["on_hand"] == 20
    below_zero = await adjust(client, tenant, "SKU-A", "main", mode="delta", quantity=-21)
    assert below_zero.status_code == 409 and below_zero.json()["code"] == "below-reserved"
    negative = await adjust(client, tenant, "SKU-A", "main", mode="set", quantity=-1)
    assert negative.status_code == 422
    (level,) = await levels(client, tenant)
    assert (level.sku, level.location, level.on_hand, level.reserved, level.available) == (
        "SKU-A",
        "main",
        20,
        0,
        20,
    )


async def test_set_below_reserved_is_refused_in_words(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await stock(client, tenant, "SKU-A", "main", 10)
    reserved = await client.post(
        "/api/v1/inventory/reservations",
        json={
            "idempotency_key": "r1",
            "lines": [{"sku": "SKU-A", "location": "main", "quantity": 6}],
        },
        headers=tenant.headers,
    )
    assert reserved.status_code == 201, reserved.text
    refused = await adjust(client, tenant, "SKU-A", "main", mode="set", quantity=5)
    assert refused.status_code == 409 and refused.json()["code"] == "below-reserved"
    assert refused.json()["detail"] == (
        "SKU-A at main has 6 units reserved; on hand cannot become 5"
    )
    assert (
        await adjust(client, tenant, "SKU-A", "main", mode="set", quantity=6)
    ).status_code == 200


async def test_adjustment_key_answers_the_first_result(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await stock(client, tenant, "SKU-A", "main", 5)
    first = await adjust(
        client, tenant, "SKU-A", "main", mode="delta", quantity=2, idempotency_key="k1"
    )
    again = await adjust(
        client, tenant, "SKU-A", "main", mode="delta", quantity=2, idempotency_key="k1"
    )
    assert first.json()["on_hand"] == again.json()["on_hand"] == 7
    assert again.json()["replayed"] is True
    assert again.json()["movement_id"] == first.json()["movement_id"]
    other = await adjust(
        client, tenant, "SKU-A", "main", mode="delta", quantity=3, idempotency_key="k1"
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency-key-reused"
    concurrent = await asyncio.gather(
        *(
            adjust(client, tenant, "SKU-A", "main", mode="delta", quantity=1, idempotency_key="k2")
            for _ in range(8)
        )
    )
    assert {r.status_code for r in concurrent} <= {200, 409}
    (level,) = await levels(client, tenant)
    assert level.on_hand == 8  # applied once


async def test_levels_filters_and_cursor(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await location(client, tenant, "main")
    await location(client, tenant, "spare")
    for n in range(4):
        await product(client, tenant, f"SKU-{n}")
        assert (
            await adjust(client, tenant, f"SKU-{n}", "main", mode="set", quantity=n)
        ).status_code == 200
        assert (
            await adjust(client, tenant, f"SKU-{n}", "spare", mode="set", quantity=10)
        ).status_code == 200
    assert len(await levels(client, tenant)) == 8
    low = await levels(client, tenant, "?low_stock_below=2")
    assert [(x.sku, x.location, x.available) for x in low] == [
        ("SKU-0", "main", 0),
        ("SKU-1", "main", 1),
    ]
    spare = await levels(client, tenant, "?location=spare")
    assert {x.location for x in spare} == {"spare"} and len(spare) == 4
    one = await levels(client, tenant, "?sku=SKU-2")
    assert sorted((x.location, x.on_hand) for x in one) == [("main", 2), ("spare", 10)]
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = LevelPage.model_validate(
            (await client.get(f"/api/v1/inventory/levels{query}", headers=tenant.headers)).json()
        )
        seen += [(x.sku, x.location) for x in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 8 and len(set(seen)) == 8
    product_id = one[0].product_id
    own = await client.get(f"/api/v1/products/{product_id}/levels", headers=tenant.headers)
    assert len(own.json()["items"]) == 2
    unknown = await client.get("/api/v1/inventory/levels?location=nowhere", headers=tenant.headers)
    assert unknown.status_code == 404 and "'nowhere'" in unknown.json()["detail"]
    bad = await client.get("/api/v1/inventory/levels?cursor=nonsense", headers=tenant.headers)
    assert bad.status_code == 422


async def test_movements_of_a_sku(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await stock(client, tenant, "SKU-A", "main", 5)
    for n in range(3):
        await adjust(client, tenant, "SKU-A", "main", mode="delta", quantity=n + 1)
    response = await client.get(
        "/api/v1/inventory/movements?sku=SKU-A&limit=2", headers=tenant.headers
    )
    page = MovementPage.model_validate(response.json())
    assert [(m.delta_on_hand, m.on_hand_after) for m in page.items] == [(3, 11), (2, 8)]
    assert page.items[0].reason == "adjust" and page.items[0].source.startswith("api:")
    rest = await client.get(
        f"/api/v1/inventory/movements?sku=SKU-A&cursor={page.next_cursor}", headers=tenant.headers
    )
    assert [m["on_hand_after"] for m in rest.json()["items"]] == [6, 5]
    assert rest.json()["next_cursor"] is None


async def test_negative_quantities_are_refused_by_postgresql(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant, database_url: str
) -> None:
    await stock(client, tenant, "SKU-A", "main", 3)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for statement in (
            "UPDATE stock_levels SET on_hand = -1",
            "UPDATE stock_levels SET reserved = -1",
            "UPDATE stock_levels SET reserved = on_hand + 1",
        ):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(statement)
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE stock_movements SET delta_on_hand = 0")
    (level,) = await levels(client, tenant)
    assert (level.on_hand, level.reserved) == (3, 0)


async def test_verify_reports_a_level_broken_on_purpose(
    client: httpx.AsyncClient,
    runtime: Runtime,
    tenant: Tenant,
    other_tenant: Tenant,
    database_url: str,
) -> None:
    await stock(client, tenant, "SKU-A", "main", 9)
    await stock(client, other_tenant, "SKU-B", "main", 4)
    await adjust(client, tenant, "SKU-A", "main", mode="delta", quantity=-2)
    code, out, err = await sellerhub_cli(runtime, database_url, "inventory", "verify")
    assert code == 0, err
    # As a superuser writing past the service: the level moves without a movement (the
    # journal's trigger refuses the other way round, changing a movement).
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE stock_levels SET on_hand = on_hand + 5 WHERE on_hand = 7"))
    code, out, err = await sellerhub_cli(runtime, database_url, "inventory", "verify")
    assert code == 1 and "1 level(s) differ" in err
    (line,) = [json.loads(x) for x in out.splitlines()]
    assert (line["sku"], line["location"], line["level_on_hand"], line["journal_on_hand"]) == (
        "SKU-A",
        "main",
        12,
        7,
    )
    assert "sum of its movements" in line["problem"]
    code, out, _ = await sellerhub_cli(
        runtime,
        database_url,
        "inventory",
        "verify",
        "--organization",
        other_tenant.organization.slug,
    )
    assert code == 0 and out == ""
    code, _, err = await sellerhub_cli(
        runtime, database_url, "inventory", "verify", "--organization", "no-such-org"
    )
    assert code == 2 and "no-such-org" in err


async def test_verify_reports_a_movement_removed_past_the_trigger(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    from sellerhub.commerce.inventory import service

    await stock(client, tenant, "SKU-A", "main", 9)
    await adjust(client, tenant, "SKU-A", "main", mode="delta", quantity=1)
    async with runtime.engine.begin() as conn:  # a superuser silencing the trigger
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("DELETE FROM stock_movements WHERE delta_on_hand = 9"))
    async with runtime.sessionmaker() as session:
        (mismatch,) = await service.verify(session, tenant.organization.id)
    assert "does not follow" in mismatch.problem and mismatch.journal_on_hand == 1


async def test_other_organization_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await stock(client, tenant, "SKU-A", "main", 5)
    (level,) = await levels(client, tenant)
    await location(client, other_tenant, "main")
    for response in (
        await adjust(client, other_tenant, "SKU-A", "main", mode="set", quantity=100),
        await client.get("/api/v1/inventory/levels?sku=SKU-A", headers=other_tenant.headers),
        await client.get(
            f"/api/v1/inventory/levels?product_id={level.product_id}", headers=other_tenant.headers
        ),
        await client.get(
            f"/api/v1/products/{level.product_id}/levels", headers=other_tenant.headers
        ),
        await client.get("/api/v1/inventory/movements?sku=SKU-A", headers=other_tenant.headers),
        await client.get(f"/api/v1/locations/{level.location_id}", headers=other_tenant.headers),
        await client.post(
            "/api/v1/inventory/reservations",
            json={
                "idempotency_key": "x",
                "lines": [{"sku": "SKU-A", "location": "main", "quantity": 1}],
            },
            headers=other_tenant.headers,
        ),
    ):
        assert response.status_code == 404, response.text
    assert await levels(client, other_tenant) == []
    (mine,) = await levels(client, tenant)
    assert mine.on_hand == 5
