"""The optional expiry of granted credits: grants with an expiry are spent first, earliest
expiry first (whatever order they were granted in), exactly under concurrent consumes; a hold
draws on them and gives back what it releases (latest expiry first); the job moves what is left
of each expired grant to the expiry account once (credits a hold reserves expire when it gives
them back); a package's ``grant_expires_days`` and an admin's ``expires_in_days`` make
expiring grants. The ledger reconciles throughout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from sellerhub.billing.credits import service
from sellerhub.core.clock import utcnow
from sellerhub.runtime import Runtime
from tests import test_cross_app as cross_app
from tests.conftest import Tenant
from tests.test_credits_api import _no_packages, ads_token, fund, problem, proved  # noqa: F401
from tests.test_cross_app import World

world = cross_app.world  # fixtures
_fresh_registry = cross_app._fresh_registry

CONSUME = "/api/cross-app/credits/consume"


async def expiring_grant(
    runtime: Runtime, organization_id: uuid.UUID, amount: int, days: float
) -> uuid.UUID:
    async with runtime.writes.connection() as conn:
        row, created = await service.grant(
            conn, organization_id, amount=amount, key=f"lot-{uuid.uuid4()}",
            expires_at=utcnow() + timedelta(days=days),
        )  # fmt: skip
    assert created
    return row.id


async def lots(runtime: Runtime, organization_id: uuid.UUID) -> dict[uuid.UUID, tuple[int, int]]:
    """(remaining, expired) per lot."""
    async with runtime.engine.connect() as db:
        rows = await db.execute(
            text("SELECT id, remaining, expired FROM credit_lots WHERE organization_id = :o"),
            {"o": organization_id},
        )
        return {r[0]: (int(r[1]), int(r[2])) for r in rows.all()}


async def expire(runtime: Runtime, now: datetime) -> int:
    async with runtime.writes.connection() as conn, conn.transaction():
        return await service.expire_grants(conn, now=now)


async def balance(runtime: Runtime, organization_id: uuid.UUID) -> tuple[int, int]:
    """(wallet balance, the expiry account's balance)."""
    async with runtime.writes.connection() as conn:
        wallet = await service.wallet(conn, organization_id)
        cursor = await conn.execute(
            "SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM credit_accounts"
            " WHERE kind = 'expiry'"
        )
        row = await cursor.fetchone()
    assert row is not None
    return wallet.balance, int(row[0])


async def consume_many(
    client: httpx.AsyncClient, headers: dict[str, str], count: int, prefix: str
) -> list[int]:
    async def one(n: int) -> int:
        body = {"amount": 1, "service": "ocr", "idempotency_key": f"{prefix}-{n}"}
        return (await client.post(CONSUME, json=body, headers=headers)).status_code

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def test_earliest_expiry_is_spent_first_and_the_rest_expires_once(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    org = tenant.organization.id
    await fund(runtime, org, 100)  # never expires
    later = await expiring_grant(runtime, org, 30, days=2)
    sooner = await expiring_grant(runtime, org, 30, days=1)  # granted after, expires before
    last = await expiring_grant(runtime, org, 20, days=10)
    headers = await ads_token(client, world)
    assert await consume_many(client, headers, 40, "a") == [201] * 40
    assert await lots(runtime, org) == {sooner: (0, 0), later: (20, 0), last: (20, 0)}
    assert await expire(runtime, utcnow()) == 0  # nothing is due yet
    assert await expire(runtime, utcnow() + timedelta(days=3)) == 20
    assert await lots(runtime, org) == {sooner: (0, 0), later: (0, 20), last: (20, 0)}
    assert await balance(runtime, org) == (120, 20)
    assert await expire(runtime, utcnow() + timedelta(days=3)) == 0  # once
    wallet = (await client.get("/api/v1/credits", headers=tenant.headers)).json()
    assert [e["credits"] for e in wallet["expiring"]] == [20]
    history = await client.get("/api/v1/credits/transfers?limit=1", headers=tenant.headers)
    assert history.json()["items"][0]["code"] == "expire"
    await proved(runtime)
    # A lot claiming more than its wallet has available is an alarm of the reconciliation.
    async with runtime.engine.begin() as db:
        await db.execute(
            text("UPDATE credit_lots SET remaining = 200, amount = 1000 WHERE id = :id"),
            {"id": last},
        )
    async with runtime.writes.connection() as conn:
        report = await service.reconcile(conn)
    assert not report.ok and report.lots_over_balance == 1 and not report.mismatches


async def test_concurrent_consumes_draw_on_expiring_grants_exactly(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    org = tenant.organization.id
    await fund(runtime, org, 150)
    first = await expiring_grant(runtime, org, 50, days=1)
    second = await expiring_grant(runtime, org, 50, days=2)
    headers = await ads_token(client, world)
    statuses = await consume_many(client, headers, 230, "b")
    assert statuses.count(201) == 230
    # 230 spent: both expiring grants first (100), then 130 of the 150 that never expire.
    assert await lots(runtime, org) == {first: (0, 0), second: (0, 0)}
    assert (await balance(runtime, org))[0] == 20
    assert await expire(runtime, utcnow() + timedelta(days=5)) == 0
    third = await expiring_grant(runtime, org, 40, days=1)
    statuses = await consume_many(client, headers, 70, "c")
    assert statuses.count(201) == 60 and statuses.count(402) == 10
    assert await lots(runtime, org) == {first: (0, 0), second: (0, 0), third: (0, 0)}
    await proved(runtime)


async def test_holds_draw_and_give_back_and_held_credits_expire_when_released(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    org = tenant.organization.id
    await fund(runtime, org, 100)
    lot = await expiring_grant(runtime, org, 30, days=1)
    headers = await ads_token(client, world)

    async def hold(key: str, amount: int) -> dict[str, Any]:
        body = {"amount": amount, "service": "video", "idempotency_key": key,
                "timeout_seconds": 600}  # fmt: skip
        made = await client.post("/api/v1/credits/holds", json=body, headers=headers)
        assert made.status_code == 201, made.text
        return dict(made.json())

    first = await hold("h1", 40)  # 30 of the lot, 10 that never expire
    assert await lots(runtime, org) == {lot: (0, 0)}
    posted = await client.post(
        f"/api/v1/credits/holds/{first['id']}/post", json={"amount": 15}, headers=headers
    )
    assert posted.status_code == 200, posted.text
    # 25 released: the 10 that never expire first, then 15 back to the lot.
    assert await lots(runtime, org) == {lot: (15, 0)}
    second = await hold("h2", 10)
    assert await lots(runtime, org) == {lot: (5, 0)}
    assert await expire(runtime, utcnow() + timedelta(days=2)) == 5
    assert await lots(runtime, org) == {lot: (0, 5)}
    voided = await client.post(f"/api/v1/credits/holds/{second['id']}/void", headers=headers)
    assert voided.status_code == 200, voided.text
    assert await lots(runtime, org) == {lot: (10, 5)}  # given back to an expired grant
    assert await expire(runtime, utcnow() + timedelta(days=2)) == 10
    assert await lots(runtime, org) == {lot: (0, 15)}
    # 130 granted, 15 posted, 15 expired.
    assert await balance(runtime, org) == (100, 15)
    async with runtime.engine.connect() as db:
        keys = await db.execute(
            text(
                "SELECT idempotency_key FROM credit_transfers WHERE code = 'expire'"
                " ORDER BY idempotency_key"
            )
        )
        assert keys.scalars().all() == [f"expire:{lot}:15", f"expire:{lot}:5"]
        draws = await db.execute(text("SELECT count(*) FROM credit_lot_draws"))
        assert draws.scalar_one() == 0
    await proved(runtime)


async def test_packages_and_admin_grants_set_an_expiry(
    client: httpx.AsyncClient, runtime: Runtime, world: World, tenant: Tenant
) -> None:
    package = {"name": "Trial", "credits": 50, "price_minor": 500, "currency": "usd",
               "grant_expires_days": 30}  # fmt: skip
    made = await client.post("/api/v1/credits/packages", json=package, headers=world.admin_headers)
    assert made.status_code == 201, made.text
    assert made.json()["grant_expires_days"] == 30
    problem(
        await client.post("/api/v1/credits/packages", json={**package, "grant_expires_days": 0},
                          headers=world.admin_headers),
        422, "validation-failed",
    )  # fmt: skip
    changed = await client.patch(
        "/api/v1/credits/packages",
        json={"id": made.json()["id"], "grant_expires_days": 7},
        headers=world.admin_headers,
    )
    assert changed.status_code == 200 and changed.json()["grant_expires_days"] == 7
    grant = {"organization_id": str(tenant.organization.id), "amount": 25,
             "idempotency_key": "promo", "reason": "trial", "expires_in_days": 14}  # fmt: skip
    given = await client.post("/api/v1/credits/grants", json=grant, headers=world.admin_headers)
    assert given.status_code == 201, given.text
    again = await client.post("/api/v1/credits/grants", json=grant, headers=world.admin_headers)
    assert again.status_code == 200
    wallet = (await client.get("/api/v1/credits", headers=tenant.headers)).json()
    (soon,) = wallet["expiring"]
    assert soon["credits"] == 25
    left = datetime.fromisoformat(soon["expires_at"]) - utcnow()
    assert timedelta(days=13, hours=23) < left <= timedelta(days=14)
    await proved(runtime)
