"""Orders and their sync jobs (issue 12, deliverable 5).

``/orders`` lists the organization's orders, newest first, cursor-paged and filtered by channel
and status, with each order's lines in a disclosure; totals are integer minor units shown with
the currency's own decimals. The list is the page of orders ``GET /api/v1/orders`` answers (the
same filters, order and cursor: one query shape in ``orders.repository``), read in the same
round trip as the rest of the page, with only the columns the page shows
(``orders.service.rows_read``), so the page costs little more than the JSON.

Above the list, the sync panel: start a full or incremental sync of a channel (owners and
admins, as in the API; a member sees the button disabled with the reason), the latest jobs with
their progress, polled by htmx every second while a job is active and no longer once it has
finished; cancel (after a confirmation) and resume. A job that finishes while the page polls it
asks the page to reload its list (``HX-Trigger: orders-changed``)."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from sellerhub.commerce import money
from sellerhub.commerce.orders import service as orders
from sellerhub.commerce.sync import service as sync
from sellerhub.commerce.sync.models import ACTIVE
from sellerhub.commerce.sync.schemas import SyncJobOut, SyncRequest
from sellerhub.connections import service as connections
from sellerhub.connections.schemas import ConnectionSummary
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.db.reads import Read, TenantReader
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute, page_cursor
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer, view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
RECENT_JOBS = 5
# The channels an order can come from (the API's filter) and the ones that can sync.
ORDER_CHANNELS = {"shopify": "Shopify", "woocommerce": "WooCommerce", "amazon": "Amazon"}
SYNC_CHANNELS = sync.CHANNELS
ADMIN_ONLY = "Only an owner or admin of the organization can start, cancel or resume a sync."

JOB_WORDS = {
    "queued": "Waiting to start",
    "running": "Running",
    "succeeded": "Finished",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
# A transient failure is saved as the exception's class name when it had no words of its own.
ERROR_WORDS = {
    "ConnectError": "the store could not be reached",
    "ConnectTimeout": "the store did not answer in time",
    "ReadTimeout": "the store did not answer in time",
    "WriteTimeout": "the store did not answer in time",
    "PoolTimeout": "the store did not answer in time",
    "RemoteProtocolError": "the store closed the connection",
    "ReadError": "the connection to the store broke",
    "ValueError": "the store sent an answer we could not read",
}


def format_money(minor: int, currency: str) -> str:
    """``1999, "USD"`` → ``"USD 19.99"``; ``1500, "JPY"`` → ``"JPY 1,500"``; ``1250, "KWD"`` →
    ``"KWD 1.250"``. Integer arithmetic only: the minor units are split at the currency's
    exponent (ISO 4217), never divided as floats."""
    code = currency.upper()
    minor = int(minor)
    return f"{'-' if minor < 0 else ''}{code} {_amount(abs(minor), money.exponent(code))}"


def error_words(error: str | None) -> str:
    if not error:
        return ""
    return ERROR_WORDS.get(error, error)


@dataclass(frozen=True, slots=True)
class Filters:
    channel: str | None
    status: str | None
    cursor: uuid.UUID | None
    limit: int

    def query(self, **changes: Any) -> str:
        """The query string of these filters with ``changes`` (None drops a key)."""
        values: dict[str, Any] = {
            "channel": self.channel,
            "status": self.status,
            "cursor": self.cursor,
            "limit": None if self.limit == PAGE_SIZE else self.limit,
        } | changes
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


def _filters(request: Request) -> Filters:
    """The list's filters from the query string, checked here so that a bad value reads as
    words on the page (not a JSON validation error)."""
    params = request.query_params
    channel = params.get("channel") or None
    if channel is not None and channel not in ORDER_CHANNELS:
        raise ValidationFailed("channel: choose Shopify, WooCommerce or Amazon")
    status = (params.get("status") or "").strip() or None
    if status is not None and len(status) > 50:
        raise ValidationFailed("status: at most 50 characters")
    cursor = page_cursor(request)
    limit = PAGE_SIZE
    if params.get("limit"):
        try:
            limit = int(params["limit"])
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValidationFailed(f"limit: a number from 1 to {MAX_PAGE_SIZE}")
    return Filters(channel, status, cursor, limit)


@dataclass(frozen=True, slots=True)
class OrdersPage:
    count: int
    rows: Markup  # every order's <tr>, escaped (``_row_html``), placed once by the template
    next_cursor: str | None


_SKU = ' <span class="sku">'
_NO_LINES = '<span class="state">no lines</span>'


_SPECIAL = re.compile("[&<>\"']").search


def _esc(text: str) -> str:
    """``html.escape`` (quotes too), skipping the five replacements when the text holds none of
    the characters it replaces (most names and SKUs): 0.17 against 0.57 us a value."""
    return html.escape(text) if _SPECIAL(text) else text


def _amount(minor: int, places: int) -> str:
    """``minor`` with ``places`` decimals and thousands separators. The separators' format is
    asked for only from 1,000 up, and the fraction is padded by ``zfill`` instead of a nested
    format spec: 0.9 against 1.5 us an amount (a page of 50 orders writes about 150)."""
    magnitude = -minor if minor < 0 else minor
    if places:
        whole, fraction = divmod(magnitude, 10**places)
        text = (f"{whole:,}" if whole >= 1000 else str(whole)) + "." + str(fraction).zfill(places)
    else:
        text = f"{magnitude:,}" if magnitude >= 1000 else str(magnitude)
    return "-" + text if minor < 0 else text


def _channel_cells(stores: dict[str, Store]) -> dict[str, str]:
    """Each store's channel cell (channel, then the store's name), escaped once per page."""
    esc = _esc
    return {
        key: esc(ORDER_CHANNELS.get(store.provider, store.provider))
        + (f'<span class="sub">{esc(store.name)}</span>' if store.name else "")
        for key, store in stores.items()
    }


def _currency(code: str, seen: dict[str, tuple[str, int]]) -> tuple[str, int]:
    """The escaped code and the decimals of an order's currency, worked out once per page."""
    found = seen.get(code)
    if found is None:
        upper = code.upper()
        found = seen[code] = (_esc(upper), money.exponent(upper))
    return found


