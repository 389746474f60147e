"""``_admin/inventory``: the FBA inventory's own control surface, beside the common ``_admin``.

- ``GET  _admin/inventory?selling_partner_id=...&marketplace_id=...`` → ``{"inventorySummaries":
  [...]}``: every item of the pair, with ``inventoryDetails`` (what a sync should end up with).
- ``POST _admin/inventory/quantities`` ``{"selling_partner_id", "marketplace_id", "items":
  [InventorySummary, ...]}`` → ``{"items": n}``: replace or add those SKUs of the pair and keep
  the others (seeded or configured); a replaced SKU keeps its ASIN, FNSKU and name unless given
  and its ``lastUpdatedTime`` becomes now. ``_admin/config`` ``inventory`` replaces a whole pair.
- ``POST _admin/inventory/expire-tokens`` → ``{"expired": n}``: every ``nextToken`` issued so
  far stops working now (as it would 30 s after its issue), the rest of the state stays.
- ``GET  _admin/inventory/requests`` → ``{"requests": [{"selling_partner_id", "marketplace_id",
  "next_token", "page", "status"}, ...]}``: every ``getInventorySummaries`` request in order
  (the first 10,000 since the last reset), so a test can count the requests per page token.

Failures on a given page are the ``inventory_fail`` key of ``_admin/config`` (``state``).
"""

from __future__ import annotations

from enum import Enum

from fastapi import APIRouter, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sellerhub_emulators.amazon.inventory import InventoryItemSpec
from sellerhub_emulators.amazon.marketplaces import MARKETPLACES
from sellerhub_emulators.amazon.state import (
    MAX_INVENTORY_ITEMS,
    SELLING_PARTNER_ID,
    AmazonEmulator,
)


class QuantitiesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    selling_partner_id: str
    marketplace_id: str
    items: list[InventoryItemSpec] = Field(min_length=1, max_length=MAX_INVENTORY_ITEMS)

    @field_validator("selling_partner_id")
    @classmethod
    def _seller(cls, value: str) -> str:
        if not SELLING_PARTNER_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a selling partner id (1-64 letters/digits)")
        return value

    @field_validator("marketplace_id")
    @classmethod
    def _marketplace(cls, value: str) -> str:
        if value not in MARKETPLACES:
            raise ValueError(f"unknown marketplace id {value!r}")
        return value

    @field_validator("items")
    @classmethod
    def _unique(cls, value: list[InventoryItemSpec]) -> list[InventoryItemSpec]:
        skus = [item.seller_sku for item in value]
        if len(set(skus)) != len(skus):
            raise ValueError("repeated sellerSku")
        return value


def add_inventory_admin_routes(router: APIRouter, emulator: AmazonEmulator) -> None:
    tags: list[str | Enum] = ["amazon emulator control"]

    @router.get("/_admin/inventory", tags=tags)
    async def inventory(
        selling_partner_id: str = Query(...), marketplace_id: str = Query(...)
    ) -> JSONResponse:
        if not SELLING_PARTNER_ID.fullmatch(selling_partner_id):
            return JSONResponse({"detail": "not a selling partner id"}, status_code=422)
        if marketplace_id not in MARKETPLACES:
            return JSONResponse({"detail": "unknown marketplace id"}, status_code=422)
        items = emulator.inventory_of(selling_partner_id, marketplace_id)
        return JSONResponse({"inventorySummaries": [item.wire(details=True) for item in items]})

    @router.post("/_admin/inventory/quantities", tags=tags)
    async def set_quantities(request: Request) -> JSONResponse:
        try:
            update = QuantitiesUpdate.model_validate_json((await request.body()) or b"{}")
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False)
            return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)
        count = emulator.set_inventory_items(
            update.selling_partner_id, update.marketplace_id, update.items
        )
        return JSONResponse({"items": count})

    @router.post("/_admin/inventory/expire-tokens", tags=tags)
    async def expire_tokens() -> JSONResponse:
        return JSONResponse({"expired": emulator.cursors.clear()})

    @router.get("/_admin/inventory/requests", tags=tags)
    async def requests() -> JSONResponse:
        return JSONResponse({"requests": [r.wire() for r in emulator.inventory_requests()]})
