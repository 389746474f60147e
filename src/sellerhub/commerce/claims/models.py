"""Stored claims and their recoveries.

A ``Claim`` is one thing Amazon owes, found by the detection rules (``rules.Claim``) and kept
under its stable key (unique per organization), then followed through the workflow
``detected → ready → filed → reimbursed | rejected | expired``. A ``Recovery`` is one
reimbursement (or reversal) Amazon approved against a claim, unique per organization and
reimbursement id: the event the platform's commission is requested on."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.commerce.claims.rows import ClaimKind
from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin


class ClaimStatus(StrEnum):
    DETECTED = "detected"  # found, not yet in its filing window
    READY = "ready"  # can be filed now
    FILED = "filed"  # the seller filed it and recorded Amazon's case id
    REIMBURSED = "reimbursed"  # Amazon paid (or returned) every unit claimed
    REJECTED = "rejected"  # Amazon (or the seller) closed it without payment
    EXPIRED = "expired"  # its deadline passed before it was filed


OPEN = (ClaimStatus.DETECTED.value, ClaimStatus.READY.value, ClaimStatus.FILED.value)
CLOSED = (
    ClaimStatus.REIMBURSED.value,
    ClaimStatus.REJECTED.value,
    ClaimStatus.EXPIRED.value,
)


class CommissionStatus(StrEnum):
    REQUESTED = "requested"  # the request is in the outbox
    AWAITING_BILLING = "awaiting_billing"  # billing has it; its commission says how it stands
    NOT_APPLICABLE = "not_applicable"  # nothing to charge (units returned, no cash)


class Claim(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("organization_id", "key"),
        CheckConstraint(
            "status IN ('detected', 'ready', 'filed', 'reimbursed', 'rejected', 'expired')",
            name="status",
        ),
        CheckConstraint(
            "kind IN ('warehouse_lost', 'warehouse_damaged', 'customer_return', "
            "'inbound_shortage', 'reimbursed_below_value')",
            name="kind",
        ),
        CheckConstraint(
            "value_source IS NULL OR value_source IN ('reimbursement_history', 'sale_price')",
            name="value_source",
        ),
        CheckConstraint("quantity >= 0 AND reimbursed_quantity >= 0", name="quantities"),
        CheckConstraint("value_minor IS NULL OR value_minor >= 0", name="value"),
        CheckConstraint("reimbursed_minor >= 0", name="reimbursed"),
        CheckConstraint("(value_minor IS NULL) = (currency IS NULL)", name="value_currency"),
        CheckConstraint("eligible_from <= deadline", name="window"),
        CheckConstraint("(case_id IS NULL) = (filed_at IS NULL)", name="case_filed"),
        CheckConstraint("status <> 'filed' OR case_id IS NOT NULL", name="filed_has_case"),
        CheckConstraint("jsonb_typeof(evidence) = 'array'", name="evidence_array"),
        Index("ix_claims_org_status_deadline", "organization_id", "status", "deadline"),
        Index("ix_claims_org_fnsku", "organization_id", "fnsku"),
        Index("ix_claims_org_case", "organization_id", "case_id"),
    )

    connection_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(32))
    kind: Mapped[ClaimKind] = mapped_column(EnumText(ClaimKind, 30))
    sku: Mapped[str] = mapped_column(String(200), default="")
    fnsku: Mapped[str] = mapped_column(String(20), default="")
    asin: Mapped[str] = mapped_column(String(20), default="")
    quantity: Mapped[int] = mapped_column(default=0)
    value_minor: Mapped[int | None] = mapped_column(BigInteger, default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    value_source: Mapped[str | None] = mapped_column(String(30), default=None)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    event_date: Mapped[date] = mapped_column(Date)
    eligible_from: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    country: Mapped[str] = mapped_column(String(10), default="")
    reference: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[ClaimStatus] = mapped_column(
        EnumText(ClaimStatus, 20), default=ClaimStatus.DETECTED
    )
    case_id: Mapped[str | None] = mapped_column(String(20), default=None)
    filed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    close_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    reimbursed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    reimbursed_quantity: Mapped[int] = mapped_column(default=0)
    last_detected_on: Mapped[date] = mapped_column(Date)


class Recovery(IdMixin, TimestampMixin, TenantScoped, Base):
    __tablename__ = "claim_recoveries"
    __table_args__ = (
        UniqueConstraint("organization_id", "reimbursement_id"),
        CheckConstraint("kind IN ('reimbursement', 'reversal')", name="kind"),
        CheckConstraint(
            "(kind = 'reimbursement' AND amount_minor >= 0 AND quantity >= 0) OR "
            "(kind = 'reversal' AND amount_minor <= 0 AND quantity <= 0)",
            name="signs",
        ),
        CheckConstraint(
            "commission_status IN ('requested', 'awaiting_billing', 'not_applicable')",
            name="commission_status",
        ),
        CheckConstraint(
            "(commission_status = 'not_applicable') = (amount_minor = 0)", name="commission"
        ),
        Index("ix_claim_recoveries_claim", "organization_id", "claim_id"),
    )

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    reimbursement_id: Mapped[str] = mapped_column(String(50))
    original_reimbursement_id: Mapped[str | None] = mapped_column(String(50), default=None)
    kind: Mapped[str] = mapped_column(String(20), default="reimbursement")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(default=0)
    approved_on: Mapped[date] = mapped_column(Date)
    case_id: Mapped[str | None] = mapped_column(String(20), default=None)
    matched_by: Mapped[str] = mapped_column(String(20))
    commission_status: Mapped[CommissionStatus] = mapped_column(
        EnumText(CommissionStatus, 20), default=CommissionStatus.REQUESTED
    )
