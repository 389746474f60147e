"""The orders list writes its rows in Python (web.pages.orders._row_html, the page's hot loop):
every value from the database is escaped, and amounts keep their currency's decimals. Its rows
come from their own read (orders.rows_read), which lists exactly what the API lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from sellerhub.commerce.orders import mapping
from sellerhub.commerce.orders import service as orders
from sellerhub.commerce.orders.repository import LINE_ROW, ORDER_ROW
from sellerhub.connections import service as connections
from sellerhub.db.reads import TenantReader
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.runtime import Runtime
from tests.conftest import Tenant
from tests.test_web_dashboard import _signed_in

HOSTILE = '"><script>alert(1)</script>'
TIMES = "\N{MULTIPLICATION SIGN}"


async def test_order_rows_escape_every_value_and_format_money_exactly(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection, _ = await connections.activate(
            session,
            organization_id=tenant.organization.id,
            provider="shopify",
            account="rows.myshopify.com",
            display_name="<b>Rows & Co</b>",
        )
        placed = datetime(2026, 3, 4, 5, 6, tzinfo=UTC)
        for n, (currency, total, lines) in enumerate(
            [
                ("KWD", 12_345, [mapping.NormalisedLine("1", "A&B", HOSTILE, 2, 1_250)]),
                ("JPY", 1_500, [mapping.NormalisedLine("2", "", "", 1, 1_500)]),
                ("USD", 1_999, []),
                ("usd", 123_456_789, [mapping.NormalisedLine("4", "O'Neil", "", 1, 5)]),
            ]
        ):
            await orders.apply(
                session,
                tenant.organization.id,
                "shopify",
                connection.id,
                mapping.NormalisedOrder(
                    external_id=str(n),
                    number=f"<i>#{n}</i>",
                    status="partially_paid" if n == 0 else "<u>odd</u>",
                    currency=currency,
                    total_minor=total,
                    customer_email=None,
                    placed_at=placed,
                    updated_at=placed,
                    lines=lines,
                ),
            )
    await _signed_in(client, runtime, tenant)
    page = await client.get("/orders")
    assert page.status_code == 200
    html = page.text
    for raw in ("<script>alert(1)", "<i>#", "<b>Rows", "<u>odd"):
        assert raw not in html
    assert "&lt;i&gt;#0&lt;/i&gt;" in html and "&lt;u&gt;odd&lt;/u&gt;" in html
    assert "&lt;b&gt;Rows &amp; Co&lt;/b&gt;" in html  # the store's name under the channel
    assert '<span class="sku">A&amp;B</span>' in html
    assert f"2 {TIMES} &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "KWD 12.345" in html and "at KWD 1.250" in html  # three decimals
    assert "JPY 1,500" in html and f"1 {TIMES} item at JPY 1,500" in html  # none; no title: "item"
    assert "USD 19.99" in html and "no lines" in html
    assert "partially paid" in html and "2026-03-04 05:06" in html
    # a line without a title is named by its SKU; apostrophes escaped; thousands separated
    assert f'1 {TIMES} O&#x27;Neil <span class="sku">O&#x27;Neil</span> at USD 0.05' in html
    assert "USD 1,234,567.89" in html
    assert html.count('<th scope="row">') == 4


async def test_the_page_lists_exactly_the_orders_the_api_lists(
    client: httpx.AsyncClient, runtime: Runtime, tenant: Tenant
) -> None:
    """The page reads its rows with its own statement (only the columns it shows); for every
    filter, page size and cursor it lists the same orders, in the same order, with the same
    next cursor as ``GET /api/v1/orders``."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, tenant.organization.id)
        connection, _ = await connections.activate(
            session,
            organization_id=tenant.organization.id,
            provider="shopify",
            account="same.myshopify.com",
        )
        for n in range(7):
            placed = datetime(2026, 3, 4, 5, n, tzinfo=UTC)
            await orders.apply(
                session,
                tenant.organization.id,
                "shopify",
                connection.id,
                mapping.NormalisedOrder(
                    external_id=f"same-{n}",
                    number=f"S{n}",
                    status=("paid", "refunded")[n % 2],
                    currency="EUR",
                    total_minor=100 * n,
                    customer_email=None,
                    placed_at=None if n == 3 else placed,
                    updated_at=placed,
                    lines=[mapping.NormalisedLine(str(n), f"K{n}", f"T{n}", 1, 100 * n)][: n % 3],
                ),
            )
    await _signed_in(client, runtime, tenant)
    reader = TenantReader(runtime.reads, tenant.organization.id)
    cases: list[dict[str, Any]] = [
        {"limit": 50},
        {"limit": 3},
        {"limit": 2, "status": "paid"},
        {"limit": 50, "status": "refunded"},
        {"limit": 1, "channel": "shopify"},
        {"limit": 50, "channel": "amazon"},
    ]
    checked = 0
    for case in cases:
        cursor: str | None = None
        while True:
            params = {**case, **({"cursor": cursor} if cursor else {})}
            answer = (await client.get("/api/v1/orders", params=params)).json()
            read = orders.rows_read(
                limit=case["limit"],
                before=uuid.UUID(cursor) if cursor else None,
                channel=case.get("channel"),
                status=case.get("status"),
            )
            text: str = await reader.read(read)
            found, next_cursor = orjson.loads(text)
            rows = [dict(zip(ORDER_ROW, row, strict=True)) for row in found]
            assert [r["number"] for r in rows] == [i["number"] for i in answer["items"]]
            for row, item in zip(rows, answer["items"], strict=True):
                assert row["placed_or_updated_at"] == (item["placed_at"] or item["updated_at"])
                assert row["total_minor"] == item["total_minor"]
                lines = [dict(zip(LINE_ROW, line, strict=True)) for line in row["lines"] or []]
                assert lines == item["lines"]
            assert next_cursor == answer["next_cursor"]
            checked += len(rows)
            cursor = next_cursor
            if cursor is None:
                break
    assert checked == 7 + 7 + 4 + 3 + 7 + 0
