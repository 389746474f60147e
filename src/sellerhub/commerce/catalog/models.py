from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin, TenantScoped, TimestampMixin


class Product(IdMixin, TimestampMixin, TenantScoped, Base):
    """A product the organization sells, identified by its SKU (unique per organization). An
    archived product keeps its history (stock, movements) but takes no new stock."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("organization_id", "sku"),
        Index("ix_products_org_id", "organization_id", "id"),
    )

    sku: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    asin: Mapped[str | None] = mapped_column(String(20), default=None)
    fnsku: Mapped[str | None] = mapped_column(String(20), default=None)
    barcode: Mapped[str | None] = mapped_column(String(64), default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class ProductListing(IdMixin, TenantScoped, Base):
    """Where a product is listed on a channel: the Amazon seller SKU / ASIN, the Shopify
    variant id, the WooCommerce product id — one per store (connection) and external id."""

    __tablename__ = "product_listings"
    __table_args__ = (UniqueConstraint("organization_id", "connection_id", "external_id"),)

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(20))
    connection_id: Mapped[uuid.UUID]
    external_id: Mapped[str] = mapped_column(String(100))
