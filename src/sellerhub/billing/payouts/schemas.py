"""Seller transfers out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class TransferOut(BaseModel):
    id: uuid.UUID
    recovery_id: uuid.UUID
    commission_id: uuid.UUID
    amount_minor: int = Field(description="the recovery less the commission, minor units")
    currency: str
    state: str = Field(
        description="pending, waiting, processing, paid, failed, reversed or cancelled"
    )
    reason: str | None
    destination: str | None = Field(description="the seller's connected account")
    transfer_group: str
    source_transaction: str | None
    transfer_id: str | None
    reversed_minor: int
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None
