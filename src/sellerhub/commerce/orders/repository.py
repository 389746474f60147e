from __future__ import annotations

import uuid
from typing import Any, LiteralString

from sqlalchemy import bindparam, delete, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.orders.mapping import NormalisedOrder
from sellerhub.commerce.orders.models import Order, OrderLine
from sellerhub.core.errors import TenantScopeViolation
from sellerhub.core.ids import uuid7
from sellerhub.db.reads import Read, TenantReader
from sellerhub.db.tenancy import tenant_of

# One page of orders, newest first: the filters, the cursor and the one extra row that tells
# whether a next page exists. Shared by the API's JSON (_PAGE_SQL) and the orders page's rows
# (_ROWS_SQL), so both list exactly the same orders.
_PAGE_CTE: LiteralString = (
    "WITH page AS ("
    " SELECT id, channel, connection_id, external_id, number, status, currency, total_minor,"
    " customer_email, placed_at, provider_updated_at AS updated_at FROM orders"
    " WHERE organization_id = %(organization_id)s"
    " AND (%(channel)s::text IS NULL OR channel = %(channel)s::text)"
    " AND (%(status)s::text IS NULL OR status = %(status)s::text)"
    " AND (%(before)s::uuid IS NULL OR id < %(before)s::uuid)"
    " ORDER BY id DESC LIMIT %(limit)s + 1)"
)
_NEXT_CURSOR: LiteralString = (
    " CASE WHEN (SELECT count(*) FROM page) > %(limit)s THEN"
    " (SELECT id FROM page ORDER BY id DESC OFFSET %(limit)s - 1 LIMIT 1) END"
)
_PAGE_SQL: LiteralString = (
    _PAGE_CTE  # noqa: S608 - constants only (LiteralString, checked by mypy)
    + " SELECT json_build_object("
    " 'items', coalesce((SELECT json_agg(o ORDER BY o.id DESC) FROM ("
    "   SELECT p.*, coalesce((SELECT json_agg(json_build_object('sku', l.sku, 'title', l.title,"
    "   'quantity', l.quantity, 'unit_price_minor', l.unit_price_minor) ORDER BY l.id)"
    "   FROM order_lines l WHERE l.order_id = p.id"
    "   AND l.organization_id = %(organization_id)s), '[]'::json) AS lines"
    "   FROM page p ORDER BY p.id DESC LIMIT %(limit)s) o), '[]'::json),"
    " 'next_cursor'," + _NEXT_CURSOR + ")::text"
)
# The same page as the orders page shows it: only the columns it shows, each order and line a
# JSON array in the order of ORDER_ROW / LINE_ROW (no keys to write or parse). For 50 orders
# with their lines, 1.6 ms in PostgreSQL and 49 us to parse against 2.0 ms and 112 us for
# _PAGE_SQL, measured alternately on the same data.
_ROWS_SQL: LiteralString = (
    _PAGE_CTE  # noqa: S608 - constants only (LiteralString, checked by mypy)
    + " SELECT json_build_array(coalesce((SELECT json_agg(json_build_array("
    "   p.number, p.external_id, p.channel, p.connection_id, p.status, p.currency, p.total_minor,"
    "   coalesce(p.placed_at, p.updated_at),"
    "   (SELECT json_agg(json_build_array(l.sku, l.title, l.quantity, l.unit_price_minor)"
    "   ORDER BY l.id) FROM order_lines l WHERE l.order_id = p.id"
    "   AND l.organization_id = %(organization_id)s)) ORDER BY p.id DESC)"
    "   FROM (SELECT * FROM page ORDER BY id DESC LIMIT %(limit)s) p), '[]'::json),"
    + _NEXT_CURSOR
    + ")::text"
)
ORDER_ROW = (
    "number",
    "external_id",
    "channel",
    "connection_id",
    "status",
    "currency",
    "total_minor",
    "placed_or_updated_at",
    "lines",
)
LINE_ROW = ("sku", "title", "quantity", "unit_price_minor")

_COUNT_SQL: LiteralString = (
    "SELECT count(*) FROM orders WHERE organization_id = %(organization_id)s"
)


_UPDATED = (
    "number",
    "status",
    "currency",
    "total_minor",
    "customer_email",
    "placed_at",
    "provider_updated_at",
)


def _upsert_statement() -> Any:
    """Built once: insert, or update when the provider's ``updated_at`` is newer; returns the
    id and whether the row is new (``xmax = 0``), nothing for an older or equal version."""
    names = ("id", "organization_id", "connection_id", "channel", "external_id", *_UPDATED)
    stmt = pg_insert(Order).values({name: bindparam(name) for name in names})
    return stmt.on_conflict_do_update(
        index_elements=["organization_id", "connection_id", "external_id"],
        set_={**{k: stmt.excluded[k] for k in _UPDATED}, "updated_at": func.now()},
        where=Order.provider_updated_at < stmt.excluded.provider_updated_at,
    ).returning(Order.id, literal_column("xmax = 0"))


