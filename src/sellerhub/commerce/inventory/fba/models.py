from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin


class SnapshotStatus(StrEnum):
    PARTIAL = "partial"  # pages still missing: the sync runs, or stopped and may resume
    COMPLETE = "complete"  # every page of every marketplace is in


class FbaSnapshot(IdMixin, TimestampMixin, TenantScoped, Base):
    """What Amazon reported for the organization's FBA inventory in one sync run (one per sync
    job, dated by the run's start): the record the claims work compares over time. Written page
    by page in the transactions that apply the pages, so it is exactly what was applied."""

    __tablename__ = "fba_snapshots"
    __table_args__ = (
        CheckConstraint("status IN ('partial', 'complete')", name="status"),
        CheckConstraint("items >= 0", name="items"),
        Index("uq_fba_snapshots_job", "organization_id", "sync_job_id", unique=True),
        Index("ix_fba_snapshots_org_id", "organization_id", "id"),
    )

    connection_id: Mapped[uuid.UUID]
    sync_job_id: Mapped[uuid.UUID]
    status: Mapped[SnapshotStatus] = mapped_column(
        EnumText(SnapshotStatus), default=SnapshotStatus.PARTIAL
    )
    taken_at: Mapped[datetime]  # when the run started reading Amazon
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    items: Mapped[int] = mapped_column(default=0)


class FbaSnapshotItem(TenantScoped, Base):
    """One SKU of one marketplace in a snapshot, with every quantity ``getInventorySummaries``
    reports (``details=true``). Reserved, researching and unfulfillable units keep their
    breakdowns; ``total_quantity`` is Amazon's own total."""

    __tablename__ = "fba_snapshot_items"
    __table_args__ = (
        PrimaryKeyConstraint("snapshot_id", "marketplace_id", "seller_sku"),
        CheckConstraint(
            "fulfillable >= 0 AND inbound_working >= 0 AND inbound_shipped >= 0"
            " AND inbound_receiving >= 0 AND reserved >= 0 AND reserved_customer_orders >= 0"
            " AND reserved_transshipment >= 0 AND reserved_fc_processing >= 0"
            " AND researching >= 0 AND unfulfillable >= 0 AND unfulfillable_customer_damaged >= 0"
            " AND unfulfillable_warehouse_damaged >= 0"
            " AND unfulfillable_distributor_damaged >= 0"
            " AND unfulfillable_carrier_damaged >= 0 AND unfulfillable_defective >= 0"
            " AND unfulfillable_expired >= 0 AND total_quantity >= 0",
            name="quantities",
        ),
        Index("ix_fba_snapshot_items_sku", "organization_id", "seller_sku"),
    )

    snapshot_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("fba_snapshots.id", ondelete="CASCADE")
    )
    marketplace_id: Mapped[str] = mapped_column(String(20))
    seller_sku: Mapped[str] = mapped_column(String(200))
    fnsku: Mapped[str | None] = mapped_column(String(20), default=None)
    asin: Mapped[str | None] = mapped_column(String(20), default=None)
    condition: Mapped[str | None] = mapped_column(String(50), default=None)
    product_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    fulfillable: Mapped[int] = mapped_column(default=0)
    inbound_working: Mapped[int] = mapped_column(default=0)
    inbound_shipped: Mapped[int] = mapped_column(default=0)
    inbound_receiving: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    reserved_customer_orders: Mapped[int] = mapped_column(default=0)
    reserved_transshipment: Mapped[int] = mapped_column(default=0)
    reserved_fc_processing: Mapped[int] = mapped_column(default=0)
    researching: Mapped[int] = mapped_column(default=0)
    unfulfillable: Mapped[int] = mapped_column(default=0)
    unfulfillable_customer_damaged: Mapped[int] = mapped_column(default=0)
    unfulfillable_warehouse_damaged: Mapped[int] = mapped_column(default=0)
    unfulfillable_distributor_damaged: Mapped[int] = mapped_column(default=0)
    unfulfillable_carrier_damaged: Mapped[int] = mapped_column(default=0)
    unfulfillable_defective: Mapped[int] = mapped_column(default=0)
    unfulfillable_expired: Mapped[int] = mapped_column(default=0)
    total_quantity: Mapped[int] = mapped_column(default=0)
    last_updated_at: Mapped[datetime | None] = mapped_column(default=None)
