"""The money ledger out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class TransactionOut(BaseModel):
    id: uuid.UUID
    kind: str = Field(
        description="charge, refund, dispute, transfer, transfer_reversal, payout or invoice"
    )
    stripe_id: str
    amount_minor: int
    currency: str
    status: str
    direction: str = Field(description="in or out (of the platform, or of a connected account)")
    payment_intent_id: str | None
    charge_id: str | None
    account_id: str | None
    commission_id: uuid.UUID | None
    recovery_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    next_cursor: str | None
