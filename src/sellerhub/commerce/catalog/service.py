"""The catalog: an organization's products (SKU unique per organization) and where each is
listed on its channels. Other domains reach products through these functions (``by_skus``,
``skus_of``), never through the repository."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.catalog.errors import ListingTaken, SkuTaken
from sellerhub.commerce.catalog.models import Product, ProductListing
from sellerhub.commerce.catalog.repository import ProductRepository
from sellerhub.commerce.catalog.schemas import (
    ListingIn,
    ListingOut,
    ProductIn,
    ProductOut,
    ProductUpdate,
)
from sellerhub.connections import service as connections
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.db.tenancy import tenant_of


def describe(product: Product, listings: Sequence[ProductListing]) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        title=product.title,
        asin=product.asin,
        fnsku=product.fnsku,
        barcode=product.barcode,
        archived_at=product.archived_at,
        created_at=product.created_at,
        updated_at=product.updated_at,
        listings=[describe_listing(listing) for listing in listings],
    )


def describe_listing(listing: ProductListing) -> ListingOut:
    return ListingOut(
        id=listing.id,
        channel=listing.channel,
        connection_id=listing.connection_id,
        external_id=listing.external_id,
    )


# The connection provider that is a store of each channel.
_STORE_PROVIDER = {"amazon": "amazon_spapi", "shopify": "shopify", "woocommerce": "woocommerce"}


def _sku(value: str) -> str:
    sku = value.strip()
    if not sku:
        raise ValidationFailed("sku must not be blank")
    if any(ord(c) < 32 for c in sku):
        raise ValidationFailed("sku must not contain control characters")
    return sku


async def get(session: AsyncSession, product_id: uuid.UUID) -> Product:
    product = await ProductRepository(session).get(product_id)
    if product is None:
        raise NotFound("no such product")
    return product


async def get_out(session: AsyncSession, product_id: uuid.UUID) -> ProductOut:
    product = await get(session, product_id)
    listings = await ProductRepository(session).listings_of([product.id])
    return describe(product, listings[product.id])


async def by_sku(session: AsyncSession, sku: str) -> Product:
    """The product with this SKU in the session's organization (404 otherwise, also for
    another organization's SKU)."""
    product = await ProductRepository(session).by_sku(sku)
    if product is None:
        raise NotFound(f"no product has the SKU {sku!r}")
    return product


async def ids_by_sku(session: AsyncSession, skus: Collection[str]) -> dict[str, uuid.UUID]:
    """SKU → id of the organization's live (not archived) products among ``skus``."""
    return await ProductRepository(session).ids_by_sku(skus)


async def skus_of(
    session: AsyncSession, product_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    return await ProductRepository(session).skus_of(product_ids)


async def page(
    session: AsyncSession,
    *,
    limit: int,
    after: uuid.UUID | None,
    search: str | None,
    archived: bool,
) -> tuple[list[ProductOut], uuid.UUID | None]:
    repo = ProductRepository(session)
    rows = list(await repo.page(limit=limit, after=after, search=search, archived=archived))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    rows = rows[:limit]
    listings = await repo.listings_of([p.id for p in rows])
    return [describe(p, listings[p.id]) for p in rows], next_cursor


async def _flush_or_conflict(session: AsyncSession, sku: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        if "uq_product_listings" in str(exc.orig):
            raise ListingTaken(
                "one of the listings is already linked to a product of this organization"
            ) from None
        raise SkuTaken(f"another product already has the SKU {sku!r}") from None


async def _check_listing(session: AsyncSession, listing: ListingIn) -> None:
    connection = await connections.get_connection(session, listing.connection_id)
    if connection.provider != _STORE_PROVIDER[listing.channel]:
        raise ValidationFailed(
            f"the connection {listing.connection_id} is a {connection.provider} connection, "
            f"not a {listing.channel} store"
        )


async def create(session: AsyncSession, body: ProductIn) -> ProductOut:
    organization_id = tenant_of(session)
    assert organization_id is not None
    sku = _sku(body.sku)
    repo = ProductRepository(session)
    if await repo.by_sku(sku) is not None:
        raise SkuTaken(f"another product already has the SKU {sku!r}")
    product = Product(
        organization_id=organization_id,
        sku=sku,
        title=body.title,
        asin=body.asin,
        fnsku=body.fnsku,
        barcode=body.barcode,
    )
    product.ensure_id()
    repo.add(product)
    listings = []
    for item in body.listings:
        await _check_listing(session, item)
        listing = ProductListing(
            organization_id=organization_id,
            product_id=product.id,
            channel=item.channel,
            connection_id=item.connection_id,
            external_id=item.external_id,
        )
        listing.ensure_id()
        repo.add(listing)
        listings.append(listing)
    await _flush_or_conflict(session, sku)
    await session.refresh(product)
    return describe(product, listings)


async def update(session: AsyncSession, product_id: uuid.UUID, body: ProductUpdate) -> ProductOut:
    product = await get(session, product_id)
    changes = body.model_dump(exclude_unset=True)
    if "sku" in changes:
        if changes["sku"] is None:
            raise ValidationFailed("sku cannot be cleared")
        changes["sku"] = _sku(changes["sku"])
        other = await ProductRepository(session).by_sku(changes["sku"])
        if other is not None and other.id != product.id:
            raise SkuTaken(f"another product already has the SKU {changes['sku']!r}")
    if "title" in changes and changes["title"] is None:
        changes["title"] = ""
    for name, value in changes.items():
        setattr(product, name, value)
    await _flush_or_conflict(session, product.sku)
    await session.refresh(product)
    return await get_out(session, product.id)


async def archive(session: AsyncSession, product_id: uuid.UUID) -> ProductOut:
    """Archived products keep their stock and history but are no longer offered to new
    reservations or adjustments. Archiving twice is the same as once."""
    product = await get(session, product_id)
    if product.archived_at is None:
        product.archived_at = utcnow()
        await session.flush()
        await session.refresh(product)
    return await get_out(session, product.id)


async def add_listing(session: AsyncSession, product_id: uuid.UUID, body: ListingIn) -> ListingOut:
    product = await get(session, product_id)
    await _check_listing(session, body)
    repo = ProductRepository(session)
    existing = await repo.listing_by_external(body.connection_id, body.external_id)
    if existing is not None:
        if existing.product_id == product.id:
            return describe_listing(existing)
        raise ListingTaken(
            f"the {body.channel} listing {body.external_id!r} of this store is linked to "
            "another product"
        )
    listing = ProductListing(
        organization_id=product.organization_id,
        product_id=product.id,
        channel=body.channel,
        connection_id=body.connection_id,
        external_id=body.external_id,
    )
    listing.ensure_id()
    repo.add(listing)
    await _flush_or_conflict(session, product.sku)
    return describe_listing(listing)


async def remove_listing(
    session: AsyncSession, product_id: uuid.UUID, listing_id: uuid.UUID
) -> None:
    await get(session, product_id)
    repo = ProductRepository(session)
    if await repo.listing(product_id, listing_id) is None:
        raise NotFound("no such listing of this product")
    await repo.delete_listing(listing_id)