_UPSERT = _upsert_statement()


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def count(self) -> int:
        """Orders of the session's organization (scoped centrally, ``db.tenancy``)."""
        return int((await self.session.execute(select(func.count(Order.id)))).scalar_one())

    async def upsert(
        self,
        organization_id: uuid.UUID,
        channel: str,
        connection_id: uuid.UUID,
        order: NormalisedOrder,
    ) -> uuid.UUID | None:
        """Insert, or update when the provider's ``updated_at`` is newer, the order of this
        store (connection) with this external id; None when the stored order is as new or newer
        (a late, older event changes nothing)."""
        if tenant_of(self.session) != organization_id:
            raise TenantScopeViolation("orders are written only in their organization's scope")
        row = (
            await self.session.execute(
                _UPSERT,
                {
                    "id": uuid7(),
                    "organization_id": organization_id,
                    "channel": channel,
                    "external_id": order.external_id,
                    "number": order.number,
                    "status": order.status,
                    "currency": order.currency,
                    "total_minor": order.total_minor,
                    "customer_email": order.customer_email,
                    "placed_at": order.placed_at,
                    "provider_updated_at": order.updated_at,
                    "connection_id": connection_id,
                },
            )
        ).one_or_none()
        if row is None:
            return None
        order_id: uuid.UUID = row[0]
        inserted: bool = row[1]
        if not inserted:  # an update: the lines are replaced
            await self.session.execute(delete(OrderLine).where(OrderLine.order_id == order_id))
        if order.lines:
            await self.session.execute(
                insert(OrderLine),
                [
                    {
                        "id": uuid7(),
                        "organization_id": organization_id,
                        "order_id": order_id,
                        "external_id": line.external_id,
                        "sku": line.sku,
                        "title": line.title,
                        "quantity": line.quantity,
                        "unit_price_minor": line.unit_price_minor,
                    }
                    for line in order.lines
                ],
            )
        return order_id

    async def upsert_many(
        self,
        organization_id: uuid.UUID,
        orders: list[tuple[str, uuid.UUID, NormalisedOrder]],
    ) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        """``upsert`` for many orders of the organization in one statement (at most one
        version per store and external id; rows taken in (store, external id) order, so two
        batches lock shared orders in the same order), their lines replaced in one DELETE and
        one INSERT. Returns the id of each order created or updated, by (connection, external
        id); an older or equal version is absent, as with ``upsert``."""
        if tenant_of(self.session) != organization_id:
            raise TenantScopeViolation("orders are written only in their organization's scope")
        if not orders:
            return {}
        ordered = sorted(orders, key=lambda item: (str(item[1]), item[2].external_id))
        stmt = pg_insert(Order).values(
            [
                {
                    "id": uuid7(),
                    "organization_id": organization_id,
                    "channel": channel,
                    "connection_id": connection_id,
                    "external_id": order.external_id,
                    "number": order.number,
                    "status": order.status,
                    "currency": order.currency,
                    "total_minor": order.total_minor,
                    "customer_email": order.customer_email,
                    "placed_at": order.placed_at,
                    "provider_updated_at": order.updated_at,
                }
                for channel, connection_id, order in ordered
            ]
        )
        upsert: Any = stmt.on_conflict_do_update(
            index_elements=["organization_id", "connection_id", "external_id"],
            set_={**{k: stmt.excluded[k] for k in _UPDATED}, "updated_at": func.now()},
            where=Order.provider_updated_at < stmt.excluded.provider_updated_at,
        ).returning(Order.id, Order.connection_id, Order.external_id, literal_column("xmax = 0"))
        rows = (await self.session.execute(upsert)).all()
        changed = {(row[1], row[2]): row[0] for row in rows}
        updated = [row[0] for row in rows if not row[3]]
        if updated:  # an update: the lines are replaced
            await self.session.execute(
                delete(OrderLine)
                .where(OrderLine.order_id.in_(updated))
                .execution_options(synchronize_session=False)
            )
        lines = [
            {
                "id": uuid7(),
                "organization_id": organization_id,
                "order_id": changed[(connection_id, order.external_id)],
                "external_id": line.external_id,
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for _, connection_id, order in ordered
            if (connection_id, order.external_id) in changed
            for line in order.lines
        ]
        if lines:
            await self.session.execute(insert(OrderLine), lines)
        return changed

    @staticmethod
    def count_read() -> Read[int]:
        return Read(_COUNT_SQL, decode=int)

    @staticmethod
    def rows_read(
        *, limit: int, before: uuid.UUID | None, channel: str | None, status: str | None
    ) -> Read[str]:
        """The orders of ``page_json`` as rows (``ORDER_ROW``, ``LINE_ROW``): JSON text
        ``[[order, …], next_cursor]``."""
        params = {"limit": limit, "before": before, "channel": channel, "status": status}
        return Read(_ROWS_SQL, params, str)

    @staticmethod
    async def page_json(
        reader: TenantReader,
        *,
        limit: int,
        before: uuid.UUID | None,
        channel: str | None,
        status: str | None,
    ) -> str:
        result = await reader.scalar(
            _PAGE_SQL, limit=limit, before=before, channel=channel, status=status
        )
        return str(result)
