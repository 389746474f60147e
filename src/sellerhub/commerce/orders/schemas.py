"""The shapes ``GET /api/v1/orders`` answers. The route returns JSON that PostgreSQL rendered
(``OrderRepository.page_json``), so these models document the answer in the OpenAPI document
and check it in tests; they are not used to serialise it."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class OrderLineOut(BaseModel):
    sku: str
    title: str
    quantity: int = Field(ge=0)
    unit_price_minor: int = Field(ge=0, description="in minor units of the order's currency")


class OrderOut(BaseModel):
    id: uuid.UUID
    channel: str = Field(description="shopify, woocommerce or amazon")
    connection_id: uuid.UUID = Field(description="the store (channel connection) it came from")
    external_id: str = Field(description="the order's id at the store")
    number: str = Field(description="the order number the store shows")
    status: str
    currency: str = Field(description="ISO 4217 code")
    total_minor: int = Field(ge=0, description="in minor units of the currency")
    customer_email: str | None
    placed_at: datetime | None
    updated_at: datetime = Field(description="when the store last changed the order")
    lines: list[OrderLineOut]


class OrderPage(BaseModel):
    items: list[OrderOut] = Field(description="newest first")
    next_cursor: uuid.UUID | None = Field(description="the cursor of the next page, if any")
