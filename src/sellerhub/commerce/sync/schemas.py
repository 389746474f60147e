from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection_id: uuid.UUID
    resource: Literal["orders", "fba_inventory", "fba_claims_reports", "fba_claims_detect"] = Field(
        "orders",
        description="orders: a sales channel's orders (Shopify, WooCommerce); fba_inventory: an "
        "Amazon SP-API connection's FBA inventory, every marketplace (always full); "
        "fba_claims_reports: an Amazon SP-API connection's ledger, reimbursements, customer "
        "returns and refunds for claim detection (18 months the first time, then since the last "
        "pull; a detection job follows when it succeeds); fba_claims_detect: claim detection "
        "over the stored reports, one marketplace a page (fetched: evidence rows read, changed: "
        "new claims)",
    )
    mode: Literal["full", "incremental"] = Field(
        "full",
        description="full: every order; incremental: orders updated since `since` (default: "
        "since the last successful sync, with a 10-minute overlap)",
    )
    since: datetime | None = Field(None, description="only orders updated at or after this time")


class SyncJobOut(BaseModel):
    id: uuid.UUID
    connection_id: uuid.UUID
    channel: str
    resource: str
    mode: str
    since: datetime | None
    status: str
    pages: int = Field(description="pages fetched and applied")
    fetched: int = Field(description="orders (or FBA inventory summaries) read from the channel")
    changed: int = Field(
        description="orders created or updated (older versions change nothing); for "
        "fba_inventory, stock levels whose on_hand changed"
    )
    skipped: int = Field(description="records the channel sent in a shape we could not read")
    throttled: int = Field(description="times the channel asked us to slow down")
    attempts: int
    last_error: str | None
    resumable: bool = Field(description="a failed or cancelled job can resume from its cursor")
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class SyncJobPage(BaseModel):
    items: list[SyncJobOut]
    next_cursor: uuid.UUID | None
