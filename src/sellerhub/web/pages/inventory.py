"""Inventory (issue 13, deliverable 7): stock levels, a SKU's journal and adjustments, the bulk
import with its progress and error report, and the FBA snapshots.

``/inventory`` lists levels by (product, location) — on hand, reserved and available (on hand -
reserved) — filtered by location, SKU and low stock (available under a threshold), cursor-paged.
``/inventory/sku?sku=`` shows one SKU: its level at each location with an adjustment form
(compare-and-set on the on hand the page showed: when it changed meanwhile the answer says so in
words and the figures are read again) and its movements journal, newest first.

``/inventory/import`` uploads a file: the page's script sends the File itself as the body of
``POST /api/v1/inventory/imports`` (the API's streamed route, not through this server's pages),
then follows the import here with htmx (``/inventory/import/{id}``, every second until it has
finished): a progress bar over rows read, validated and applied, and the consolidated error
report as a table with a link to ``errors.csv``.

Everything is read through the same services as the JSON API, tenant-scoped and role-guarded
like it: every member reads and may adjust (as ``POST /api/v1/inventory/adjustments``); only
owners and admins import (the upload control is disabled for members, with the reason)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from sellerhub.commerce.catalog import service as catalog
from sellerhub.commerce.inventory import service as inventory
from sellerhub.commerce.inventory.errors import QuantityChanged
from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.inventory.imports import service as imports
from sellerhub.commerce.inventory.imports.schemas import ImportErrorOut, ImportOut
from sellerhub.commerce.inventory.schemas import AdjustmentIn, LevelOut, LocationOut
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE_SIZE = 50
JOURNAL_SIZE = 50
LOW_STOCK_BELOW = 5  # the default threshold of the low-stock filter and the dashboard's count
MAX_QUANTITY = 1_000_000_000
REPORT_SHOWN = 200  # error lines shown on the page; the whole report is errors.csv
IMPORT_ADMIN_ONLY = "Only an owner or admin of the organization can import stock."

STATUS_WORDS = {
    "receiving": "Receiving the file",
    "validating": "Checking every row",
    "applying": "Applying the quantities",
    "succeeded": "Imported",
    "rejected": "Not imported: some rows are wrong, so nothing was applied",
    "failed": "The import failed",
}
REASON_WORDS = {
    "adjust": "Adjusted",
    "reserve": "Reserved",
    "commit": "Shipped (reservation)",
    "release": "Released",
    "expire": "Reservation expired",
    "ship": "Shipped",
    "import": "Imported",
    "fba_sync": "Amazon FBA sync",
}
KIND_WORDS = {"warehouse": "Warehouse", "fba": "Amazon FBA", "channel": "Sales channel"}


def _tenant_session(request: Request, viewer: Viewer) -> Any:
    return unit_of_work(runtime_of(request).sessionmaker)


def _int(value: str | None, name: str, *, low: int, high: int) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise ValidationFailed(f"{name}: enter a whole number") from None
    if not low <= number <= high:
        raise ValidationFailed(f"{name}: a whole number from {low:,} to {high:,}")
    return number


def _text(value: str | None, name: str, limit: int) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > limit:
        raise ValidationFailed(f"{name}: at most {limit} characters")
    return text


def _context(viewer: Viewer, nav: str = "/inventory", **values: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "nav": nav,
        "status_words": STATUS_WORDS,
        "reason_words": REASON_WORDS,
        "kind_words": KIND_WORDS,
        "import_admin_only": IMPORT_ADMIN_ONLY,
        "when": _when,
        **values,
    }


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


# --- levels --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelFilters:
    location: str | None
    sku: str | None
    low: bool
    below: int
    cursor: str | None

    def query(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "location": self.location,
            "sku": self.sku,
            "low": "1" if self.low else None,
            "below": None if self.below == LOW_STOCK_BELOW else self.below,
            "cursor": self.cursor,
        } | changes
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


def _level_filters(request: Request) -> LevelFilters:
    params = request.query_params
    below = _int(params.get("below"), "low stock below", low=1, high=MAX_QUANTITY)
    cursor = _text(params.get("cursor"), "page", 80)
    return LevelFilters(
        location=_text(params.get("location"), "location", 64),
        sku=_text(params.get("sku"), "SKU", 200),
        low=params.get("low") in ("1", "on", "true"),
        below=below or LOW_STOCK_BELOW,
        cursor=cursor,
    )


@router.get("/inventory")
async def inventory_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    filters = _level_filters(request)
    problem = ""
    levels: list[LevelOut] = []
    next_cursor: str | None = None
    async with _tenant_session(request, viewer) as session:
        set_tenant(session, viewer.principal.organization_id)
        locations, _ = await inventory.locations_page(
            session, limit=200, after=None, archived=False
        )
        try:
            levels, next_cursor = await inventory.levels_page(
                session,
                limit=PAGE_SIZE,
                cursor=filters.cursor,
                location=filters.location,
                sku=filters.sku,
                product_id=None,
                below=filters.below if filters.low else None,
            )
        except NotFound as exc:  # an unknown SKU or location typed in the filters
            problem = exc.detail
        snapshots = await fba.list_snapshots(
            session, viewer.principal.organization_id, limit=5, before=None
        )
    return render(
        request,
        "inventory.html",
        _context(
            viewer,
            filters=filters,
            locations=locations,
            levels=levels,
            next_cursor=next_cursor,
            problem=problem,
            snapshots=snapshots.items,
        ),
    )


# --- one SKU: its levels, adjustments and journal ------------------------------------------


def _sku_of(request: Request) -> str:
    sku = _text(request.query_params.get("sku"), "SKU", 200)
    if sku is None:
        raise ValidationFailed("SKU: choose a SKU from the inventory list")
    return sku


async def _sku_levels(
    request: Request, viewer: Viewer, sku: str
) -> tuple[Any, list[LevelOut], list[LocationOut]]:
    async with _tenant_session(request, viewer) as session:
        set_tenant(session, viewer.principal.organization_id)
        product = await catalog.by_sku(session, sku)
        levels, _ = await inventory.levels_page(
            session,
            limit=200,
            cursor=None,
            location=None,
            sku=None,
            product_id=product.id,
            below=None,
        )
        locations, _ = await inventory.locations_page(
            session, limit=200, after=None, archived=False
        )
    stocked = {level.location for level in levels}
    return product, levels, [loc for loc in locations if loc.code not in stocked]


def _levels_context(viewer: Viewer, product: Any, levels: list[LevelOut], others: Any) -> Any:
    return _context(
        viewer,
        product=product,
        levels=levels,
        other_locations=others,
        new_key=lambda: str(uuid.uuid4()),
    )


async def _journal(
    request: Request, viewer: Viewer, sku: str
) -> tuple[list[Any], int | None, int | None]:
    before = _int(request.query_params.get("before"), "page", low=1, high=2**62)
    async with _tenant_session(request, viewer) as session:
        set_tenant(session, viewer.principal.organization_id)
        movements, next_cursor = await inventory.movements_page(
            session, sku=sku, location=None, limit=JOURNAL_SIZE, before=before
        )
    return movements, next_cursor, before


@router.get("/inventory/sku")
async def sku_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    sku = _sku_of(request)
    product, levels, others = await _sku_levels(request, viewer, sku)
    movements, next_cursor, before = await _journal(request, viewer, sku)
    return render(
        request,
        "inventory_sku.html",
        _levels_context(viewer, product, levels, others)
        | {"movements": movements, "next_cursor": next_cursor, "before": before, "sku": sku},
    )


@router.get("/inventory/sku/levels")
async def sku_levels(request: Request) -> Response:
    """The SKU's level cards alone (read again after an adjustment, or a refused one)."""
    viewer = await require_viewer(request)
    product, levels, others = await _sku_levels(request, viewer, _sku_of(request))
    return render(
        request, "partials/inventory_levels.html", _levels_context(viewer, product, levels, others)
    )


