"""Stored report rows for claim detection, one table per source. Each row is keyed by its
organization, its connection and ``row_key``: an MD5 (as a UUID) of the row's normalised fields
(and, for the ledger, which has no event id, of its index among identical rows of the same pull,
as ``rules.claim_key`` counts them), so a period pulled again inserts nothing twice
(``INSERT ... ON CONFLICT DO NOTHING``). Only the ledger events detection reads are stored
(``normalise.DETECTION_EVENT_TYPES``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, TenantScoped


class ClaimsLedgerEvent(TenantScoped, Base):
    """A ``GET_LEDGER_DETAIL_VIEW_DATA`` row of a type detection reads (Adjustments, Receipts)."""

    __tablename__ = "claims_ledger_events"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "connection_id", "row_key"),
        Index(
            "ix_claims_ledger_events_read",
            "organization_id",
            "connection_id",
            "marketplace_id",
            "event_type",
            "event_date",
        ),
        CheckConstraint("occurrence >= 0", name="occurrence"),
    )

    # The primary key leads with the organization: no index of its own (TenantScoped's).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    connection_id: Mapped[uuid.UUID]
    row_key: Mapped[uuid.UUID]
    marketplace_id: Mapped[str] = mapped_column(String(20))
    event_date: Mapped[date]
    fnsku: Mapped[str] = mapped_column(Text)
    asin: Mapped[str] = mapped_column(Text)
    msku: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(Text)
    reference_id: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int]
    fulfillment_center: Mapped[str] = mapped_column(Text)
    disposition: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    country: Mapped[str] = mapped_column(Text)
    reconciled_quantity: Mapped[int | None]
    unreconciled_quantity: Mapped[int | None]
    occurred_at: Mapped[datetime | None]
    occurrence: Mapped[int]


class ClaimsReimbursement(TenantScoped, Base):
    """A ``GET_FBA_REIMBURSEMENTS_DATA`` row (reversals are rows of their own)."""

    __tablename__ = "claims_reimbursements"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "connection_id", "row_key"),
        Index(
            "ix_claims_reimbursements_read",
            "organization_id",
            "connection_id",
            "marketplace_id",
            "approval_date",
        ),
        CheckConstraint(
            "quantity_total = quantity_cash + quantity_inventory", name="quantity_total"
        ),
    )

    # The primary key leads with the organization: no index of its own (TenantScoped's).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    connection_id: Mapped[uuid.UUID]
    row_key: Mapped[uuid.UUID]
    marketplace_id: Mapped[str] = mapped_column(String(20))
    approval_date: Mapped[date]
    reimbursement_id: Mapped[str] = mapped_column(Text)
    case_id: Mapped[str] = mapped_column(Text)
    amazon_order_id: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    sku: Mapped[str] = mapped_column(Text)
    fnsku: Mapped[str] = mapped_column(Text)
    asin: Mapped[str] = mapped_column(Text)
    condition: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3))
    amount_per_unit_minor: Mapped[int] = mapped_column(BigInteger)
    amount_total_minor: Mapped[int] = mapped_column(BigInteger)
    quantity_cash: Mapped[int]
    quantity_inventory: Mapped[int]
    quantity_total: Mapped[int]
    original_reimbursement_id: Mapped[str] = mapped_column(Text)
    original_reimbursement_type: Mapped[str] = mapped_column(Text)


class ClaimsCustomerReturn(TenantScoped, Base):
    """A ``GET_FBA_FULFILLMENT_CUSTOMER_RETURNS_DATA`` row (the buyer's comments are not kept)."""

    __tablename__ = "claims_customer_returns"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "connection_id", "row_key"),
        Index("ix_claims_customer_returns_order", "organization_id", "connection_id", "order_id"),
        CheckConstraint("quantity >= 0", name="quantity"),
    )

    # The primary key leads with the organization: no index of its own (TenantScoped's).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    connection_id: Mapped[uuid.UUID]
    row_key: Mapped[uuid.UUID]
    marketplace_id: Mapped[str] = mapped_column(String(20))
    return_date: Mapped[date]
    order_id: Mapped[str] = mapped_column(Text)
    sku: Mapped[str] = mapped_column(Text)
    asin: Mapped[str] = mapped_column(Text)
    fnsku: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int]
    fulfillment_center_id: Mapped[str] = mapped_column(Text)
    detailed_disposition: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    license_plate_number: Mapped[str] = mapped_column(Text)


class ClaimsRefund(TenantScoped, Base):
    """A refunded order item from the Finances API (``RefundEventList``), the principal
    refunded as a positive amount in minor units."""

    __tablename__ = "claims_refunds"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "connection_id", "row_key"),
        Index(
            "ix_claims_refunds_read", "organization_id", "connection_id", "country", "posted_date"
        ),
        CheckConstraint("quantity >= 0", name="quantity"),
    )

    # The primary key leads with the organization: no index of its own (TenantScoped's).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    connection_id: Mapped[uuid.UUID]
    row_key: Mapped[uuid.UUID]
    order_id: Mapped[str] = mapped_column(Text)
    sku: Mapped[str] = mapped_column(Text)
    posted_date: Mapped[date]
    quantity: Mapped[int]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    country: Mapped[str] = mapped_column(Text)


class ClaimsInboundItem(TenantScoped, Base):
    """One item (FNSKU) of a closed inbound shipment, from the Fulfillment Inbound API: what the
    seller shipped (``QuantityShipped``) and what Amazon says it received. ``closed_on`` is the
    day a pull first saw the shipment closed (the API gives no closing date; a later pull
    keeps the first sighting), so a claim never opens before the shipment was closed."""

    __tablename__ = "claims_inbound_items"
    __table_args__ = (
        PrimaryKeyConstraint(
            "organization_id", "connection_id", "marketplace_id", "shipment_id", "fnsku", "sku"
        ),
        CheckConstraint("quantity_shipped >= 0 AND quantity_received >= 0", name="quantities"),
    )

    # The primary key leads with the organization: no index of its own (TenantScoped's).
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    connection_id: Mapped[uuid.UUID]
    marketplace_id: Mapped[str] = mapped_column(String(20))
    shipment_id: Mapped[str] = mapped_column(Text)
    fnsku: Mapped[str] = mapped_column(Text)
    sku: Mapped[str] = mapped_column(Text)
    quantity_shipped: Mapped[int]
    quantity_received: Mapped[int]
    closed_on: Mapped[date]
    country: Mapped[str] = mapped_column(Text)
