from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from sellerhub.commerce.inventory import service
from sellerhub.commerce.inventory.schemas import (
    AdjustmentIn,
    AdjustmentOut,
    LevelPage,
    LocationIn,
    LocationOut,
    LocationPage,
    LocationUpdate,
    MovementPage,
    ReservationIn,
    ReservationOut,
)
from sellerhub.core.inputs import request_body
from sellerhub.core.openapi import inline_schema
from sellerhub.deps import (
    AdminPrincipal,
    CurrentPrincipal,
    TenantSessionDep,
    current_principal,
    runtime_of,
)

locations_router = APIRouter(prefix="/api/v1/locations", tags=["inventory"])
router = APIRouter(prefix="/api/v1/inventory", tags=["inventory"])
# The reservation route alone, listed early in the route table (api.ROUTERS): routes are matched
# one by one in order, and behind the 100 routes before the inventory router the matching cost
# more than the route's own work.
reservations_router = APIRouter(prefix="/api/v1/inventory", tags=["inventory"])
product_levels_router = APIRouter(prefix="/api/v1/products", tags=["inventory"])


# --- locations -----------------------------------------------------------------------------


@locations_router.get("", response_model=LocationPage)
async def list_locations(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    archived: bool = Query(False, description="include archived locations"),
) -> LocationPage:
    items, next_cursor = await service.locations_page(
        session, limit=limit, after=cursor, archived=archived
    )
    return LocationPage(items=items, next_cursor=next_cursor)


@locations_router.post(
    "",
    response_model=LocationOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "another location has the code"}},
)
async def create_location(
    body: LocationIn, session: TenantSessionDep, principal: AdminPrincipal
) -> LocationOut:
    return await service.create_location(session, body)


