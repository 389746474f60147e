"""FBA inventory of the emulated selling partners (providers.md §1.5, ``fbaInventory.json`` v1).

Every (selling partner, marketplace) pair has a deterministic seeded inventory: 150-399 SKUs
``EMU-0001``... (hundreds per marketplace, so a sync pages several times per marketplace) whose
quantities derive from a SHA-256 of the selling partner id, the marketplace id and the item
number, and whose ASIN and FNSKU derive from the selling partner and the SKU only (the same
product in every marketplace; the same seller always gets the same inventory, another seller
another one). ``lastUpdatedTime`` values are spread over the 30 days before the
emulator started. ``_admin/config`` ``inventory`` replaces the list of a pair with items given in
the wire shape of ``InventorySummary`` (see ``InventoryItemSpec``).

``totalQuantity``, when not given, is the sum of fulfillable, inbound (working, shipped,
receiving), reserved, researching and unfulfillable units (the model only says "the total number
of units in an inbound shipment or in Amazon fulfillment centers").

Paging: ``nextToken`` values are opaque, bound to the selling partner and the filter of the
request (marketplace, ``startDateTime``, SKUs) and expire 30 s after being issued (providers.md
§1.5 / §9); they may be reused until then.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sellerhub_emulators.amazon import constants as c

SEEDED_MIN_ITEMS = 150
SEEDED_SPREAD = 250  # seeded pairs have SEEDED_MIN_ITEMS + (0..SEEDED_SPREAD-1) items
MAX_QUANTITY = 100_000_000
RESEARCH_TERMS = (
    "researchingQuantityInShortTerm",
    "researchingQuantityInMidTerm",
    "researchingQuantityInLongTerm",
)


# -- configuration (``_admin/config`` ``inventory``): the wire shape, camelCase ------------------


class _Wire(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )


def _quantity() -> Any:
    return Field(default=0, ge=0, le=MAX_QUANTITY)


class ReservedQuantitySpec(_Wire):
    total_reserved_quantity: int | None = Field(default=None, ge=0)
    pending_customer_order_quantity: int = _quantity()
    pending_transshipment_quantity: int = _quantity()
    fc_processing_quantity: int = _quantity()

    def wire(self) -> dict[str, int]:
        parts = {
            "pendingCustomerOrderQuantity": self.pending_customer_order_quantity,
            "pendingTransshipmentQuantity": self.pending_transshipment_quantity,
            "fcProcessingQuantity": self.fc_processing_quantity,
        }
        total = self.total_reserved_quantity
        return {"totalReservedQuantity": sum(parts.values()) if total is None else total, **parts}


class ResearchingQuantityEntrySpec(_Wire):
    name: Literal[
        "researchingQuantityInShortTerm",
        "researchingQuantityInMidTerm",
        "researchingQuantityInLongTerm",
    ]
    quantity: int = _quantity()


class ResearchingQuantitySpec(_Wire):
    total_researching_quantity: int | None = Field(default=None, ge=0)
    researching_quantity_breakdown: list[ResearchingQuantityEntrySpec] = Field(
        default_factory=list, max_length=3
    )

    def wire(self) -> dict[str, Any]:
        entries = self.researching_quantity_breakdown
        total = self.total_researching_quantity
        return {
            "totalResearchingQuantity": sum(e.quantity for e in entries)
            if total is None
            else total,
            "researchingQuantityBreakdown": [
                {"name": e.name, "quantity": e.quantity} for e in entries
            ],
        }


class UnfulfillableQuantitySpec(_Wire):
    total_unfulfillable_quantity: int | None = Field(default=None, ge=0)
    customer_damaged_quantity: int = _quantity()
    warehouse_damaged_quantity: int = _quantity()
    distributor_damaged_quantity: int = _quantity()
    carrier_damaged_quantity: int = _quantity()
    defective_quantity: int = _quantity()
    expired_quantity: int = _quantity()

    def wire(self) -> dict[str, int]:
        parts = {
            "customerDamagedQuantity": self.customer_damaged_quantity,
            "warehouseDamagedQuantity": self.warehouse_damaged_quantity,
            "distributorDamagedQuantity": self.distributor_damaged_quantity,
            "carrierDamagedQuantity": self.carrier_damaged_quantity,
            "defectiveQuantity": self.defective_quantity,
            "expiredQuantity": self.expired_quantity,
        }
        total = self.total_unfulfillable_quantity
        return {
            "totalUnfulfillableQuantity": sum(parts.values()) if total is None else total,
            **parts,
        }


class InventoryDetailsSpec(_Wire):
    fulfillable_quantity: int = _quantity()
    inbound_working_quantity: int = _quantity()
    inbound_shipped_quantity: int = _quantity()
    inbound_receiving_quantity: int = _quantity()
    reserved_quantity: ReservedQuantitySpec = Field(default_factory=ReservedQuantitySpec)
    researching_quantity: ResearchingQuantitySpec = Field(default_factory=ResearchingQuantitySpec)
    unfulfillable_quantity: UnfulfillableQuantitySpec = Field(
        default_factory=UnfulfillableQuantitySpec
    )

    def wire(self) -> dict[str, Any]:
        return {
            "fulfillableQuantity": self.fulfillable_quantity,
            "inboundWorkingQuantity": self.inbound_working_quantity,
            "inboundShippedQuantity": self.inbound_shipped_quantity,
            "inboundReceivingQuantity": self.inbound_receiving_quantity,
            "reservedQuantity": self.reserved_quantity.wire(),
            "researchingQuantity": self.researching_quantity.wire(),
            "unfulfillableQuantity": self.unfulfillable_quantity.wire(),
        }


class InventoryItemSpec(_Wire):
    """One ``InventorySummary``; only ``sellerSku`` is required, the rest has defaults."""

    seller_sku: str = Field(min_length=1, max_length=200)
    asin: str | None = Field(default=None, min_length=1, max_length=20)
    fn_sku: str | None = Field(default=None, min_length=1, max_length=20)
    condition: str = Field(default="NewItem", min_length=1, max_length=50)
    product_name: str | None = Field(default=None, max_length=500)
    last_updated_time: datetime | None = None
    total_quantity: int | None = Field(default=None, ge=0)
    stores: list[str] = Field(default_factory=list, max_length=50)
    inventory_details: InventoryDetailsSpec = Field(default_factory=InventoryDetailsSpec)


# Selling partner id -> marketplace id -> items (the whole list of that pair).
InventoryConfig = dict[str, dict[str, list[InventoryItemSpec]]]


# -- items ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InventoryItem:
    seller_sku: str
    last_updated: datetime
    summary: dict[str, Any]  # the wire InventorySummary including inventoryDetails

    def wire(self, *, details: bool) -> dict[str, Any]:
        body = dict(self.summary)
        if not details:
            body.pop("inventoryDetails", None)
        return body


def isoformat_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _total(details: dict[str, Any]) -> int:
    return int(
        details["fulfillableQuantity"]
        + details["inboundWorkingQuantity"]
        + details["inboundShippedQuantity"]
        + details["inboundReceivingQuantity"]
        + details["reservedQuantity"]["totalReservedQuantity"]
        + details["researchingQuantity"]["totalResearchingQuantity"]
        + details["unfulfillableQuantity"]["totalUnfulfillableQuantity"]
    )


def _identifier(seed: bytes, prefix: str, length: int) -> str:
    text = base64.b32encode(seed).decode("ascii").replace("=", "")
    return prefix + text[: length - len(prefix)]


def item_from_spec(spec: InventoryItemSpec, *, now: datetime) -> InventoryItem:
    seed = hashlib.sha256(spec.seller_sku.encode("utf-8")).digest()
    details = spec.inventory_details.wire()
    updated = spec.last_updated_time or now
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    summary: dict[str, Any] = {
        "asin": spec.asin or _identifier(seed, "B0", 10),
        "fnSku": spec.fn_sku or _identifier(seed[8:], "X00", 10),
        "sellerSku": spec.seller_sku,
        "condition": spec.condition,
        "inventoryDetails": details,
        "lastUpdatedTime": isoformat_z(updated),
        "productName": spec.product_name or f"Product {spec.seller_sku}",
        "totalQuantity": _total(details) if spec.total_quantity is None else spec.total_quantity,
        "stores": list(spec.stores),
    }
    return InventoryItem(spec.seller_sku, updated, summary)


def seeded_inventory(
    selling_partner_id: str, marketplace_id: str, *, anchor: datetime
) -> list[InventoryItem]:
    """The deterministic inventory of a pair; ``anchor`` is the newest ``lastUpdatedTime``."""
    pair = hashlib.sha256(f"{selling_partner_id}|{marketplace_id}".encode()).digest()
    count = SEEDED_MIN_ITEMS + pair[0] % SEEDED_SPREAD
    items = []
    for number in range(1, count + 1):
        sku = f"EMU-{number:04d}"
        product = hashlib.sha256(f"{selling_partner_id}|{sku}".encode()).digest()
        q = hashlib.sha256(f"{selling_partner_id}|{marketplace_id}|{sku}".encode()).digest()
        spec = InventoryItemSpec.model_validate(
            {
                "sellerSku": sku,
                "asin": _identifier(product, "B0", 10),
                "fnSku": _identifier(product[8:], "X00", 10),
                "productName": f"Emulated product {number:04d}",
                "lastUpdatedTime": anchor - timedelta(hours=6 * (number - 1), seconds=q[16] * 13),
                "inventoryDetails": {
                    "fulfillableQuantity": q[0] % 150,
                    "inboundWorkingQuantity": q[1] % 12,
                    "inboundShippedQuantity": q[2] % 24,
                    "inboundReceivingQuantity": q[3] % 6,
                    "reservedQuantity": {
                        "pendingCustomerOrderQuantity": q[4] % 8,
                        "pendingTransshipmentQuantity": q[5] % 5,
                        "fcProcessingQuantity": q[6] % 3,
                    },
                    "researchingQuantity": {
                        "researchingQuantityBreakdown": [
                            {"name": term, "quantity": q[7 + i] % 3}
                            for i, term in enumerate(RESEARCH_TERMS)
                        ]
                    },
                    "unfulfillableQuantity": {
                        "customerDamagedQuantity": q[10] % 3,
                        "warehouseDamagedQuantity": q[11] % 3,
                        "distributorDamagedQuantity": q[12] % 2,
                        "carrierDamagedQuantity": q[13] % 2,
                        "defectiveQuantity": q[14] % 3,
                        "expiredQuantity": q[15] % 2,
                    },
                },
            }
        )
        items.append(item_from_spec(spec, now=anchor))
    return items


# -- paging --------------------------------------------------------------------------------------

CursorKey = tuple[str, str, str, str | None, tuple[str, ...] | None]
"""(client id, selling partner, marketplace, startDateTime, SKUs): what a nextToken is bound to."""


@dataclass(frozen=True, slots=True)
class _Cursor:
    key: CursorKey
    offset: int
    expires_at: float


class CursorStore:
    """Issued ``nextToken`` values; each is valid for ``ttl_seconds`` from its issue."""

    def __init__(
        self, clock: Callable[[], float], *, ttl_seconds: int = c.NEXT_TOKEN_TTL_SECONDS
    ) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cursors: dict[str, _Cursor] = {}

    def issue(self, key: CursorKey, offset: int) -> str:
        now = self._clock()
        token = secrets.token_urlsafe(48)
        with self._lock:
            for stale in [t for t, v in self._cursors.items() if v.expires_at <= now]:
                del self._cursors[stale]
            self._cursors[token] = _Cursor(key, offset, now + self._ttl)
        return token

    def resolve(self, token: str, key: CursorKey) -> int | str:
        """The offset the token continues at, or a message saying why it cannot be used."""
        with self._lock:
            cursor = self._cursors.get(token)
        if cursor is None or self._clock() >= cursor.expires_at:
            return "The nextToken is invalid or has expired."
        if cursor.key != key:
            return "The nextToken does not match the other parameters of the request."
        return cursor.offset

    def clear(self) -> int:
        with self._lock:
            count = len(self._cursors)
            self._cursors.clear()
        return count