def _row_html(
    row: list[Any], channels: dict[str, str], currencies: dict[str, tuple[str, int]]
) -> str:
    """An order's table row, from its row of ``orders.rows_read`` (``ORDER_ROW``; its lines
    ``LINE_ROW``). The list is the page's hot loop (50 to 200 orders, each with its lines), so
    its rows are written here with ``html.escape`` on every text from the database instead of
    by the template (0.22 ms for 50 orders against 0.71 ms through Jinja2, measured on the
    same rows; ``bench/web.py`` holds the page's figure). Amounts as ``format_money`` writes
    them; each currency's code is escaped and its decimals looked up once per page
    (``currencies``). ``tests/test_web_orders_rows.py`` proves the escaping."""
    esc = _esc
    amount = _amount
    number, external_id, channel_code, connection_id, status, currency, total, when, lines = row
    code, places = _currency(currency, currencies)
    if lines:
        entries = []
        for sku, title, quantity, unit_price in lines:
            entries.append(
                f"<li>{int(quantity)} \N{MULTIPLICATION SIGN} {esc(title or sku or 'item')}"
                f"{_SKU + esc(sku) + '</span>' if sku else ''}"
                f" at {code} {amount(unit_price, places)}</li>"
            )
        count = len(lines)
        cell = (
            f'<details class="lines"><summary>{count} line{"" if count == 1 else "s"}</summary>'
            f"<ul>{''.join(entries)}</ul></details>"
        )
    else:
        cell = _NO_LINES
    channel = channels.get(connection_id)
    if channel is None:
        channel = esc(ORDER_CHANNELS.get(channel_code, channel_code))
    status = status.replace("_", " ") or "—"
    # Every text from the database went through esc() above; the rest is this function's.
    # ``when`` is PostgreSQL's ISO text of a timestamp (digits, -, :, T).
    return (
        f'<tr>\n<th scope="row">{esc(number or external_id)}</th>\n'
        f"<td>{when[:16].replace('T', ' ')}</td>\n"
        f"<td>{channel}</td>\n"
        f'<td><span class="order-status">{esc(status)}</span></td>\n'
        f'<td class="num">{code} {amount(total, places)}</td>\n'
        f"<td>{cell}</td>\n</tr>\n"
    )


def _orders_read(filters: Filters) -> Read[list[Any]]:
    """One page of orders: the orders the JSON API lists for these filters, as rows
    (``orders.rows_read``: only the columns the page shows)."""
    read = orders.rows_read(
        limit=filters.limit, before=filters.cursor, channel=filters.channel, status=filters.status
    )
    return Read(read.sql, read.params, orjson.loads)


def _orders_page(page: list[Any], stores: dict[str, Store]) -> OrdersPage:
    channels = _channel_cells(stores)
    found, next_cursor = page
    currencies: dict[str, tuple[str, int]] = {}
    # Each row's every database text went through _esc (_row_html): the rows are markup.
    rows = Markup("".join([_row_html(row, channels, currencies) for row in found]))  # noqa: S704
    return OrdersPage(len(found), rows, next_cursor)


@dataclass(frozen=True, slots=True)
class Store:
    """A channel connection as the page names it."""

    id: uuid.UUID
    provider: str
    name: str
    status: str

    @property
    def label(self) -> str:
        return f"{ORDER_CHANNELS.get(self.provider, self.provider)} · {self.name}"


