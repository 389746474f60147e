from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response, status

from sellerhub.commerce.catalog import service
from sellerhub.commerce.catalog.schemas import (
    ListingIn,
    ListingOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductUpdate,
)
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1/products", tags=["catalog"])


@router.get("", response_model=ProductPage)
async def list_products(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    search: str | None = Query(
        None, min_length=1, max_length=200, description="part of the SKU or the title"
    ),
    archived: bool = Query(False, description="include archived products"),
) -> ProductPage:
    """The organization's products with their channel listings, cursor-paged."""
    items, next_cursor = await service.page(
        session, limit=limit, after=cursor, search=search, archived=archived
    )
    return ProductPage(items=items, next_cursor=next_cursor)


@router.post(
    "",
    response_model=ProductOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "a listing names a store (connection) the organization does not have"},
        409: {"description": "another product has the SKU, or a listing is taken"},
    },
)
async def create_product(
    body: ProductIn, session: TenantSessionDep, principal: AdminPrincipal
) -> ProductOut:
    return await service.create(session, body)


@router.get("/{product_id}", response_model=ProductOut)
async def get_product(
    product_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ProductOut:
    return await service.get_out(session, product_id)


@router.patch(
    "/{product_id}",
    response_model=ProductOut,
    responses={409: {"description": "another product has the SKU"}},
)
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, session: TenantSessionDep, principal: AdminPrincipal
) -> ProductOut:
    return await service.update(session, product_id, body)


@router.post("/{product_id}/archive", response_model=ProductOut)
async def archive_product(
    product_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> ProductOut:
    """Archived products keep their stock and history but take no new reservations or
    adjustments; archiving again changes nothing."""
    return await service.archive(session, product_id)


@router.post(
    "/{product_id}/listings",
    response_model=ListingOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "the store's listing id is linked to another product"}},
)
async def add_listing(
    product_id: uuid.UUID, body: ListingIn, session: TenantSessionDep, principal: AdminPrincipal
) -> ListingOut:
    """Link the product to its listing on a store (connection): the Amazon seller SKU or ASIN,
    the Shopify variant id, the WooCommerce product id."""
    return await service.add_listing(session, product_id, body)


@router.delete("/{product_id}/listings/{listing_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_listing(
    product_id: uuid.UUID,
    listing_id: uuid.UUID,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> Response:
    await service.remove_listing(session, product_id, listing_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
