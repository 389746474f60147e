"""What the catalog routes read and answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["amazon", "shopify", "woocommerce"]


class ListingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Channel
    connection_id: uuid.UUID = Field(description="the store (channel connection)")
    external_id: str = Field(
        min_length=1,
        max_length=100,
        description="Amazon seller SKU or ASIN, Shopify variant id, WooCommerce product id",
    )


class ListingOut(BaseModel):
    id: uuid.UUID
    channel: str
    connection_id: uuid.UUID
    external_id: str


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=200, description="unique in the organization")
    title: str = Field("", max_length=500)
    asin: str | None = Field(None, max_length=20)
    fnsku: str | None = Field(None, max_length=20)
    barcode: str | None = Field(None, max_length=64)
    listings: list[ListingIn] = Field(default_factory=list, max_length=100)


class ProductUpdate(BaseModel):
    """Only the fields sent change; ``null`` clears an optional identifier."""

    model_config = ConfigDict(extra="forbid")

    sku: str | None = Field(None, min_length=1, max_length=200)
    title: str | None = Field(None, max_length=500)
    asin: str | None = Field(None, max_length=20)
    fnsku: str | None = Field(None, max_length=20)
    barcode: str | None = Field(None, max_length=64)


class ProductOut(BaseModel):
    id: uuid.UUID
    sku: str
    title: str
    asin: str | None
    fnsku: str | None
    barcode: str | None
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    listings: list[ListingOut]


class ProductPage(BaseModel):
    items: list[ProductOut] = Field(description="oldest first (by id)")
    next_cursor: uuid.UUID | None
