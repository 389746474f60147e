"""Products (issue 13, deliverable 7): the catalog's list with search (part of the SKU or the
title) and cursor paging, each product's identifiers and where it is listed on the channels;
create, edit and archive for owners and admins, through the same catalog service and rules as
``/api/v1/products`` (a member sees everything, the buttons disabled with the reason, and the
routes refuse them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from sellerhub.commerce.catalog import service as catalog
from sellerhub.commerce.catalog.schemas import ProductIn, ProductOut, ProductUpdate
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute, page_cursor
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)
M = TypeVar("M", bound=BaseModel)

PAGE_SIZE = 50
ADMIN_ONLY = "Only an owner or admin of the organization can create, edit or archive products."
CHANNEL_WORDS = {"amazon": "Amazon", "shopify": "Shopify", "woocommerce": "WooCommerce"}
FIELD_WORDS = {
    "sku": "SKU",
    "title": "title",
    "asin": "ASIN",
    "fnsku": "FNSKU",
    "barcode": "barcode",
}


@dataclass(frozen=True, slots=True)
class Filters:
    search: str | None
    archived: bool
    cursor: uuid.UUID | None

    def query(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "search": self.search,
            "archived": "1" if self.archived else None,
            "cursor": self.cursor,
        } | changes
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


def _filters(request: Request) -> Filters:
    params = request.query_params
    search = (params.get("search") or "").strip() or None
    if search is not None and len(search) > 200:
        raise ValidationFailed("search: at most 200 characters")
    cursor = page_cursor(request)
    return Filters(search, params.get("archived") in ("1", "on", "true"), cursor)


def _context(viewer: Viewer, **values: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "nav": "/products",
        "admin_only": ADMIN_ONLY,
        "channel_words": CHANNEL_WORDS,
        **values,
    }


@router.get("/products")
async def products_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    filters = _filters(request)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        products, next_cursor = await catalog.page(
            session,
            limit=PAGE_SIZE,
            after=filters.cursor,
            search=filters.search,
            archived=filters.archived,
        )
    created = request.query_params.get("created")
    return render(
        request,
        "products.html",
        _context(
            viewer,
            filters=filters,
            products=products,
            next_cursor=next_cursor,
            created=created if any(p.sku == created for p in products) else None,
        ),
    )


def _words(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = str(error["loc"][-1]) if error["loc"] else ""
        message = str(error["msg"]).replace("String should have", "should have")
        parts.append(f"{FIELD_WORDS.get(field, field)}: {message}")
    return "; ".join(parts)


def _fields(form: Any, *, clear_empty: bool) -> dict[str, Any]:
    """The form's product fields; an empty identifier is left out (create) or cleared (edit)."""
    values: dict[str, Any] = {}
    for name in ("sku", "title", "asin", "fnsku", "barcode"):
        raw = form.get(name)
        if raw is None:
            continue
        text = str(raw).strip()
        if name in ("sku", "title") or text:
            values[name] = text
        elif clear_empty:
            values[name] = None
    return values


def _parse(model: type[M], values: dict[str, Any]) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ValidationFailed(_words(exc)) from None


def _product_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such product") from None


@router.post("/products")
async def create_product(request: Request) -> Response:
    """Create a product (owners and admins, as ``POST /api/v1/products``); the page then shows
    it (``HX-Redirect`` to the list searched for its SKU)."""
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    body = _parse(ProductIn, _fields(await request.form(), clear_empty=False))
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        product = await catalog.create(session, body)
    target = "/products?" + urlencode({"search": product.sku, "created": product.sku})
    return Response(status_code=204, headers={"HX-Redirect": target})


def _row(request: Request, viewer: Viewer, product: ProductOut, notice: str) -> Response:
    return render(
        request,
        "partials/product_row.html",
        _context(viewer, p=product, notice=notice),
    )


@router.post("/products/{product_id}")
async def update_product(request: Request, product_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    body = _parse(ProductUpdate, _fields(await request.form(), clear_empty=True))
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        product = await catalog.update(session, _product_id(product_id), body)
    return _row(request, viewer, product, "Saved.")


@router.post("/products/{product_id}/archive")
async def archive_product(request: Request, product_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        product = await catalog.archive(session, _product_id(product_id))
    return _row(request, viewer, product, "Archived.")
