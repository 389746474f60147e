"""Commissions in and out of the API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recovery_id: uuid.UUID = Field(description="the recovery (claims) to charge the commission on")
    paid_to_platform: bool = Field(
        False,
        description=(
            "the recovered money was paid to the platform on the seller's behalf: the "
            "commission is kept from it and the rest transferred to the seller's connected "
            "account, instead of charging the card (only when the commission is first opened)"
        ),
    )
    source_transaction: str | None = Field(
        None,
        pattern=r"^(ch|py)_[A-Za-z0-9]{1,90}$",
        description="the Stripe charge that brought the money in (paid_to_platform only)",
    )


class CommissionOut(BaseModel):
    id: uuid.UUID
    recovery_id: uuid.UUID
    claim_id: uuid.UUID | None
    state: str = Field(
        description=(
            "pending, processing, succeeded, requires_action, failed, no_card, waived, "
            "withheld, refunded or disputed"
        )
    )
    reason: str | None = Field(description="why it waits or was waived, in words")
    recovery_amount_minor: int
    rate_bps: int
    amount_minor: int
    currency: str
    paid_to_platform: bool
    attempt: int
    failed_attempts: int
    payment_intent_id: str | None
    charge_id: str | None
    receipt_url: str | None = Field(
        description=(
            "Stripe's receipt of the charge (succeeded commissions): an https URL on Stripe's "
            "hosts, or on the configured Stripe API's origin (the emulator); null otherwise"
        )
    )
    failure_code: str | None
    decline_code: str | None
    failure_message: str | None
    next_attempt_at: datetime | None = Field(description="the next retry, or the next look-up")
    succeeded_at: datetime | None
    refunded_minor: int
    created_at: datetime
    updated_at: datetime


class CommissionPage(BaseModel):
    items: list[CommissionOut]
    next_cursor: str | None


class RateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID
    rate_bps: int | None = Field(
        ge=0, le=10_000, description="basis points (2000 = 20 %); null: the default again"
    )


class RateOut(BaseModel):
    rate_bps: int
    default: bool
