"""Every statement of the claims pipeline. Report rows are written set-based on the session's
own psycopg connection, inside its transaction: ``COPY`` into a temporary staging table (dropped
at commit), then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` into the source's table,
each row keyed by an MD5 of its fields (``models``). Detection reads back only what the rules
need, filtered in SQL. Every statement binds the organization itself (``%(organization_id)s``
from the repository's organization, never a caller's parameter), as the inventory import and
``db.reads.TenantReader`` do, and the connection beside it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Final, LiteralString

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.errors import TenantScopeViolation


@dataclass(frozen=True)
class Source:
    """One stored source: its table, the temporary staging table, the columns written from a
    normalised row (in ``row`` order) and their SQL types."""

    table: str
    staging: str
    columns: tuple[tuple[str, str], ...]
    occurrence: bool = False  # the ledger: identical rows counted, as rules.claim_key does
    row_key: bool = True  # False: the table's own columns are its key (no row_key column)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


LEDGER: Final = Source(
    "claims_ledger_events",
    "claims_stage_ledger",
    (
        ("marketplace_id", "text"),
        ("event_date", "date"),
        ("fnsku", "text"),
        ("asin", "text"),
        ("msku", "text"),
        ("title", "text"),
        ("event_type", "text"),
        ("reference_id", "text"),
        ("quantity", "integer"),
        ("fulfillment_center", "text"),
        ("disposition", "text"),
        ("reason", "text"),
        ("country", "text"),
        ("reconciled_quantity", "integer"),
        ("unreconciled_quantity", "integer"),
        ("occurred_at", "timestamptz"),
    ),
    occurrence=True,
)
REIMBURSEMENTS: Final = Source(
    "claims_reimbursements",
    "claims_stage_reimbursements",
    (
        ("marketplace_id", "text"),
        ("approval_date", "date"),
        ("reimbursement_id", "text"),
        ("case_id", "text"),
        ("amazon_order_id", "text"),
        ("reason", "text"),
        ("sku", "text"),
        ("fnsku", "text"),
        ("asin", "text"),
        ("condition", "text"),
        ("currency", "text"),
        ("amount_per_unit_minor", "bigint"),
        ("amount_total_minor", "bigint"),
        ("quantity_cash", "integer"),
        ("quantity_inventory", "integer"),
        ("quantity_total", "integer"),
        ("original_reimbursement_id", "text"),
        ("original_reimbursement_type", "text"),
    ),
)
RETURNS: Final = Source(
    "claims_customer_returns",
    "claims_stage_returns",
    (
        ("marketplace_id", "text"),
        ("return_date", "date"),
        ("order_id", "text"),
        ("sku", "text"),
        ("asin", "text"),
        ("fnsku", "text"),
        ("quantity", "integer"),
        ("fulfillment_center_id", "text"),
        ("detailed_disposition", "text"),
        ("reason", "text"),
        ("status", "text"),
        ("license_plate_number", "text"),
    ),
)
INBOUND: Final = Source(
    "claims_inbound_items",
    "claims_stage_inbound",
    (
        ("marketplace_id", "text"),
        ("shipment_id", "text"),
        ("fnsku", "text"),
        ("sku", "text"),
        ("quantity_shipped", "integer"),
        ("quantity_received", "integer"),
        ("closed_on", "date"),
        ("country", "text"),
    ),
    row_key=False,
)
REFUNDS: Final = Source(
    "claims_refunds",
    "claims_stage_refunds",
    (
        ("order_id", "text"),
        ("sku", "text"),
        ("posted_date", "date"),
        ("quantity", "integer"),
        ("amount_minor", "bigint"),
        ("currency", "text"),
        ("country", "text"),
    ),
)


def _key_text(names: Iterable[str]) -> str:
    """The text hashed into ``row_key``: every field, NULL spelled apart from any text."""
    parts = [f"coalesce(({name})::text, E'\\\\N')" for name in names]
    return "concat_ws(E'\\x1f', " + ", ".join(parts) + ")"


def _merge_sql(source: Source) -> str:
    """The staged rows into the source's table. Names come from the ``Source`` constants
    above, never from input."""
    names = source.names
    listed = ", ".join(names)
    if not source.row_key:
        return (
            f"INSERT INTO {source.table} (organization_id, connection_id, {listed})"  # noqa: S608
            f" SELECT %(organization_id)s, %(connection_id)s, {listed} FROM {source.staging}"
            " ON CONFLICT DO NOTHING"
        )
    if source.occurrence:
        key = _key_text([*names, "occurrence"])
        return (
            f"INSERT INTO {source.table} (organization_id, connection_id, row_key, {listed},"  # noqa: S608
            " occurrence)"
            f" SELECT %(organization_id)s, %(connection_id)s, md5({key})::uuid, {listed},"
            " occurrence FROM ("
            f"  SELECT {listed}, (row_number() OVER (PARTITION BY {listed}) - 1)::int"
            f"  AS occurrence FROM {source.staging}"
            ") AS s ON CONFLICT DO NOTHING"
        )
    key = _key_text(names)
    return (
        f"INSERT INTO {source.table} (organization_id, connection_id, row_key, {listed})"  # noqa: S608
        f" SELECT %(organization_id)s, %(connection_id)s, md5({key})::uuid, {listed}"
        f" FROM {source.staging} ON CONFLICT DO NOTHING"
    )


# -- detection reads ----------------------------------------------------------------------------

# Ledger adjustments of the codes the warehouse rules read (lost, found, damaged), from
# ``since`` on; and one Receipts row per MSKU (its first), which only tells detection the
# MSKU's FNSKU (``rules.fnskus_of``): the rules read nothing else of receipts without the
# Fulfillment Inbound API's shipments.
_LEDGER_READ: Final = """
SELECT event_date, fnsku, asin, msku, title, event_type, reference_id, quantity,
       fulfillment_center, disposition, reason, country, reconciled_quantity,
       unreconciled_quantity, occurred_at
