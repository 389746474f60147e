"""Orders from webhooks: normalised, money in minor units, one row per order of a store, applied
in the provider's updated_at order, duplicates and concurrent duplicates give one order, the
worker killed between the commit and the processing still yields the order (re-drive); two
stores with the same order numbers keep their own orders; the migration that keyed orders by
their store."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy.exc
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from sellerhub.commerce.money import to_minor
from sellerhub.commerce.orders.schemas import OrderPage
from sellerhub.connections import vault
from sellerhub.connections.models import Connection
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.jobs_helpers import redrive_lost_webhooks, run_worker

SECRET = "shopify-emulator-secret"
SHOP = "orders-shop.myshopify.com"


def _order(
    order_id: int, updated: str, total: str = "25.50", status: str = "paid"
) -> dict[str, Any]:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "email": "buyer@example.com",
        "currency": "USD",
        "total_price": total,
        "financial_status": status,
        "created_at": "2026-11-20T10:00:00-05:00",
        "updated_at": updated,
        "line_items": [
            {"id": 1, "sku": "SKU-1", "title": "Mug", "quantity": 2, "price": "10.25"},
            {"id": 2, "sku": "SKU-2", "title": "Lid", "quantity": 1, "price": "5.00"},
        ],
    }


def _headers(body: bytes, event_id: str, topic: str = "orders/updated") -> dict[str, str]:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-Event-Id": event_id,
    }


async def _connect_shop(runtime: Runtime, tenant: Tenant, shop: str) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider="shopify",
            external_account_id=shop,
            scopes=[],
            details={"shop": shop},
        )
        connection.ensure_id()
        session.add(connection)


@pytest.fixture
async def shop(runtime: Runtime, tenant: Tenant) -> Tenant:
    await _connect_shop(runtime, tenant, SHOP)
    return tenant


async def _deliver(
    client: httpx.AsyncClient, order: dict[str, Any], event_id: str
) -> httpx.Response:
    body = json.dumps(order).encode()
    return await client.post("/webhooks/shopify", content=body, headers=_headers(body, event_id))


async def _work() -> None:
    await run_worker()


async def _orders(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/orders", headers=tenant.headers)
    assert response.status_code == 200, response.text
    OrderPage.model_validate(response.json())  # the answer is the documented one
    return list(response.json()["items"])


async def test_order_from_a_webhook(client: httpx.AsyncClient, shop: Tenant) -> None:
    await _deliver(client, _order(501, "2026-11-20T10:05:00-05:00"), "e1")
    await _work()
    (order,) = await _orders(client, shop)
    assert order["external_id"] == "501" and order["channel"] == "shopify"
    assert order["total_minor"] == 2550 and order["currency"] == "USD"
    assert [line["unit_price_minor"] for line in order["lines"]] == [1025, 500]


async def test_older_event_after_newer_changes_nothing(
    client: httpx.AsyncClient, shop: Tenant
) -> None:
    await _deliver(
        client, _order(502, "2026-11-20T12:00:00Z", total="30.00", status="refunded"), "new"
    )
    await _work()
    await _deliver(client, _order(502, "2026-11-20T11:00:00Z", total="25.50", status="paid"), "old")
    await _work()
    (order,) = await _orders(client, shop)
    assert (order["status"], order["total_minor"]) == ("refunded", 3000)


async def test_duplicates_and_concurrent_duplicates_give_one_order(
    client: httpx.AsyncClient, runtime: Runtime, shop: Tenant
) -> None:
    order = _order(503, "2026-11-20T10:00:00Z")
    await asyncio.gather(*(_deliver(client, order, "same-event") for _ in range(8)))
    await asyncio.gather(*(_deliver(client, order, f"retry-{n}") for n in range(4)))
    await _work()
    assert len(await _orders(client, shop)) == 1
    async with runtime.engine.connect() as conn:
        lines = await conn.scalar(text("SELECT count(*) FROM order_lines"))
    assert lines == 2


async def test_worker_killed_between_commit_and_processing(
    client: httpx.AsyncClient, runtime: Runtime, shop: Tenant
) -> None:
    await _deliver(client, _order(504, "2026-11-20T10:00:00Z"), "lost")
    async with runtime.engine.begin() as conn:  # the dispatch never reached a worker
        await conn.execute(text("DELETE FROM procrastinate_jobs"))
        await conn.execute(
            text("UPDATE webhook_events SET received_at = now() - interval '10 minutes'")
        )
    assert await _orders(client, shop) == []
    await redrive_lost_webhooks(runtime)
    await _work()
    assert [o["external_id"] for o in await _orders(client, shop)] == ["504"]


async def test_other_organization_sees_no_orders(
    client: httpx.AsyncClient, shop: Tenant, other_tenant: Tenant
) -> None:
    await _deliver(client, _order(505, "2026-11-20T10:00:00Z"), "iso")
    await _work()
    assert await _orders(client, other_tenant) == []


async def test_one_batch_with_several_organizations_is_processed_at_once(
    client: httpx.AsyncClient, runtime: Runtime, shop: Tenant, other_tenant: Tenant
) -> None:
    """The drain handles each organization of a batch in its own transaction: no event waits
    for the re-drive because another organization's event came first."""
    second = "second-shop.myshopify.com"
    await _connect_shop(runtime, other_tenant, second)
    for n in range(3):
        await _deliver(client, _order(600 + n, "2026-11-20T10:00:00Z"), f"a-{n}")
        body = json.dumps(_order(700 + n, "2026-11-20T10:00:00Z")).encode()
        headers = _headers(body, f"b-{n}") | {"X-Shopify-Shop-Domain": second}
        answer = await client.post("/webhooks/shopify", content=body, headers=headers)
        assert answer.status_code == 200
    await _work()
    assert sorted(o["external_id"] for o in await _orders(client, shop)) == ["600", "601", "602"]
    assert sorted(o["external_id"] for o in await _orders(client, other_tenant)) == [
        "700",
        "701",
        "702",
    ]
    async with runtime.engine.connect() as conn:
        states = await conn.execute(text("SELECT status, attempts FROM webhook_events"))
    assert {tuple(row) for row in states} == {("processed", 1)}


