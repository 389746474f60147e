from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class SnapshotOut(BaseModel):
    id: uuid.UUID
    connection_id: uuid.UUID
    sync_job_id: uuid.UUID
    status: str = Field(
        description="complete: every page of every marketplace is in; partial: the sync still "
        "runs, or stopped and may resume"
    )
    taken_at: datetime = Field(description="when the sync run started reading Amazon")
    completed_at: datetime | None
    items: int = Field(description="SKUs across the marketplaces")


class SnapshotPage(BaseModel):
    items: list[SnapshotOut]
    next_cursor: uuid.UUID | None


class SnapshotItemOut(BaseModel):
    """One SKU in one marketplace as ``getInventorySummaries`` reported it (units)."""

    marketplace_id: str
    seller_sku: str
    fnsku: str | None
    asin: str | None
    condition: str | None
    product_id: uuid.UUID | None
    fulfillable: int = Field(description="sellable now; the FBA location's on_hand")
    inbound_working: int
    inbound_shipped: int
    inbound_receiving: int
    reserved: int = Field(description="totalReservedQuantity")
    reserved_customer_orders: int
    reserved_transshipment: int
    reserved_fc_processing: int
    researching: int
    unfulfillable: int = Field(description="totalUnfulfillableQuantity")
    unfulfillable_customer_damaged: int
    unfulfillable_warehouse_damaged: int
    unfulfillable_distributor_damaged: int
    unfulfillable_carrier_damaged: int
    unfulfillable_defective: int
    unfulfillable_expired: int
    total_quantity: int = Field(description="Amazon's totalQuantity")
    last_updated_at: datetime | None


class SnapshotItemPage(BaseModel):
    items: list[SnapshotItemOut]
    next_cursor: str | None
