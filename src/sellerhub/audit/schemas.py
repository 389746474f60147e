from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    occurred_at: datetime
    action: str
    actor_type: str
    actor_user_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    request_id: str | None
    data: dict[str, Any]


class AuditEventPage(BaseModel):
    items: list[AuditEventOut]
    next_cursor: uuid.UUID | None