@given(cents=st.integers(min_value=0, max_value=10**12))
def test_money_round_trips_in_minor_units(cents: int) -> None:
    assert to_minor(f"{cents // 100}.{cents % 100:02d}", "USD") == cents
    assert to_minor(str(cents), "JPY") == cents


async def test_concurrent_drains_share_the_work_and_process_each_event_once(
    client: httpx.AsyncClient, runtime: Runtime, shop: Tenant
) -> None:
    from sellerhub.webhooks import service as webhooks

    answers = await asyncio.gather(
        *(_deliver(client, _order(800 + n, "2026-11-20T10:00:00Z"), f"c-{n}") for n in range(300))
    )
    assert {a.status_code for a in answers} == {200}
    rounds = 0
    while True:
        taken = await asyncio.gather(
            webhooks.drain(runtime.sessionmaker, limit=100),
            webhooks.drain(runtime.sessionmaker, limit=100),
        )
        rounds += 1
        if sum(taken) == 0:
            break
    assert rounds <= 4  # two drains of 100 each take the 300 events in two or three rounds
    async with runtime.engine.connect() as conn:
        states = (await conn.execute(text("SELECT status, attempts FROM webhook_events"))).all()
        orders = await conn.scalar(text("SELECT count(*) FROM orders"))
    assert len(states) == 300 and {tuple(row) for row in states} == {("processed", 1)}
    assert orders == 300


def _poison(kind: str, order: dict[str, Any]) -> dict[str, Any]:
    if kind == "huge-total":
        order["total_price"] = "1e308"
    elif kind == "negative-quantity":
        order["line_items"][0]["quantity"] = -3
    elif kind == "long-currency":
        order["currency"] = "X" * 100
    elif kind == "word-quantity":
        order["line_items"][0]["quantity"] = "two"
    elif kind == "negative-total":
        order["total_price"] = "-5.00"
    elif kind == "long-id":
        order["id"] = "9" * 150
    elif kind == "lines-not-a-list":
        order["line_items"] = {"id": 1}
    return order


POISON = [
    "huge-total",
    "negative-quantity",
    "long-currency",
    "word-quantity",
    "negative-total",
    "long-id",
    "lines-not-a-list",
]


@pytest.mark.parametrize("kind", POISON)
async def test_a_poison_payload_fails_at_once_with_its_reason(
    client: httpx.AsyncClient, runtime: Runtime, shop: Tenant, kind: str
) -> None:
    response = await _deliver(client, _poison(kind, _order(700, "2026-11-20T10:05:00Z")), kind)
    assert response.status_code == 200  # stored: the signature and the JSON are fine
    await _work()
    listing = await client.get(
        "/api/v1/webhook-events", params={"status": "failed"}, headers=shop.headers
    )
    assert listing.status_code == 200, listing.text
    (event,) = listing.json()["items"]
    assert event["attempts"] == 1 and event["status"] == "failed"
    assert event["last_error"].startswith("invalid payload: "), event["last_error"]
    assert await _orders(client, shop) == []
    # The re-drive does not take it up again: it is final, not pending.
    await redrive_lost_webhooks(runtime)
    await _work()
    again = await client.get(f"/api/v1/webhook-events/{event['id']}", headers=shop.headers)
    assert again.json()["attempts"] == 1