@router.get("/inventory/sku/journal")
async def sku_journal(request: Request) -> Response:
    viewer = await require_viewer(request)
    sku = _sku_of(request)
    movements, next_cursor, before = await _journal(request, viewer, sku)
    return render(
        request,
        "partials/inventory_journal.html",
        _context(viewer, sku=sku, movements=movements, next_cursor=next_cursor, before=before),
    )


def _adjustment(form: Any) -> AdjustmentIn:
    mode = form.get("mode") or "set"
    if mode not in ("set", "delta"):
        raise ValidationFailed("kind of change: set the quantity or change it by a number")
    quantity = _int(
        str(form.get("quantity") or ""), "quantity", low=-MAX_QUANTITY, high=MAX_QUANTITY
    )
    if quantity is None:
        raise ValidationFailed("quantity: enter a whole number")
    if mode == "set" and quantity < 0:
        raise ValidationFailed("quantity: the new on hand cannot be negative")
    if mode == "delta" and quantity == 0:
        raise ValidationFailed("quantity: a change of 0 changes nothing")
    expected = _int(
        str(form.get("expected_on_hand") or ""), "on hand seen", low=0, high=MAX_QUANTITY
    )
    try:
        return AdjustmentIn(
            idempotency_key=str(form.get("idempotency_key") or ""),
            sku=str(form.get("sku") or ""),
            location=str(form.get("location") or ""),
            mode=mode,
            quantity=quantity,
            expected_on_hand=expected,
        )
    except ValidationError as exc:
        words = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        raise ValidationFailed(words) from None