FROM claims_ledger_events
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
  AND marketplace_id = %(marketplace_id)s AND event_type = 'Adjustments'
  AND upper(reason) = ANY(%(codes)s) AND event_date >= %(since)s
UNION ALL
SELECT * FROM (
    SELECT DISTINCT ON (msku) event_date, fnsku, asin, msku, title, event_type, reference_id,
           quantity, fulfillment_center, disposition, reason, country, reconciled_quantity,
           unreconciled_quantity, occurred_at
    FROM claims_ledger_events
    WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
      AND marketplace_id = %(marketplace_id)s AND event_type = 'Receipts'
      AND msku <> '' AND fnsku <> ''
    ORDER BY msku, event_date, occurred_at
) AS first_receipts
"""

_REIMBURSEMENTS_READ: Final = """
SELECT approval_date, reimbursement_id, case_id, amazon_order_id, reason, sku, fnsku, asin,
       condition, currency, amount_per_unit_minor, amount_total_minor, quantity_cash,
       quantity_inventory, quantity_total, original_reimbursement_id, original_reimbursement_type
FROM claims_reimbursements
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
  AND marketplace_id = %(marketplace_id)s AND approval_date >= %(since)s
"""

_REFUNDS_READ: Final = """
SELECT order_id, sku, posted_date, quantity, amount_minor, currency, country
FROM claims_refunds
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
  AND country = %(country)s AND posted_date >= %(since)s
"""

# The returns of the orders refunded from ``since`` on (whenever the unit came back).
_RETURNS_READ: Final = """
SELECT r.return_date, r.order_id, r.sku, r.asin, r.fnsku, r.quantity, r.fulfillment_center_id,
       r.detailed_disposition, r.reason, r.status, r.license_plate_number
FROM claims_customer_returns r
WHERE r.organization_id = %(organization_id)s AND r.connection_id = %(connection_id)s
  AND r.order_id IN (
    SELECT f.order_id FROM claims_refunds f
    WHERE f.organization_id = %(organization_id)s AND f.connection_id = %(connection_id)s
      AND f.country = %(country)s AND f.posted_date >= %(since)s
  )
"""

# The closed shipments' items of the marketplace seen from ``since`` on, and the ledger's
# receipts of those shipments (what arrived: ``normalise.inbound`` sums them).
_INBOUND_READ: Final = """
SELECT shipment_id, sku, fnsku, quantity_shipped, closed_on, country
FROM claims_inbound_items
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
  AND marketplace_id = %(marketplace_id)s AND closed_on >= %(since)s
"""

_RECEIPTS_READ: Final = """
SELECT event_date, fnsku, asin, msku, title, event_type, reference_id, quantity,
       fulfillment_center, disposition, reason, country, reconciled_quantity,
       unreconciled_quantity, occurred_at
FROM claims_ledger_events
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
  AND marketplace_id = %(marketplace_id)s AND event_type = 'Receipts'
  AND reference_id IN (
    SELECT i.shipment_id FROM claims_inbound_items i
    WHERE i.organization_id = %(organization_id)s AND i.connection_id = %(connection_id)s
      AND i.marketplace_id = %(marketplace_id)s AND i.closed_on >= %(since)s
  )
