from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin, TenantScoped, TimestampMixin


class Order(IdMixin, TimestampMixin, TenantScoped, Base):
    """A channel order, normalised. One row per (organization, connection, external id): the
    connection is the store, and two stores of one organization number their orders
    independently (two WooCommerce stores both have an order 1). Updates apply only when the
    provider's ``updated_at`` is newer than the stored one."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("organization_id", "connection_id", "external_id"),
        CheckConstraint("total_minor >= 0", name="total_minor"),
        Index("ix_orders_org_placed", "organization_id", "placed_at", "id"),
    )

    channel: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[uuid.UUID]  # the store it came from (``connections``)
    external_id: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(50), default="")
    currency: Mapped[str] = mapped_column(String(3))
    # BIGINT: 2^31 minor units is only ~$85,000 in dong or ~$1.5 million in won.
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    customer_email: Mapped[str | None] = mapped_column(String(320), default=None)
    placed_at: Mapped[datetime | None] = mapped_column(default=None)
    provider_updated_at: Mapped[datetime]


class OrderLine(IdMixin, TenantScoped, Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity"),
        CheckConstraint("unit_price_minor >= 0", name="unit_price_minor"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(100), default="")
    sku: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[int] = mapped_column(default=0)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
