"""The Amazon FBA inventory sync's own work, for the sync-job runner (``commerce.sync``, resource
``fba_inventory``): read one page of ``getInventorySummaries`` and apply it.

**Paging.** The connection's participating marketplaces (recorded at connect) are read one after
the other in id order, every page of each (``details=true``, 50 summaries a page at Amazon's
default). The job's cursor is ``{"marketplace": id, "next_token": token | null}``: the page
to read next, committed with the page before it, so a run stopped anywhere continues with the
next unread page. Amazon's ``nextToken`` expires 30 s after it is issued; a run resumed later is
refused (400) and reads that marketplace again from its first page (a page read again replaces
its snapshot items and changes levels only where Amazon's numbers moved).

**What the levels hold.** The marketplace's ``fba`` location (``fba-<marketplaceId>``, created
on first sight) gets ``on_hand = fulfillableQuantity``: the units Amazon can ship now. Amazon has
already taken reserved units (customer orders, transshipment, FC processing) out of fulfillable,
inbound units are not in a fulfillment center's sellable stock yet, and unfulfillable or
researching units cannot be sold: counting any of them as on hand would offer units twice or
units that do not exist. All of them are kept, with their breakdowns, in the run's snapshot
(``fba_snapshot_items``). FBA is read-only for us (Amazon reserves for its own orders), so
``reserved`` is left alone; should a level's own reservations exceed fulfillable, ``on_hand``
stays at ``reserved`` (the CHECK ``reserved <= on_hand``) and the page counts it as clamped.

**Journal.** Every level that changes gets one ``stock_movements`` row in the page's transaction:
reason ``fba_sync``, source ``fba-sync:<job id>``, the idempotency key
``fba-sync:<job id>:<page number>``, the quantities after. A second run journals only what
Amazon changed in between.

Unknown seller SKUs become products (title, ASIN, FNSKU from the summary); a known product
lacking an ASIN or FNSKU gets Amazon's. Archived products keep their level (no new stock), their
items are still in the snapshot."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.inventory.fba.errors import (
    FbaLocationTaken,
    InventoryRefused,
    InventoryThrottled,
    NotAnAmazonSeller,
)
from sellerhub.commerce.inventory.fba.models import FbaSnapshot, FbaSnapshotItem, SnapshotStatus
from sellerhub.commerce.inventory.fba.repository import (
    FbaRepository,
    latest_snapshot_json,
    snapshot_row,
)
from sellerhub.commerce.inventory.fba.schemas import (
    SnapshotItemOut,
    SnapshotItemPage,
    SnapshotOut,
    SnapshotPage,
)
from sellerhub.connections import service as connections
from sellerhub.connections.models import ConnectionStatus
from sellerhub.connections.providers.amazon_spapi import inventory as spapi
from sellerhub.connections.refresh import RefreshContext, access_token_for
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound, UpstreamUnavailable, ValidationFailed
from sellerhub.core.logging import get_logger
from sellerhub.db.reads import Read

log = get_logger(__name__)

PROVIDER = "amazon_spapi"
MAX_CURSOR = 2000  # sync_jobs.cursor


# -- the cursor ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    marketplace_id: str
    next_token: str | None = None

    def encode(self) -> str:
        text = json.dumps({"marketplace": self.marketplace_id, "next_token": self.next_token})
        if len(text) > MAX_CURSOR:  # an unusually long token: resume at the marketplace's start
            log.warning("fba_sync.next_token_too_long", marketplace_id=self.marketplace_id)
            return json.dumps({"marketplace": self.marketplace_id, "next_token": None})
        return text

    @classmethod
    def decode(cls, cursor: str | None) -> Position | None:
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
            marketplace, token = data["marketplace"], data.get("next_token")
        except (ValueError, KeyError, TypeError):
            return None  # not ours: start over
        if not isinstance(marketplace, str) or not (token is None or isinstance(token, str)):
            return None
        return cls(marketplace, token)


def marketplaces_of(details: dict[str, Any]) -> list[str]:
    """The participating marketplace ids recorded on the connection, in id order."""
    found = details.get("marketplaces") or []
    ids = {
        str(m["id"])
        for m in found
        if isinstance(m, dict) and m.get("id") and m.get("participating", True)
    }
    return sorted(ids)


# -- reading a page --------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchedPage:
    marketplace_id: str
    summaries: list[dict[str, Any]]
    next_cursor: str | None  # None: every marketplace is read
    restarted: bool = False  # the saved nextToken had expired: the marketplace was read again


async def fetch_page(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    cursor: str | None,
) -> FetchedPage:
    """The page at ``cursor`` (None: the first marketplace's first page). Raises
    ``InventoryThrottled`` (429 after the client's retries), ``UpstreamUnavailable`` (5xx or
    unreachable), ``InventoryRefused`` (any other refusal) or ``ValueError`` (a malformed 200)."""
    fresh = await access_token_for(ctx, organization_id, connection_id)
    marketplaces = marketplaces_of(fresh.details)
    if not marketplaces:
        raise InventoryRefused("the Amazon connection has no participating marketplace")
    position = Position.decode(cursor) or Position(marketplaces[0])
    if position.marketplace_id not in marketplaces:  # no longer authorized: the next one
        later = [m for m in marketplaces if m > position.marketplace_id]
        if not later:
            return FetchedPage(position.marketplace_id, [], None)
        position = Position(later[0])
    restarted = False
    while True:
        response = await spapi.get_inventory_summaries(
            ctx,
            organization_id,
            connection_id,
            position.marketplace_id,
            next_token=position.next_token,
        )
        if response.status_code == 400 and position.next_token is not None and not restarted:
            log.info(
                "fba_sync.next_token_refused",
                marketplace_id=position.marketplace_id,
                reason=spapi.error_text(response),
            )
            position, restarted = Position(position.marketplace_id), True
            continue
        break
    if response.status_code == 429:
        raise InventoryThrottled("Amazon is still throttling getInventorySummaries")
    if response.status_code >= 500:
        raise UpstreamUnavailable(
            f"Amazon answered {response.status_code} ({spapi.error_text(response)})"
        )
    if response.status_code != 200:
        raise InventoryRefused(
            f"Amazon refused the FBA inventory listing ({response.status_code}): "
            f"{spapi.error_text(response)}"
        )
    page = spapi.InventoryPage.parse(position.marketplace_id, response)
    if page.next_token is not None:
        following: Position | None = Position(position.marketplace_id, page.next_token)
    else:
        later = [m for m in marketplaces if m > position.marketplace_id]
        following = Position(later[0]) if later else None
    return FetchedPage(
        position.marketplace_id,
        page.summaries,
        following.encode() if following is not None else None,
        restarted,
    )


# -- applying a page -------------------------------------------------------------------------


@dataclass
class Applied:
    changed: int = 0  # levels whose on_hand changed (one movement each)
    skipped: int = 0  # summaries we could not read
    clamped: int = 0  # levels kept at their own reservations


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("not a non-negative integer")
    return value


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def item_row(marketplace_id: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A snapshot item from a wire ``InventorySummary``; ValueError when it is unusable."""
    sku = summary.get("sellerSku")
    if not isinstance(sku, str) or not sku or len(sku) > 200:
        raise ValueError("no usable sellerSku")
    details = summary.get("inventoryDetails") or {}
    reserved = details.get("reservedQuantity") or {}
    researching = details.get("researchingQuantity") or {}
    unfulfillable = details.get("unfulfillableQuantity") or {}
    if not all(isinstance(d, dict) for d in (details, reserved, researching, unfulfillable)):
        raise ValueError("inventoryDetails is not an object")
    return {
        "marketplace_id": marketplace_id,
        "seller_sku": sku,
        "fnsku": _text(summary.get("fnSku"), 20),
        "asin": _text(summary.get("asin"), 20),
        "condition": _text(summary.get("condition"), 50),
        "last_updated_at": _moment(summary.get("lastUpdatedTime")),
        "title": _text(summary.get("productName"), 500),
        "fulfillable": _count(details.get("fulfillableQuantity", 0)),
        "inbound_working": _count(details.get("inboundWorkingQuantity", 0)),
        "inbound_shipped": _count(details.get("inboundShippedQuantity", 0)),
        "inbound_receiving": _count(details.get("inboundReceivingQuantity", 0)),
        "reserved": _count(reserved.get("totalReservedQuantity", 0)),
        "reserved_customer_orders": _count(reserved.get("pendingCustomerOrderQuantity", 0)),
        "reserved_transshipment": _count(reserved.get("pendingTransshipmentQuantity", 0)),
        "reserved_fc_processing": _count(reserved.get("fcProcessingQuantity", 0)),
        "researching": _count(researching.get("totalResearchingQuantity", 0)),
        "unfulfillable": _count(unfulfillable.get("totalUnfulfillableQuantity", 0)),
        "unfulfillable_customer_damaged": _count(unfulfillable.get("customerDamagedQuantity", 0)),
        "unfulfillable_warehouse_damaged": _count(unfulfillable.get("warehouseDamagedQuantity", 0)),
        "unfulfillable_distributor_damaged": _count(
            unfulfillable.get("distributorDamagedQuantity", 0)
        ),
        "unfulfillable_carrier_damaged": _count(unfulfillable.get("carrierDamagedQuantity", 0)),
        "unfulfillable_defective": _count(unfulfillable.get("defectiveQuantity", 0)),
        "unfulfillable_expired": _count(unfulfillable.get("expiredQuantity", 0)),
        "total_quantity": _count(summary.get("totalQuantity", 0)),
    }


async def _location_id(
    repo: FbaRepository, marketplace_id: str, connection_id: uuid.UUID
) -> uuid.UUID:
    found = await repo.fba_location(marketplace_id)
    if found is None:
        code = f"fba-{marketplace_id}"
        await repo.create_fba_location(
            marketplace_id, connection_id, code, f"Amazon FBA {marketplace_id}"
        )
        found = await repo.fba_location(marketplace_id)
        if found is None:
            raise FbaLocationTaken(f"the location code {code} is used by a non-FBA location")
    return found.id


async def apply_page(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    sync_job_id: uuid.UUID,
    connection_id: uuid.UUID,
    taken_at: datetime,
    page_number: int,
    page: FetchedPage,
) -> Applied:
    """The page's products, levels, journal and snapshot items, in the caller's transaction
    (the one that also saves the job's next cursor). The snapshot completes with the last page."""
    repo = FbaRepository(session, organization_id)
    snapshot = await repo.snapshot_of_job(sync_job_id)
    if snapshot is None:
        snapshot = snapshot_row(
            organization_id=organization_id,
            connection_id=connection_id,
            sync_job_id=sync_job_id,
            taken_at=taken_at,
        )
        repo.add_snapshot(snapshot)
        await session.flush()
    applied = Applied()
    rows: dict[str, dict[str, Any]] = {}
    for summary in page.summaries:
        try:
            row = item_row(page.marketplace_id, summary)
        except ValueError:
            applied.skipped += 1
            continue
        rows[row["seller_sku"]] = row  # a SKU twice in a page: the last one counts
    if rows:
        products = await repo.ensure_products(
            [
                {
                    "sku": r["seller_sku"],
                    "title": r["title"],
                    "asin": r["asin"],
                    "fnsku": r["fnsku"],
                }
                for r in rows.values()
            ]
        )
        by_sku = {p.sku: p for p in products}
        location_id = await _location_id(repo, page.marketplace_id, connection_id)
        targets = {
            by_sku[sku].id: row["fulfillable"]
            for sku, row in rows.items()
            if sku in by_sku and not by_sku[sku].archived
        }
        source = f"fba-sync:{sync_job_id}"
        changes = await repo.set_on_hand(
            location_id, targets, source=source, idempotency_key=f"{source}:{page_number}"
        )
        applied.changed = len(changes)
        applied.clamped = sum(1 for c in changes if c.on_hand_after != targets[c.product_id])
        items = []
        for sku, row in rows.items():
            product = by_sku.get(sku)
            item = {k: v for k, v in row.items() if k != "title"}
            item["product_id"] = product.id if product is not None else None
            items.append(item)
        snapshot.items += await repo.upsert_items(snapshot.id, items)
    if page.next_cursor is None:
        snapshot.status = SnapshotStatus.COMPLETE
        snapshot.completed_at = utcnow()
    return applied


# -- who to sync -----------------------------------------------------------------------------


async def seller_connections(session: AsyncSession) -> list[uuid.UUID]:
    """The organization's connected Amazon SP-API connections (the session's tenant)."""
    return [
        c.id
        for c in await connections.list_connections(session)
        if c.provider == PROVIDER and c.status == ConnectionStatus.CONNECTED.value
    ]


async def check_connection(session: AsyncSession, connection_id: uuid.UUID) -> None:
    """404 for an unknown connection, 422 for one that is not an Amazon SP-API connection."""
    connection = await connections.get_connection(session, connection_id)
    if connection.provider != PROVIDER:
        raise NotAnAmazonSeller(f"a {connection.provider} connection has no FBA inventory")


# -- reading snapshots -----------------------------------------------------------------------


def describe(snapshot: FbaSnapshot) -> SnapshotOut:
    return SnapshotOut(
        id=snapshot.id,
        connection_id=snapshot.connection_id,
        sync_job_id=snapshot.sync_job_id,
        status=snapshot.status,
        taken_at=snapshot.taken_at,
        completed_at=snapshot.completed_at,
        items=snapshot.items,
    )


def describe_item(item: FbaSnapshotItem) -> SnapshotItemOut:
    return SnapshotItemOut.model_validate(item, from_attributes=True)


async def list_snapshots(
    session: AsyncSession, organization_id: uuid.UUID, *, limit: int, before: uuid.UUID | None
) -> SnapshotPage:
    rows = list(await FbaRepository(session, organization_id).snapshots(limit=limit, before=before))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return SnapshotPage(items=[describe(s) for s in rows[:limit]], next_cursor=next_cursor)


def _snapshot(found: dict[str, Any] | None) -> SnapshotOut | None:
    return None if found is None else SnapshotOut.model_validate(found)


def latest_snapshot() -> Read[SnapshotOut | None]:
    """The newest snapshot of the reader's organization, as a read for ``TenantReader`` (no
    ORM session: the dashboard)."""
    return Read(latest_snapshot_json().sql, decode=_snapshot)


async def get_snapshot(
    session: AsyncSession, organization_id: uuid.UUID, snapshot_id: uuid.UUID
) -> FbaSnapshot:
    found = await FbaRepository(session, organization_id).snapshot(snapshot_id)
    if found is None:
        raise NotFound("FBA snapshot not found")
    return found


def _item_cursor(item: FbaSnapshotItem) -> str:
    return json.dumps([item.marketplace_id, item.seller_sku])


def _parse_item_cursor(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        marketplace, sku = json.loads(cursor)
    except (ValueError, TypeError):
        raise ValidationFailed("cursor: not a cursor this endpoint returned") from None
    if not isinstance(marketplace, str) or not isinstance(sku, str):
        raise ValidationFailed("cursor: not a cursor this endpoint returned")
    return marketplace, sku


async def list_items(
    session: AsyncSession,
    organization_id: uuid.UUID,
    snapshot_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
    marketplace_id: str | None,
    sku: str | None,
) -> SnapshotItemPage:
    await get_snapshot(session, organization_id, snapshot_id)  # 404 for another organization's
    rows: Sequence[FbaSnapshotItem] = await FbaRepository(session, organization_id).items(
        snapshot_id,
        limit=limit,
        after=_parse_item_cursor(cursor),
        marketplace_id=marketplace_id,
        sku=sku,
    )
    shown = list(rows[:limit])
    next_cursor = _item_cursor(shown[-1]) if len(rows) > limit else None
    return SnapshotItemPage(items=[describe_item(i) for i in shown], next_cursor=next_cursor)