"""

_COUNTS: Final = """
SELECT (SELECT count(*) FROM claims_ledger_events
        WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s),
       (SELECT count(*) FROM claims_reimbursements
        WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s),
       (SELECT count(*) FROM claims_customer_returns
        WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s),
       (SELECT count(*) FROM claims_refunds
        WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s),
       (SELECT count(*) FROM claims_inbound_items
        WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s)
"""

_MARKETPLACES: Final = """
SELECT DISTINCT marketplace_id FROM claims_ledger_events
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
UNION
SELECT DISTINCT marketplace_id FROM claims_reimbursements
WHERE organization_id = %(organization_id)s AND connection_id = %(connection_id)s
ORDER BY 1
"""


class ReportRowsRepository:
    """The stored report rows of one organization's connection."""

    def __init__(
        self, session: AsyncSession, organization_id: uuid.UUID, connection_id: uuid.UUID
    ) -> None:
        self.session = session
        self.organization_id = organization_id
        self.connection_id = connection_id

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: psycopg.AsyncConnection[Any] = raw.driver_connection  # type: ignore[assignment]
        return driver

    def _params(self, statement: str, params: dict[str, Any]) -> dict[str, Any]:
        if "%(organization_id)s" not in statement or "%(connection_id)s" not in statement:
            raise TenantScopeViolation("a claims statement without its organization")
        return {
            **params,
            "organization_id": self.organization_id,
            "connection_id": self.connection_id,
        }

    async def _rows(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        connection = await self._connection()
        cursor = await connection.execute(
            statement,
            self._params(statement, params),
        )
        return [tuple(row) for row in await cursor.fetchall()]

    # --- writing ---------------------------------------------------------------------------

    async def stage(self, source: Source, rows: AsyncIterator[list[tuple[Any, ...]]]) -> int:
        """``COPY`` the batches into the source's staging table (created for this
        transaction); returns the rows copied."""
        connection = await self._connection()
        columns = ", ".join(f"{name} {kind}" for name, kind in source.columns)
        await connection.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {source.staging} ({columns}) ON COMMIT DROP"
        )
        await connection.execute(f"TRUNCATE {source.staging}")
        statement: LiteralString = "COPY {} ({}) FROM STDIN"
        copied = 0
        async with (
            connection.cursor() as cursor,
            cursor.copy(statement.format(source.staging, ", ".join(source.names))) as copy,
        ):
            async for batch in rows:
                for row in batch:
                    await copy.write_row(row)
                copied += len(batch)
        return copied

    async def merge(self, source: Source) -> int:
        """The staged rows not stored yet, inserted; returns how many were new."""
        connection = await self._connection()
        statement = _merge_sql(source)
        cursor = await connection.execute(
            statement,
            self._params(statement, {}),
        )
        return max(cursor.rowcount, 0)

    # --- reading ---------------------------------------------------------------------------

    async def ledger(
        self, marketplace_id: str, *, codes: Iterable[str], since: dt.date
    ) -> list[tuple[Any, ...]]:
        return await self._rows(
            _LEDGER_READ, marketplace_id=marketplace_id, codes=sorted(codes), since=since
        )

    async def reimbursements(self, marketplace_id: str, *, since: dt.date) -> list[tuple[Any, ...]]:
        return await self._rows(_REIMBURSEMENTS_READ, marketplace_id=marketplace_id, since=since)

    async def refunds(self, country: str, *, since: dt.date) -> list[tuple[Any, ...]]:
        return await self._rows(_REFUNDS_READ, country=country, since=since)

    async def returns(self, country: str, *, since: dt.date) -> list[tuple[Any, ...]]:
        return await self._rows(_RETURNS_READ, country=country, since=since)

    async def inbound(self, marketplace_id: str, *, since: dt.date) -> list[tuple[Any, ...]]:
        return await self._rows(_INBOUND_READ, marketplace_id=marketplace_id, since=since)

    async def receipts(self, marketplace_id: str, *, since: dt.date) -> list[tuple[Any, ...]]:
        return await self._rows(_RECEIPTS_READ, marketplace_id=marketplace_id, since=since)

    async def marketplaces(self) -> list[str]:
        return [str(row[0]) for row in await self._rows(_MARKETPLACES)]

    async def counts(self) -> tuple[int, int, int, int, int]:
        (row,) = await self._rows(_COUNTS)
        return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])