@locations_router.get("/{location_id}", response_model=LocationOut)
async def get_location(
    location_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> LocationOut:
    return service.describe_location(await service.get_location(session, location_id))


@locations_router.patch("/{location_id}", response_model=LocationOut)
async def update_location(
    location_id: uuid.UUID,
    body: LocationUpdate,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> LocationOut:
    return await service.update_location(session, location_id, body)


@locations_router.post("/{location_id}/archive", response_model=LocationOut)
async def archive_location(
    location_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> LocationOut:
    """The location keeps its levels and history and takes no new reservations or
    adjustments; archiving again changes nothing."""
    return await service.archive_location(session, location_id)


# --- levels and movements ------------------------------------------------------------------


@router.get(
    "/levels",
    response_model=LevelPage,
    responses={404: {"description": "no product has the SKU, or no location the code"}},
)
async def list_levels(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=80, description="next_cursor of the last page"),
    location: str | None = Query(None, max_length=64, description="a location's code"),
    sku: str | None = Query(None, max_length=200),
    product_id: uuid.UUID | None = Query(None),
    low_stock_below: int | None = Query(
        None,
        ge=1,
        le=2_147_483_647,  # quantities are PostgreSQL integers
        description="only levels whose available quantity is under this",
    ),
) -> LevelPage:
    """Stock per (product, location): on hand, reserved, available."""
    items, next_cursor = await service.levels_page(
        session,
        limit=limit,
        cursor=cursor,
        location=location,
        sku=sku,
        product_id=product_id,
        below=low_stock_below,
    )
    return LevelPage(items=items, next_cursor=next_cursor)


@product_levels_router.get("/{product_id}/levels", response_model=LevelPage)
async def product_levels(
    product_id: uuid.UUID,
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(200, ge=1, le=200),
    cursor: str | None = Query(None, max_length=80),
) -> LevelPage:
    """A product's stock at each location."""
    items, next_cursor = await service.levels_page(
        session,
        limit=limit,
        cursor=cursor,
        location=None,
        sku=None,
        product_id=product_id,
        below=None,
    )
    return LevelPage(items=items, next_cursor=next_cursor)


@router.get(
    "/movements",
    response_model=MovementPage,
    responses={404: {"description": "no product has the SKU, or no location the code"}},
)
async def list_movements(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    sku: str = Query(min_length=1, max_length=200),
    location: str | None = Query(None, max_length=64, description="a location's code"),
    limit: int = Query(50, ge=1, le=200),
    cursor: int | None = Query(None, ge=1, description="next_cursor of the previous page"),
) -> MovementPage:
    """The journal of a SKU's stock, newest first: every change with its reason, source,
    idempotency key and the quantities after it."""
    items, next_cursor = await service.movements_page(
        session, sku=sku, location=location, limit=limit, before=cursor
    )
    return MovementPage(items=items, next_cursor=next_cursor)


# --- adjustments and reservations ----------------------------------------------------------


@router.post(
    "/adjustments",
    response_model=AdjustmentOut,
    responses={
        404: {"description": "no such SKU or location"},
        409: {"description": "on hand changed (compare-and-set), or it would go below reserved"},
    },
)
async def adjust(
    body: AdjustmentIn, session: TenantSessionDep, principal: CurrentPrincipal
) -> AdjustmentOut:
    """Set on hand, or change it by a delta; with ``expected_on_hand``, only while on hand is
    still that. The same idempotency key answers the first result (``replayed``)."""
    return await service.adjust(session, body, source=f"api:{principal.user_id}")


# The hottest route of the inventory: no dependencies (the caller is authenticated here, from
# the per-process API key cache like the other hot routes), the body validated by its model,
# the reservation handed to the group-committing writer, and the answer rendered once.
@reservations_router.post(
    "/reservations",
    response_model=ReservationOut,
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline_schema(ReservationIn)}},
        },
        # Authenticated in the endpoint (no dependency to read it from): as every user route.
        "security": [{"bearerAuth": []}, {"sessionCookie": [], "csrfCookie": [], "csrfToken": []}],
    },
    responses={
        200: {"description": "the reservation made earlier with this idempotency key"},
        401: {"description": "no credentials, or they are not valid"},
        403: {"description": "a session's request without its CSRF token"},
        404: {"description": "no such SKU or location"},
        409: {"description": "a line is short of stock, or the key was used with other lines"},
        503: {"description": "the database is unavailable, or the levels kept changing"},
    },
)
async def reserve(request: Request) -> Response:
    """Reserve every line or none (body: ``ReservationIn``)."""
    return await serve_reservation(request)


async def serve_reservation(request: Request) -> Response:
    """The reservation route's work, from the request to its answer: the documented route above
    and its lane (``core.lanes.RouteLane``, composed in ``app.py``) both run it, so they
    authenticate, validate, reserve and answer alike (and raise the same exceptions, rendered by
    the app's handlers)."""
    principal = await current_principal(request)
    try:
        body = ReservationIn.model_validate_json(await request_body(request))
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    reservation, created = await service.reserve_now(
        runtime_of(request).writes, principal.organization_id, body, source="api"
    )
    return Response(
        reservation.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


RESERVATIONS_PATH = "/api/v1/inventory/reservations"


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
async def get_reservation(
    reservation_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ReservationOut:
    reservation = await service.get_reservation(session, reservation_id)
    return await service.describe_reservation(session, reservation)


@router.post(
    "/reservations/{reservation_id}/commit",
    response_model=ReservationOut,
    responses={409: {"description": "the reservation was released or expired"}},
)
async def commit_reservation(
    reservation_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ReservationOut:
    """The units ship: on hand and reserved both drop. Committing again answers the same."""
    return await service.commit_reservation(session, reservation_id)


@router.post(
    "/reservations/{reservation_id}/release",
    response_model=ReservationOut,
    responses={409: {"description": "the reservation was committed (its units shipped)"}},
)
async def release_reservation(
    reservation_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ReservationOut:
    """The units are available again. Releasing again answers the same."""
    return await service.release_reservation(session, reservation_id)