def _stores(found: list[ConnectionSummary]) -> dict[str, Store]:
    """The organization's channel connections by id (disconnected ones too: their orders
    stay)."""
    return {
        str(c.id): Store(c.id, c.provider, c.display_name or c.external_account_id, c.status)
        for c in found
        if c.provider in SYNC_CHANNELS
    }


def _context(viewer: Viewer, **values: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "nav": "/orders",
        "money": format_money,
        "channel_words": ORDER_CHANNELS,
        "job_words": JOB_WORDS,
        "error_words": error_words,
        "admin_only": ADMIN_ONLY,
        **values,
    }


@router.get("/orders")
async def orders_page(request: Request) -> Response:
    filters = _filters(request)
    # The viewer, the sync panel (stores, latest jobs) and the orders: one statement.
    viewer, (found, jobs, page) = await view(
        request, connections.summaries(), sync.recent_jobs(RECENT_JOBS), _orders_read(filters)
    )
    stores = _stores(found)
    return render(
        request,
        "orders.html",
        _context(
            viewer,
            filters=filters,
            page=_orders_page(page, stores),
            stores=stores,
            syncable=[s for s in stores.values() if s.status != "disconnected"],
            jobs=jobs,
        ),
    )


@router.get("/orders/list")
async def orders_list(request: Request) -> Response:
    """The list alone (the page reloads it after a sync finished)."""
    filters = _filters(request)
    viewer, (found, page) = await view(request, connections.summaries(), _orders_read(filters))
    stores = _stores(found)
    return render(
        request,
        "partials/orders_list.html",
        _context(viewer, filters=filters, page=_orders_page(page, stores)),
    )


def parse_job_id(value: str) -> uuid.UUID:
    """A sync job's id from a page's path (a malformed one is an unknown job: 404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("sync job not found") from None


async def _jobs_fragment(request: Request, viewer: Viewer) -> Response:
    reader = TenantReader(runtime_of(request).reads, viewer.principal.organization_id)
    found, jobs = await reader.read_all([connections.summaries(), sync.recent_jobs(RECENT_JOBS)])
    stores = _stores(found)
    return render(request, "partials/sync_jobs.html", _context(viewer, stores=stores, jobs=jobs))


@router.post("/orders/sync")
async def start_sync(request: Request) -> Response:
    """Start a full or incremental sync of a channel: the same service and rules as
    ``POST /api/v1/sync-jobs`` (admins; 409 while one is active; 422 for a carrier)."""
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    form = await request.form()
    try:
        connection_id = uuid.UUID(str(form.get("connection_id") or ""))
    except ValueError:
        raise ValidationFailed("channel: choose the store to sync") from None
    mode: Literal["full", "incremental"]
    match form.get("mode") or "full":
        case "full":
            mode = "full"
        case "incremental":
            mode = "incremental"
        case _:
            raise ValidationFailed("mode: choose a full or an incremental sync")
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        await sync.request_sync(
            session,
            viewer.principal.organization_id,
            SyncRequest(connection_id=connection_id, mode=mode),
            requested_by=viewer.principal.user_id,
        )
    return await _jobs_fragment(request, viewer)


async def _job_item(
    request: Request, viewer: Viewer, job: SyncJobOut, *, headers: dict[str, str] | None = None
) -> Response:
    reader = TenantReader(runtime_of(request).reads, viewer.principal.organization_id)
    stores = _stores(await reader.read(connections.summaries()))
    return render(
        request,
        "partials/sync_job.html",
        _context(viewer, stores=stores, job=job),
        headers=headers,
    )


@router.get("/orders/sync/{job_id}")
async def sync_job_progress(request: Request, job_id: str) -> Response:
    """The job's progress (polled every second while it is active). Answered for a finished
    job, the fragment no longer polls, replaces the job's buttons and asks the page to reload
    its orders."""
    viewer = await require_viewer(request)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        job = sync.describe(await sync.get_job(session, parse_job_id(job_id)))
    finished = job.status not in ACTIVE
    return render(
        request,
        "partials/sync_progress.html",
        _context(viewer, job=job, swap_actions=finished),
        headers={"HX-Trigger": "orders-changed"} if finished else None,
    )


@router.post("/orders/sync/{job_id}/cancel")
async def cancel_sync(request: Request, job_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        job = sync.describe(await sync.cancel(session, parse_job_id(job_id)))
    return await _job_item(request, viewer, job, headers={"HX-Trigger": "orders-changed"})


@router.post("/orders/sync/{job_id}/resume")
async def resume_sync(request: Request, job_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        job = sync.describe(
            await sync.resume(session, viewer.principal.organization_id, parse_job_id(job_id))
        )
    return await _job_item(request, viewer, job)
