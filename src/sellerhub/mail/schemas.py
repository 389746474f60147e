from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class OutboundMailOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    to_address: str
    subject: str
    body_text: str = Field(description="development only: may contain a one-time code")
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class OutboundMailPage(BaseModel):
    items: list[OutboundMailOut]
