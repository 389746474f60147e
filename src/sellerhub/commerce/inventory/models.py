from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"  # the organization's own
    FBA = "fba"  # Amazon's fulfillment network, one per marketplace
    CHANNEL = "channel"  # a channel's own location (a Shopify location, say)


class Location(IdMixin, TimestampMixin, TenantScoped, Base):
    """Where stock is: ``code`` is the organization's short name for it (what imports name)."""

    __tablename__ = "locations"
    __table_args__ = (
        UniqueConstraint("organization_id", "code"),
        CheckConstraint("kind IN ('warehouse', 'fba', 'channel')", name="kind"),
    )

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[LocationKind] = mapped_column(EnumText(LocationKind))
    marketplace_id: Mapped[str | None] = mapped_column(String(20), default=None)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class StockLevel(TenantScoped, Base):
    """How many units of a product a location holds (``on_hand``) and how many of those are
    promised (``reserved``). The CHECKs make ``available = on_hand - reserved`` impossible to
    drive below zero by any writer, code or SQL: PostgreSQL refuses the row."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        PrimaryKeyConstraint("organization_id", "product_id", "location_id"),
        CheckConstraint("on_hand >= 0", name="on_hand"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_levels_org_location", "organization_id", "location_id"),
    )

    # No foreign keys (migrations 2026_12_01_import_write_cost and 2026_12_01_levels_org_fk:
    # their per-row checks were most of a bulk import's time, and every writer takes the
    # organization from its principal or tenant and the ids from that organization's products
    # and locations); the organization needs no index of its own: the primary key starts with
    # it. Statement triggers remove the levels of an organization, product or location deleted
    # (nothing in the application deletes them: products and locations are archived).
    organization_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    product_id: Mapped[uuid.UUID]
    location_id: Mapped[uuid.UUID]
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class StockMovement(TenantScoped, Base):
    """One change of one level, written in the transaction that changes it: the deltas, why
    (``reason``), who or what (``source``: ``api``, ``reservation:<id>``, ``import:<id>``,
    ``fba-sync:<job>``…), the caller's idempotency key, and the quantities after. Append-only
    (a trigger refuses UPDATE and DELETE); replayed in ``id`` order it equals the levels.

    The id is an identity column, not a UUID from Python, so set-based writers (imports, the
    FBA sync) journal with one ``INSERT … SELECT``."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        Index("ix_stock_movements_level", "organization_id", "product_id", "location_id", "id"),
        # One movement per (key, level, reason): a retried write with its key changes nothing.
        # Not for imports: an import applies once by its own row (locked, its status checked),
        # and an index entry per imported row was a third of the journal's insert cost.
        Index(
            "uq_stock_movements_idempotency",
            "organization_id",
            "idempotency_key",
            "product_id",
            "location_id",
            "reason",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL AND reason <> 'import'"),
        ),
        CheckConstraint("on_hand_after >= 0 AND reserved_after >= 0", name="after"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # No foreign key (its CASCADE could never run: the journal refuses DELETE) and no index of
    # its own (ix_stock_movements_level starts with it): a movement is written in the statement
    # that writes its level, whose organization_id has the key.
    organization_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    product_id: Mapped[uuid.UUID]
    location_id: Mapped[uuid.UUID]
    delta_on_hand: Mapped[int] = mapped_column(default=0)
    delta_reserved: Mapped[int] = mapped_column(default=0)
    on_hand_after: Mapped[int]
    reserved_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(120), default="api")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReservationStatus(StrEnum):
    ACTIVE = "active"
    COMMITTED = "committed"  # shipped: on_hand and reserved both dropped
    RELEASED = "released"
    EXPIRED = "expired"


class Reservation(IdMixin, TimestampMixin, TenantScoped, Base):
    """Units promised to an order (all its lines or none). The idempotency key names it: the
    same key with the same lines answers the same reservation; with other lines, 409."""

    __tablename__ = "reservations"
    __table_args__ = (
        UniqueConstraint("organization_id", "idempotency_key"),
        CheckConstraint("status IN ('active', 'committed', 'released', 'expired')", name="status"),
        Index(
            "ix_reservations_expiry",
            "expires_at",
            postgresql_where=text("status = 'active'"),
        ),
    )

    # No index of its own (migration 2026_12_01_reserve_batch): the key's unique index starts
    # with it, and a cached plan that chose the organization-only index scanned every
    # reservation of the organization to find one key.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[ReservationStatus] = mapped_column(
        EnumText(ReservationStatus), default=ReservationStatus.ACTIVE
    )
    source: Mapped[str] = mapped_column(String(120), default="api")
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class ReservationLine(IdMixin, TenantScoped, Base):
    __tablename__ = "reservation_lines"
    __table_args__ = (
        UniqueConstraint("reservation_id", "product_id", "location_id"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    # Neither column has an index of its own (migration 2026_12_01_reserve_batch): every read
    # of lines is by reservation, which the unique index starts with.
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )
    reservation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reservations.id", ondelete="CASCADE")
    )
    product_id: Mapped[uuid.UUID]
    location_id: Mapped[uuid.UUID]
    quantity: Mapped[int]


class ImportStatus(StrEnum):
    RECEIVING = "receiving"
    VALIDATING = "validating"
    APPLYING = "applying"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"  # a row was bad and the import was not partial: nothing applied
    FAILED = "failed"


class InventoryImport(IdMixin, TimestampMixin, TenantScoped, Base):
    """A bulk upload of stock quantities, with its progress and its error report."""

    __tablename__ = "inventory_imports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('receiving', 'validating', 'applying', 'succeeded', 'rejected', 'failed')",
            name="status",
        ),
        CheckConstraint(
            "rows_read >= 0 AND rows_valid >= 0 AND rows_applied >= 0 AND error_count >= 0",
            name="counts",
        ),
        # A retried upload with its Idempotency-Key answers the import the key first made.
        Index(
            "uq_inventory_imports_idempotency",
            "organization_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    status: Mapped[ImportStatus] = mapped_column(
        EnumText(ImportStatus), default=ImportStatus.RECEIVING
    )
    file_format: Mapped[str] = mapped_column(String(10))  # csv | json
    partial: Mapped[bool] = mapped_column(default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_valid: Mapped[int] = mapped_column(default=0)
    rows_applied: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    failure: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class InventoryImportError(TenantScoped, Base):
    """One line of an import's consolidated error report."""

    __tablename__ = "inventory_import_errors"
    __table_args__ = (PrimaryKeyConstraint("import_id", "row_number", "column_name"),)

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("inventory_imports.id", ondelete="CASCADE")
    )
    row_number: Mapped[int] = mapped_column(BigInteger)
    column_name: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(String(300))