async def test_webhook_events_are_listed_per_organization_and_can_be_retried(
    client: httpx.AsyncClient, runtime: Runtime, shop: Tenant, other_tenant: Tenant
) -> None:
    await _deliver(client, _poison("long-currency", _order(801, "2026-11-20T10:05:00Z")), "p1")
    await _deliver(client, _order(802, "2026-11-20T10:05:00Z"), "ok1")
    await _work()
    mine = (await client.get("/api/v1/webhook-events", headers=shop.headers)).json()["items"]
    assert sorted(e["status"] for e in mine) == ["failed", "processed"]
    failed = next(e for e in mine if e["status"] == "failed")
    theirs = await client.get("/api/v1/webhook-events", headers=other_tenant.headers)
    assert theirs.json()["items"] == []
    hidden = await client.get(
        f"/api/v1/webhook-events/{failed['id']}", headers=other_tenant.headers
    )
    assert hidden.status_code == 404
    assert (
        await client.post(
            f"/api/v1/webhook-events/{failed['id']}/retry", headers=other_tenant.headers
        )
    ).status_code == 404
    processed = next(e for e in mine if e["status"] == "processed")
    conflict = await client.post(
        f"/api/v1/webhook-events/{processed['id']}/retry", headers=shop.headers
    )
    assert conflict.status_code == 409
    retried = await client.post(
        f"/api/v1/webhook-events/{failed['id']}/retry", headers=shop.headers
    )
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    await _work()
    after = await client.get(f"/api/v1/webhook-events/{failed['id']}", headers=shop.headers)
    assert after.json()["status"] == "failed" and after.json()["attempts"] == 2  # still poison


async def test_large_amounts_in_zero_decimal_currencies_fit(
    client: httpx.AsyncClient, shop: Tenant
) -> None:
    order = _order(901, "2026-11-20T10:05:00Z", total="3500000000")  # 3.5 billion dong
    order["currency"] = "VND"
    order["line_items"] = [
        {"id": 1, "sku": "X", "title": "Lot", "quantity": 1, "price": "3500000000"}
    ]
    await _deliver(client, order, "vnd")
    await _work()
    (stored,) = await _orders(client, shop)
    assert stored["total_minor"] == 3_500_000_000


# --- two stores of one organization -------------------------------------------------------------


async def _woo_store(runtime: Runtime, tenant: Tenant, url: str, secret: str) -> uuid.UUID:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection = Connection(
            organization_id=tenant.organization.id,
            provider="woocommerce",
            external_account_id=url,
            scopes=[],
            details={"store_url": url},
        )
        connection.ensure_id()
        vault.store_webhook_secret(runtime.keyring, connection, secret)
        session.add(connection)
    return connection.id


def _woo_order(order_id: int, modified: str, total: str) -> dict[str, Any]:
    return {
        "id": order_id,
        "number": str(order_id),
        "status": "processing",
        "currency": "EUR",
        "total": total,
        "date_created_gmt": "2026-11-20T09:00:00",
        "date_modified_gmt": modified,
        "billing": {"email": "buyer@example.com"},
        "line_items": [{"id": 1, "sku": "A", "name": "Tea", "quantity": 1, "price": total}],
    }


async def _woo_deliver(
    client: httpx.AsyncClient,
    connection_id: uuid.UUID,
    secret: str,
    order: dict[str, Any],
    delivery: str,
) -> None:
    body = json.dumps(order).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    answer = await client.post(
        f"/webhooks/woocommerce/{connection_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Signature": signature.decode(),
            "X-WC-Webhook-Topic": "order.updated",
            "X-WC-Webhook-Delivery-ID": delivery,
        },
    )
    assert answer.status_code == 200 and answer.json()["duplicate"] is False, answer.text


