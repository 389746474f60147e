from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.catalog.models import Product, ProductListing


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ProductRepository:
    """Queries on ``products`` and ``product_listings``; tenant scope is applied centrally."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, row: Product | ProductListing) -> None:
        self.session.add(row)

    async def get(self, product_id: uuid.UUID) -> Product | None:
        return await self.session.scalar(select(Product).where(Product.id == product_id))

    async def by_sku(self, sku: str) -> Product | None:
        return await self.session.scalar(select(Product).where(Product.sku == sku))

    async def by_skus(self, skus: Collection[str]) -> dict[str, Product]:
        if not skus:
            return {}
        rows = await self.session.scalars(select(Product).where(Product.sku.in_(list(skus))))
        return {p.sku: p for p in rows}

    async def ids_by_sku(self, skus: Collection[str]) -> dict[str, uuid.UUID]:
        """SKU → product id of live (not archived) products; one round trip, no entities."""
        if not skus:
            return {}
        rows = await self.session.execute(
            select(Product.sku, Product.id).where(
                Product.sku.in_(list(skus)), Product.archived_at.is_(None)
            )
        )
        return {sku: pid for sku, pid in rows}

    async def skus_of(self, product_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not product_ids:
            return {}
        rows = await self.session.execute(
            select(Product.id, Product.sku).where(Product.id.in_(list(product_ids)))
        )
        return {pid: sku for pid, sku in rows}

    async def page(
        self, *, limit: int, after: uuid.UUID | None, search: str | None, archived: bool
    ) -> Sequence[Product]:
        """Oldest first by id; ``limit + 1`` rows so the caller knows whether a page follows.
        ``search`` matches the SKU or the title, case-insensitively, anywhere in them."""
        stmt = select(Product).order_by(Product.id).limit(limit + 1)
        if after is not None:
            stmt = stmt.where(Product.id > after)
        if search:
            pattern = _like(search)
            stmt = stmt.where(
                or_(
                    Product.sku.ilike(pattern, escape="\\"),
                    Product.title.ilike(pattern, escape="\\"),
                )
            )
        if not archived:
            stmt = stmt.where(Product.archived_at.is_(None))
        return (await self.session.execute(stmt)).scalars().all()

    async def listings_of(
        self, product_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, list[ProductListing]]:
        found: dict[uuid.UUID, list[ProductListing]] = {pid: [] for pid in product_ids}
        if not product_ids:
            return found
        rows = await self.session.scalars(
            select(ProductListing)
            .where(ProductListing.product_id.in_(list(product_ids)))
            .order_by(ProductListing.id)
        )
        for listing in rows:
            found[listing.product_id].append(listing)
        return found

    async def listing(self, product_id: uuid.UUID, listing_id: uuid.UUID) -> ProductListing | None:
        return await self.session.scalar(
            select(ProductListing).where(
                ProductListing.id == listing_id, ProductListing.product_id == product_id
            )
        )

    async def listing_by_external(
        self, connection_id: uuid.UUID, external_id: str
    ) -> ProductListing | None:
        return await self.session.scalar(
            select(ProductListing).where(
                ProductListing.connection_id == connection_id,
                ProductListing.external_id == external_id,
            )
        )

    async def delete_listing(self, listing_id: uuid.UUID) -> None:
        await self.session.execute(delete(ProductListing).where(ProductListing.id == listing_id))

    async def count(self) -> int:
        return int((await self.session.execute(select(func.count(Product.id)))).scalar_one())
