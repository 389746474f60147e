"""Every statement of the FBA sync: products by seller SKU, the ``fba`` location of a
marketplace, the levels of a page of summaries with their journal, and the snapshots.

Writes are set-based per page (one statement per kind of row, however many SKUs the page
holds) and go through the ORM entities, so the central tenant rule applies; inserts check the
session's tenant themselves, as ``orders.repository`` does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from sqlalchemy import Integer, Uuid, column, func, literal_column, select, update, values
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.catalog.models import Product
from sellerhub.commerce.inventory.fba.models import FbaSnapshot, FbaSnapshotItem, SnapshotStatus
from sellerhub.commerce.inventory.models import Location, LocationKind, StockLevel, StockMovement
from sellerhub.core.errors import TenantScopeViolation
from sellerhub.core.ids import uuid7
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import tenant_of

REASON = "fba_sync"
QUANTITIES = (
    "fulfillable",
    "inbound_working",
    "inbound_shipped",
    "inbound_receiving",
    "reserved",
    "reserved_customer_orders",
    "reserved_transshipment",
    "reserved_fc_processing",
    "researching",
    "unfulfillable",
    "unfulfillable_customer_damaged",
    "unfulfillable_warehouse_damaged",
    "unfulfillable_distributor_damaged",
    "unfulfillable_carrier_damaged",
    "unfulfillable_defective",
    "unfulfillable_expired",
    "total_quantity",
)


@dataclass(frozen=True)
class ProductRef:
    id: uuid.UUID
    sku: str
    archived: bool


@dataclass(frozen=True)
class LevelChange:
    product_id: uuid.UUID
    on_hand_before: int
    on_hand_after: int
    reserved: int


class FbaRepository:
    def __init__(self, session: AsyncSession, organization_id: uuid.UUID) -> None:
        if tenant_of(session) != organization_id:
            raise TenantScopeViolation("FBA inventory is written only in its organization's scope")
        self.session = session
        self.organization_id = organization_id

    # -- products and locations ----------------------------------------------------------------

    async def ensure_products(self, rows: Sequence[dict[str, str | None]]) -> list[ProductRef]:
        """Create the products of unknown SKUs (title, ASIN, FNSKU from Amazon) and fill in an
        ASIN or FNSKU a known product lacks; answer every SKU's product. ``rows``: sku, title,
        asin, fnsku, one per SKU."""
        if not rows:
            return []
        stmt = pg_insert(Product).values(
            [
                {
                    "id": uuid7(),
                    "organization_id": self.organization_id,
                    "sku": row["sku"],
                    "title": row["title"] or "",
                    "asin": row["asin"],
                    "fnsku": row["fnsku"],
                }
                for row in rows
            ]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["organization_id", "sku"],
            set_={
                "asin": func.coalesce(Product.asin, stmt.excluded.asin),
                "fnsku": func.coalesce(Product.fnsku, stmt.excluded.fnsku),
                "updated_at": func.now(),
            },
            where=(Product.asin.is_(None) & stmt.excluded.asin.is_not(None))
            | (Product.fnsku.is_(None) & stmt.excluded.fnsku.is_not(None)),
        )
        await self.session.execute(stmt)
        skus = [row["sku"] for row in rows]
        found = await self.session.execute(
            select(Product.id, Product.sku, Product.archived_at).where(Product.sku.in_(skus))
        )
        return [ProductRef(pid, sku, archived is not None) for pid, sku, archived in found]

    async def fba_location(self, marketplace_id: str) -> Location | None:
        return await self.session.scalar(
            select(Location)
            .where(
                Location.kind == LocationKind.FBA.value, Location.marketplace_id == marketplace_id
            )
            .order_by(Location.id)
            .limit(1)
        )

    async def create_fba_location(
        self, marketplace_id: str, connection_id: uuid.UUID, code: str, name: str
    ) -> None:
        """Insert the marketplace's location unless its code exists (a concurrent run)."""
        await self.session.execute(
            pg_insert(Location)
            .values(
                id=uuid7(),
                organization_id=self.organization_id,
                code=code,
                name=name,
                kind=LocationKind.FBA,
                marketplace_id=marketplace_id,
                connection_id=connection_id,
            )
            .on_conflict_do_nothing(index_elements=["organization_id", "code"])
        )

    # -- levels and their journal ----------------------------------------------------------------

    async def set_on_hand(
        self,
        location_id: uuid.UUID,
        targets: dict[uuid.UUID, int],
        *,
        source: str,
        idempotency_key: str,
    ) -> list[LevelChange]:
        """Set ``on_hand`` of these products at the location and journal each change (one
        movement per level that changed, with the quantities after), all set-based: missing
        levels are created at 0, the levels are locked in product order (the fixed order every
        writer uses), the changed ones updated in one statement and journaled in one. A level
        whose own reservations exceed the target keeps ``on_hand = reserved`` (the CHECK
        ``reserved <= on_hand``); the caller counts those."""
        if not targets:
            return []
        ordered = sorted(targets)
        await self.session.execute(
            pg_insert(StockLevel)
            .values(
                [
                    {
                        "organization_id": self.organization_id,
                        "product_id": product_id,
                        "location_id": location_id,
                        "on_hand": 0,
                        "reserved": 0,
                    }
                    for product_id in ordered
                ]
            )
            .on_conflict_do_nothing(index_elements=["organization_id", "product_id", "location_id"])
        )
        current = await self.session.execute(
            select(StockLevel.product_id, StockLevel.on_hand, StockLevel.reserved)
            .where(StockLevel.location_id == location_id, StockLevel.product_id.in_(ordered))
            .order_by(StockLevel.product_id)
            .with_for_update()
        )
        changes = [
            LevelChange(pid, on_hand, max(targets[pid], reserved), reserved)
            for pid, on_hand, reserved in current
            if max(targets[pid], reserved) != on_hand
        ]
        if not changes:
            return []
        new = values(column("product_id", Uuid), column("on_hand", Integer), name="fba_new").data(
            [(c.product_id, c.on_hand_after) for c in changes]
        )
        await self.session.execute(
            update(StockLevel)
            .where(
                StockLevel.organization_id == self.organization_id,
                StockLevel.location_id == location_id,
                StockLevel.product_id == new.c.product_id,
            )
            .values(on_hand=new.c.on_hand, updated_at=func.now())
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(
            pg_insert(StockMovement).values(
                [
                    {
                        "organization_id": self.organization_id,
                        "product_id": c.product_id,
                        "location_id": location_id,
                        "delta_on_hand": c.on_hand_after - c.on_hand_before,
                        "delta_reserved": 0,
                        "on_hand_after": c.on_hand_after,
                        "reserved_after": c.reserved,
                        "reason": REASON,
                        "source": source,
                        "idempotency_key": idempotency_key,
                    }
                    for c in changes
                ]
            )
        )
        return changes

    # -- snapshots -------------------------------------------------------------------------------

    async def snapshot_of_job(self, sync_job_id: uuid.UUID) -> FbaSnapshot | None:
        return await self.session.scalar(
            select(FbaSnapshot).where(FbaSnapshot.sync_job_id == sync_job_id).with_for_update()
        )

    def add_snapshot(self, snapshot: FbaSnapshot) -> None:
        self.session.add(snapshot)

    async def upsert_items(self, snapshot_id: uuid.UUID, rows: Sequence[dict[str, object]]) -> int:
        """Write the page's items into the snapshot (a page read again replaces its items);
        returns how many were new to it."""
        if not rows:
            return 0
        stmt = pg_insert(FbaSnapshotItem).values(
            [
                {**row, "organization_id": self.organization_id, "snapshot_id": snapshot_id}
                for row in rows
            ]
        )
        updated = ("fnsku", "asin", "condition", "product_id", "last_updated_at", *QUANTITIES)
        upsert: Any = stmt.on_conflict_do_update(
            index_elements=["snapshot_id", "marketplace_id", "seller_sku"],
            set_={name: stmt.excluded[name] for name in updated},
        ).returning(literal_column("xmax = 0"))
        result = await self.session.execute(upsert)
        return sum(1 for (inserted,) in result if inserted)

    async def snapshots(self, *, limit: int, before: uuid.UUID | None) -> Sequence[FbaSnapshot]:
        """Newest first; ``limit + 1`` rows so the caller knows whether a next page exists."""
        stmt = select(FbaSnapshot).order_by(FbaSnapshot.id.desc()).limit(limit + 1)
        if before is not None:
            stmt = stmt.where(FbaSnapshot.id < before)
        return (await self.session.execute(stmt)).scalars().all()

    async def snapshot(self, snapshot_id: uuid.UUID) -> FbaSnapshot | None:
        return await self.session.scalar(select(FbaSnapshot).where(FbaSnapshot.id == snapshot_id))

    async def items(
        self,
        snapshot_id: uuid.UUID,
        *,
        limit: int,
        after: tuple[str, str] | None,
        marketplace_id: str | None,
        sku: str | None,
    ) -> Sequence[FbaSnapshotItem]:
        """By (marketplace, SKU); ``limit + 1`` rows."""
        stmt = (
            select(FbaSnapshotItem)
            .where(FbaSnapshotItem.snapshot_id == snapshot_id)
            .order_by(FbaSnapshotItem.marketplace_id, FbaSnapshotItem.seller_sku)
            .limit(limit + 1)
        )
        if after is not None:
            stmt = stmt.where(
                (FbaSnapshotItem.marketplace_id > after[0])
                | (
                    (FbaSnapshotItem.marketplace_id == after[0])
                    & (FbaSnapshotItem.seller_sku > after[1])
                )
            )
        if marketplace_id is not None:
            stmt = stmt.where(FbaSnapshotItem.marketplace_id == marketplace_id)
        if sku is not None:
            stmt = stmt.where(FbaSnapshotItem.seller_sku == sku)
        return (await self.session.execute(stmt)).scalars().all()


def snapshot_row(
    *,
    connection_id: uuid.UUID,
    sync_job_id: uuid.UUID,
    organization_id: uuid.UUID,
    taken_at: datetime,
) -> FbaSnapshot:
    snapshot = FbaSnapshot(
        organization_id=organization_id,
        connection_id=connection_id,
        sync_job_id=sync_job_id,
        taken_at=taken_at,
        status=SnapshotStatus.PARTIAL,
        items=0,
    )
    snapshot.ensure_id()
    return snapshot


_LATEST_SQL: LiteralString = (
    "SELECT row_to_json(s) FROM (SELECT id, connection_id, sync_job_id, status, taken_at,"
    " completed_at, items FROM fba_snapshots WHERE organization_id = %(organization_id)s"
    " ORDER BY id DESC LIMIT 1) s"
)


def latest_snapshot_json() -> Read[dict[str, Any] | None]:
    return Read(_LATEST_SQL)