async def test_two_stores_with_the_same_order_numbers_keep_their_own_orders(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    """Two WooCommerce stores of one organization both number their orders 1, 2, 3…: each
    store's order 1 is its own row, changed only by its own store's deliveries."""
    first = await _woo_store(runtime, tenant, "https://first.example", "first-secret")
    second = await _woo_store(runtime, tenant, "https://second.example", "second-secret")
    await _woo_deliver(
        client, first, "first-secret", _woo_order(1, "2026-11-20T10:00:00", "10.00"), "1"
    )
    await _woo_deliver(
        client, second, "second-secret", _woo_order(1, "2026-11-20T10:00:00", "20.00"), "1"
    )
    await _work()
    stored = {o["connection_id"]: o for o in await _orders(client, tenant)}
    assert set(stored) == {str(first), str(second)}
    assert {c: (o["external_id"], o["total_minor"]) for c, o in stored.items()} == {
        str(first): ("1", 1000),
        str(second): ("1", 2000),
    }
    # A newer version from the first store changes the first store's order only; an older one
    # from the second store changes nothing.
    await _woo_deliver(
        client, first, "first-secret", _woo_order(1, "2026-11-20T11:00:00", "15.00"), "2"
    )
    await _woo_deliver(
        client, second, "second-secret", _woo_order(1, "2026-11-20T09:30:00", "99.00"), "2"
    )
    await _work()
    stored = {o["connection_id"]: o for o in await _orders(client, tenant)}
    assert {c: o["total_minor"] for c, o in stored.items()} == {
        str(first): 1500,
        str(second): 2000,
    }
    async with runtime.engine.connect() as conn:
        states = await conn.execute(text("SELECT status FROM webhook_events"))
        lines = await conn.scalar(text("SELECT count(*) FROM order_lines"))
    assert {s for (s,) in states} == {"processed"} and lines == 2


# --- the migration that keyed orders by their store ---------------------------------------------

BEFORE = "2026_11_30_order_amounts_bigint"


def test_the_migration_gives_every_order_its_store(server_url: str) -> None:
    from alembic import command

    from sellerhub.db.migrations import alembic_config, upgrade
    from tests.conftest import create_database, drop_database

    url = create_database(server_url, "sellerhub_orders_by_store")
    try:
        upgrade(url, BEFORE)
        with psycopg.connect(url, autocommit=True) as conn:
            org, lonely = uuid.uuid4(), uuid.uuid4()
            for organization in (org, lonely):
                conn.execute(
                    "INSERT INTO organizations (id, name, slug) VALUES (%s, 'O', %s)",
                    (organization, str(organization)),
                )
            old, new = uuid.uuid4(), uuid.uuid4()
            for connection, status, age in (
                (old, "disconnected", "2 days"),
                (new, "connected", "1 day"),
            ):
                conn.execute(
                    "INSERT INTO connections (id, organization_id, provider, external_account_id,"
                    " environment, display_name, scopes, status, refresh_failures, details,"
                    " created_at) VALUES (%s, %s, 'woocommerce', %s, 'production', '', '[]',"
                    " %s, 0, '{}', now() - %s::interval)",
                    (connection, org, str(connection), status, age),
                )

            def order(
                organization: uuid.UUID, connection: uuid.UUID | None, external: str
            ) -> uuid.UUID:
                order_id = uuid.uuid4()
                conn.execute(
                    "INSERT INTO orders (id, organization_id, channel, connection_id, external_id,"
                    " number, status, currency, total_minor, provider_updated_at) VALUES"
                    " (%s, %s, 'woocommerce', %s, %s, '', '', 'EUR', 0, now())",
                    (order_id, organization, connection, external),
                )
                return order_id

            unattached, attached = order(org, None, "1"), order(org, old, "2")
            orphan = order(lonely, None, "1")  # its organization never connected WooCommerce
            with pytest.raises(sqlalchemy.exc.DBAPIError) as refused:
                upgrade(url)
            chain: list[BaseException] = []
            error: BaseException | None = refused.value
            while error is not None:  # env.py's unlock error comes last, the cause before it
                chain.append(error)
                error = error.__cause__ or error.__context__
            assert any("belong to no connection" in str(e) for e in chain), chain
            conn.execute("DELETE FROM orders WHERE id = %s", (orphan,))
            upgrade(url)
            owners: dict[uuid.UUID, uuid.UUID] = dict(
                conn.execute("SELECT id, connection_id FROM orders").fetchall()
            )
            assert owners == {unattached: new, attached: old}  # the active store first
            nullable = conn.execute(
                "SELECT is_nullable FROM information_schema.columns"
                " WHERE table_name = 'orders' AND column_name = 'connection_id'"
            ).fetchone()
            assert nullable == ("NO",)
            order(org, old, "1")  # the other store's order 1 is a row of its own now
            with pytest.raises(psycopg.errors.UniqueViolation):
                order(org, new, "1")
            # Back to one row per channel and external id: the newest of each is kept.
            command.downgrade(alembic_config(url), BEFORE)
            assert conn.execute("SELECT count(*) FROM orders").fetchone() == (2,)
            upgrade(url)
    finally:
        drop_database(server_url, url)
