from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class WebhookEventOut(BaseModel):
    """A stored delivery as its organization sees it (the payload stays in the inbox)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str = Field(description="shopify, woocommerce or stripe")
    topic: str
    external_id: str = Field(description="the provider's delivery or event id")
    connection_id: uuid.UUID | None
    status: str = Field(description="pending, processed or failed")
    attempts: int
    last_error: str | None = Field(
        description="why the last attempt failed; `invalid payload: …` marks a payload that "
        "cannot be used as it is (failed at once, not retried)"
    )
    received_at: datetime
    processed_at: datetime | None


class WebhookEventPage(BaseModel):
    items: list[WebhookEventOut]
    next_cursor: uuid.UUID | None