def _flash(request: Request, kind: str, text: str, status_code: int = 200) -> Response:
    return render(
        request,
        "partials/flash.html",
        {"kind": kind, "text": text},
        status_code=status_code,
        headers={"HX-Trigger": "inventory-changed"},
    )


@router.post("/inventory/adjust")
async def adjust(request: Request) -> Response:
    """An adjustment from the SKU page: the same service and rules as
    ``POST /api/v1/inventory/adjustments`` (every member; compare-and-set on the on hand the
    page showed). The answer is words for the flash region; the page reads its figures again
    (``HX-Trigger: inventory-changed``), after a refusal too."""
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    body = _adjustment(await request.form())
    try:
        async with _tenant_session(request, viewer) as session:
            set_tenant(session, viewer.principal.organization_id)
            done = await inventory.adjust(session, body, source=f"web:{viewer.principal.user_id}")
    except QuantityChanged as exc:
        now = exc.extra.get("on_hand")
        seen = body.expected_on_hand
        text = (
            f"The quantity changed since you looked: {body.sku} at {body.location} has "
            f"{now:,} on hand now, not {seen:,}. Nothing was changed; the figures below are "
            "fresh, adjust again if you still want to."
            if isinstance(now, int) and seen is not None
            else f"The quantity changed since you looked: {exc.detail}"
        )
        return _flash(request, "error", text, status_code=409)
    change = f"{done.delta_on_hand:+,}" if done.delta_on_hand else "no change"
    return _flash(
        request,
        "ok",
        f"Saved: {done.sku} at {done.location} has {done.on_hand:,} on hand ({change}), "
        f"{done.available:,} available.",
    )


# --- bulk import ---------------------------------------------------------------------------


def _import_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("no such import") from None


@dataclass(frozen=True, slots=True)
class ImportView:
    item: ImportOut
    errors: list[ImportErrorOut]

    @property
    def finished(self) -> bool:
        return self.item.status in ("succeeded", "rejected", "failed")

    @property
    def percent(self) -> int | None:
        """Of the three steps (read, validated, applied); None while the file arrives."""
        status = self.item.status
        if self.finished:
            return 100
        if status == "validating":
            return 33
        if status == "applying":
            rows = max(self.item.rows_valid, 1)
            return 66 + min(33, 33 * self.item.rows_applied // rows)
        return None


async def _import_view(request: Request, viewer: Viewer, import_id: uuid.UUID) -> ImportView:
    async with _tenant_session(request, viewer) as session:
        set_tenant(session, viewer.principal.organization_id)
        item = await imports.get(session, viewer.principal.organization_id, import_id)
        if item.status in imports.FINISHED and item.error_count:
            answer = await imports.result(session, item)
            return ImportView(imports.describe(item), answer.errors[:REPORT_SHOWN])
        return ImportView(imports.describe(item), [])


@router.get("/inventory/import")
async def import_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    shown = request.query_params.get("import")
    view = await _import_view(request, viewer, _import_id(shown)) if shown else None
    return render(request, "inventory_import.html", _context(viewer, view=view))


@router.get("/inventory/import/{import_id}")
async def import_progress(request: Request, import_id: str) -> Response:
    """The import's progress (polled every second until it has finished) and, once finished,
    its error report."""
    viewer = await require_viewer(request)
    view = await _import_view(request, viewer, _import_id(import_id))
    return render(request, "partials/import_progress.html", _context(viewer, view=view))
