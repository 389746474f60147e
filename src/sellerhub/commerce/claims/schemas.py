"""The claims API's bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DetectedCounts(BaseModel):
    """What ``service.record_detected`` did: claims stored for the first time, and known open
    claims refreshed from the new run (filed and closed ones are left as they are)."""

    new: int = 0
    refreshed: int = 0


class RecoveryOut(BaseModel):
    id: uuid.UUID
    reimbursement_id: str
    original_reimbursement_id: str | None
    kind: str = Field(description="reimbursement, or reversal (a negative amount taken back)")
    amount_minor: int = Field(
        description="integer minor units of currency; negative for a reversal"
    )
    currency: str
    quantity: int
    approved_on: date
    case_id: str | None
    matched_by: str = Field(description="case_id, original_id, order_id or fnsku")
    commission_status: str = Field(
        description="requested (in the outbox), awaiting_billing (billing is the next "
        "issue: no charge is made yet) or not_applicable (no cash: units returned)"
    )


class ClaimOut(BaseModel):
    id: uuid.UUID
    connection_id: uuid.UUID
    key: str
    kind: str
    status: str
    sku: str
    fnsku: str
    asin: str
    quantity: int = Field(description="units still claimed")
    value_minor: int | None = Field(description="estimated value of those units, minor units")
    currency: str | None
    value_source: str | None
    event_date: date
    eligible_from: date
    deadline: date
    country: str
    reference: str = Field(description="the adjustment, order, shipment or reimbursement id")
    case_id: str | None
    filed_at: datetime | None
    closed_at: datetime | None
    close_reason: str | None
    reimbursed_minor: int
    reimbursed_quantity: int
    evidence: list[dict[str, Any]]
    recoveries: list[RecoveryOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class KindTotal(BaseModel):
    kind: str
    currency: str | None = Field(description="null: claims whose value is not known")
    claims: int
    open: int = Field(description="detected, ready or filed")
    potential_minor: int = Field(description="estimated value of the open claims")
    recovered_minor: int = Field(description="what Amazon paid, net of reversals")


class ClaimTotals(BaseModel):
    by_kind: list[KindTotal]
    potential_by_currency: dict[str, int]
    recovered_by_currency: dict[str, int]


class ClaimPage(BaseModel):
    items: list[ClaimOut]
    next_cursor: str | None
    totals: ClaimTotals


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: str = Field(
        min_length=1,
        max_length=40,
        description="the case id Seller Central gave when the case was opened (digits)",
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why, in words")


class PacketOut(BaseModel):
    subject: str
    text: str = Field(description="the message to paste into Seller Central's case form")
    evidence_rows: int
