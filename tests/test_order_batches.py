"""Order events in batches: the webhook drain applies the order events of one organization
together (orders upserted in one statement, their stock through ``inventory.batch``), and a
batch that fails is handled one event at a time, so one bad event fails alone. Deliveries go
through the real ingress over HTTP; the drain runs on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import text

from sellerhub.commerce import flows
from sellerhub.handlers import WEBHOOK_HANDLERS
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from sellerhub.webhooks.models import WebhookEvent
from tests.conftest import Tenant
from tests.test_reservations import _agree, _level, _order_stock, _send

ORDER_TOPICS = [
    ("shopify", "orders/create"),
    ("shopify", "orders/updated"),
]


class Spy:
    """The order batch handler, counting the batches it was given and how they ended."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.failed = 0

    async def __call__(self, session: Any, events: Sequence[WebhookEvent]) -> None:
        self.sizes.append(len(events))
        try:
            await flows.orders_from_events(session, events)
        except Exception:
            self.failed += 1
            raise


async def _drain(runtime: Runtime, spy: Spy) -> int:
    return await webhooks.drain(
        runtime.sessionmaker,
        handlers=WEBHOOK_HANDLERS,
        batches={topic: spy for topic in ORDER_TOPICS},
    )


async def _rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    async with runtime.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(sql))]


async def test_a_poison_event_fails_alone(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _order_stock(client, runtime, tenant, 10)
    await _send(client, 901, "2026-11-20T10:00:00Z", "p1")
    await _send(client, 902, "2026-11-20T10:00:00Z", "p2", currency="US1")  # unusable
    await _send(client, 903, "2026-11-20T10:00:00Z", "p3")
    spy = Spy()
    assert await _drain(runtime, spy) == 3
    assert spy.sizes == [3] and spy.failed == 1  # tried together, then one by one
    events = dict(await _rows(runtime, "SELECT external_id, status FROM webhook_events"))
    assert events == {"p1": "processed", "p2": "failed", "p3": "processed"}
    (error,) = await _rows(runtime, "SELECT last_error FROM webhook_events WHERE status='failed'")
    assert str(error[0]).startswith("invalid payload: currency 'US1'")
    orders = await _rows(runtime, "SELECT external_id FROM orders ORDER BY external_id")
    assert orders == [("901",), ("903",)]
    assert await _level(client, tenant) == (10, 4)
    assert await _agree(runtime, tenant) == {"SKU-1": (10, 4)}


async def test_out_of_order_events_within_and_across_batches(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _order_stock(client, runtime, tenant, 10)
    shipped = {"fulfillment_status": "fulfilled"}
    # Batch 1. 911: fulfilment before creation (ships 2). 912: created then cancelled (holds
    # nothing). 913: created (holds 2). 914: fulfilment only, its creation comes later.
    await _send(client, 911, "2026-11-20T11:00:00Z", "o1", **shipped)
    await _send(client, 911, "2026-11-20T10:00:00Z", "o2")
    await _send(client, 912, "2026-11-20T10:00:00Z", "o3")
    await _send(client, 912, "2026-11-20T11:00:00Z", "o4", cancelled_at="2026-11-20T11:00:00Z")
    await _send(client, 913, "2026-11-20T10:00:00Z", "o5")
    await _send(client, 914, "2026-11-20T12:00:00Z", "o6", **shipped)
    spy = Spy()
    assert await _drain(runtime, spy) == 6
    assert spy.sizes == [6] and spy.failed == 0
    assert await _level(client, tenant) == (6, 2)
    # Batch 2: 913 ships what it holds, 914's late creation holds nothing, 912's late
    # creation neither, 911's repeated fulfilment ships nothing more.
    await _send(client, 913, "2026-11-20T11:00:00Z", "o7", **shipped)
    await _send(client, 914, "2026-11-20T10:00:00Z", "o8")
    await _send(client, 912, "2026-11-20T09:00:00Z", "o9")
    await _send(client, 911, "2026-11-20T13:00:00Z", "o10", **shipped)
    assert await _drain(runtime, spy) == 4
    assert spy.sizes == [6, 4] and spy.failed == 0
    assert await _level(client, tenant) == (4, 0)
    assert await _agree(runtime, tenant) == {"SKU-1": (4, 0)}
    moves = await _rows(
        runtime,
        "SELECT reason, count(*) FROM stock_movements WHERE reason <> 'adjust'"
        " GROUP BY reason ORDER BY reason",
    )
    assert moves == [("commit", 1), ("reserve", 1), ("ship", 2)]
    statuses = await _rows(
        runtime, "SELECT status, count(*) FROM reservations GROUP BY status ORDER BY status"
    )
    assert statuses == [("committed", 3), ("released", 1)]


async def test_a_redelivered_batch_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    await _order_stock(client, runtime, tenant, 20)
    for n in range(5):
        await _send(client, 920 + n, "2026-11-20T10:00:00Z", f"r{n}")
    spy = Spy()
    assert await _drain(runtime, spy) == 5
    assert await _level(client, tenant) == (20, 10)
    # The provider sends the same versions again under new event ids (a batch of its own),
    # and the first batch is processed a second time (a worker that died before it knew).
    for n in range(5):
        await _send(client, 920 + n, "2026-11-20T10:00:00Z", f"again{n}")
    async with runtime.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_events SET status = 'pending', attempts = 0,"
                " processed_at = NULL WHERE external_id LIKE 'r%'"
            )
        )
    assert await _drain(runtime, spy) == 10
    assert spy.sizes == [5, 10] and spy.failed == 0
    assert await _level(client, tenant) == (20, 10)
    assert await _rows(runtime, "SELECT count(*) FROM orders") == [(5,)]
    assert await _rows(runtime, "SELECT count(*) FROM order_lines") == [(10,)]
    assert await _rows(runtime, "SELECT count(*) FROM reservations") == [(5,)]
    assert await _rows(
        runtime, "SELECT count(*) FROM stock_movements WHERE reason = 'reserve'"
    ) == [(5,)]
    assert await _agree(runtime, tenant) == {"SKU-1": (20, 10)}
