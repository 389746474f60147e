"""The channels' order listings, one page at a time: Shopify (``orders.json`` with ``status=any``,
``Link`` cursor pagination, the ``X-Shopify-Shop-Api-Call-Limit`` bucket read after every page)
and WooCommerce (``orders`` by ascending id, ``page``/``X-WP-TotalPages``); and Amazon's FBA
inventory (resource ``fba_inventory``: ``getInventorySummaries`` per marketplace, read by
``commerce.inventory.fba``). Each answer becomes a ``Page``; a refusal for good raises
``SyncFailed``, a 429 ``Throttled``, a 5xx ``UpstreamUnavailable``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.claims.reports import service as claims_reports
from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.inventory.fba.errors import InventoryRefused, InventoryThrottled
from sellerhub.commerce.orders import mapping
from sellerhub.connections import client
from sellerhub.connections.refresh import RefreshContext
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import UpstreamUnavailable
from sellerhub.db.tenancy import set_tenant

SHOPIFY_PAGE = 250  # providers.md §4.4: limit ≤ 250
WOOCOMMERCE_PAGE = 100  # WooCommerce's per_page maximum
CALL_LIMIT_HIGH = 0.75  # pause when the Shopify bucket is this full…
CALL_LIMIT_TARGET = 0.5  # …until it has leaked down to this
SHOPIFY_LEAK_PER_SECOND = 2.0  # providers.md §4.3, standard plan
FBA_THROTTLE_WAIT = 2.0  # after the provider client's own backoff (0.5 + 1 + 2 s) ran out
ORDERS = "orders"
FBA_INVENTORY = "fba_inventory"
CLAIMS_REPORTS = claims_reports.RESOURCE
CLAIMS_DETECT = claims_reports.DETECT_RESOURCE


class SyncFailed(Exception):
    """The channel refused for good (revoked keys, missing scope): the job fails at once."""


class Throttled(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"throttled for {wait}s")
        self.wait = wait


@dataclass(frozen=True)
class Claimed:
    channel: str
    connection_id: uuid.UUID
    since: datetime | None
    cursor: str | None
    resource: str = ORDERS
    # Renews the run's lease during a long page (a report Amazon is still producing); False
    # when the job was cancelled or taken over meanwhile.
    keepalive: Callable[[], Awaitable[bool]] | None = None


@dataclass(frozen=True)
class Page:
    orders: list[dict[str, Any]]
    next_cursor: str | None
    pause: float = 0.0
    inventory: fba.FetchedPage | None = None  # resource fba_inventory: the summaries read
    claims: claims_reports.StepDone | None = None  # resource fba_claims_reports: one report
    detection: str | None = None  # resource fba_claims_detect: the marketplace to run now

    @property
    def fetched(self) -> int:
        if self.claims is not None:
            return self.claims.fetched
        return len(self.inventory.summaries) if self.inventory is not None else len(self.orders)


Fetcher = Callable[[RefreshContext, uuid.UUID, Claimed, str | None], Awaitable[Page]]


def check(response: httpx.Response, title: str) -> None:
    if response.status_code == 429:
        raise Throttled(client.retry_after_seconds(response, 0))
    if response.status_code >= 500:
        raise UpstreamUnavailable(f"{title} answered {response.status_code}")
    if response.status_code >= 400:
        raise SyncFailed(
            f"{title} refused the order listing ({response.status_code}): {_error_text(response)}"
        )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("errors") or body.get("message") or body.get("code")
        return str(detail)[:200]
    return response.reason_phrase


_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def shopify_next_page_info(link: str | None) -> str | None:
    """The ``page_info`` of the ``rel="next"`` entry of a ``Link`` header."""
    if not link:
        return None
    for part in link.split(","):
        match = _NEXT_LINK.search(part)
        if match:
            values = parse_qs(urlsplit(match.group(1)).query).get("page_info")
            return values[0] if values else None
    return None


def shopify_pause(call_limit: str | None) -> float:
    """Seconds to wait so the shop's bucket leaks below the target before the next call."""
    try:
        used_text, size_text = (call_limit or "").split("/", 1)
        used, size = int(used_text), int(size_text)
    except ValueError:
        return 0.0
    if size <= 0 or used < size * CALL_LIMIT_HIGH:
        return 0.0
    return (used - size * CALL_LIMIT_TARGET) / SHOPIFY_LEAK_PER_SECOND


async def shopify_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    if cursor:  # with page_info only limit (and fields) may be given
        params = [("limit", str(SHOPIFY_PAGE)), ("page_info", cursor)]
    else:
        params = [("status", "any"), ("limit", str(SHOPIFY_PAGE))]
        if job.since is not None:
            params.append(("updated_at_min", job.since.isoformat()))
    response = await client.call(
        ctx, organization_id, job.connection_id, client.ProviderCall("GET", "orders.json", params)
    )
    check(response, "Shopify")
    found = response.json().get("orders")
    if not isinstance(found, list):
        raise UpstreamUnavailable("Shopify answered without an orders list")
    return Page(
        orders=[o for o in found if isinstance(o, dict)],
        next_cursor=shopify_next_page_info(response.headers.get("link")),
        pause=shopify_pause(response.headers.get("x-shopify-shop-api-call-limit")),
    )


async def woocommerce_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    page = int(cursor) if cursor and cursor.isdigit() else 1
    # Oldest id first: orders created during the sync land on later pages, none is skipped.
    params = [
        ("page", str(page)),
        ("per_page", str(WOOCOMMERCE_PAGE)),
        ("orderby", "id"),
        ("order", "asc"),
    ]
    if job.since is not None:
        params.append(("modified_after", job.since.isoformat()))
    response = await client.call(
        ctx, organization_id, job.connection_id, client.ProviderCall("GET", "orders", params)
    )
    check(response, "WooCommerce")
    found = response.json()
    if not isinstance(found, list):
        raise UpstreamUnavailable("WooCommerce answered without an orders list")
    try:
        total_pages = int(response.headers.get("x-wp-totalpages", "0"))
    except ValueError:
        total_pages = 0
    return Page(
        orders=[o for o in found if isinstance(o, dict)],
        next_cursor=str(page + 1) if page < total_pages else None,
    )


async def fba_inventory_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    try:
        found = await fba.fetch_page(ctx, organization_id, job.connection_id, cursor)
    except InventoryThrottled:
        raise Throttled(FBA_THROTTLE_WAIT) from None
    except InventoryRefused as exc:
        raise SyncFailed(str(exc)) from None
    return Page(orders=[], next_cursor=found.next_cursor, inventory=found)


async def claims_reports_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    """One report (or the refunds) of the claims pull, stored (``claims.reports.service``)."""
    try:
        done = await claims_reports.run_step(
            ctx, organization_id, job.connection_id, job.since, cursor, keepalive=job.keepalive
        )
    except claims_reports.StepThrottled:
        raise Throttled(FBA_THROTTLE_WAIT) from None
    except claims_reports.StepFailed as exc:
        raise SyncFailed(str(exc)) from None
    return Page(orders=[], next_cursor=done.next_cursor, claims=done)


async def claims_detect_page(
    ctx: RefreshContext, organization_id: uuid.UUID, job: Claimed, cursor: str | None
) -> Page:
    """The marketplace whose detection the page runs (``cursor``: its id; the first one when
    None), and the one after it. Detection itself runs in the page's transaction
    (``detect_page``), so a job stopped between marketplaces resumes at the next one."""
    async with ctx.sessionmaker() as session:
        set_tenant(session, organization_id)
        marketplaces = await claims_reports.detection_marketplaces(
            session, organization_id, job.connection_id
        )
    if cursor is not None and cursor in marketplaces:
        marketplaces = marketplaces[marketplaces.index(cursor) :]
    if not marketplaces:  # nothing stored (yet): the job succeeds with nothing found
        return Page(orders=[], next_cursor=None)
    following = marketplaces[1] if len(marketplaces) > 1 else None
    return Page(orders=[], next_cursor=following, detection=marketplaces[0])


async def detect_page(
    session: AsyncSession, organization_id: uuid.UUID, connection_id: uuid.UUID, marketplace: str
) -> tuple[int, int]:
    """Detection over one marketplace in the caller's transaction: (rows read, new claims)."""
    step = await claims_reports.detect_marketplace(
        session, organization_id, connection_id, marketplace, today=utcnow().date()
    )
    return step.rows, step.new


FETCHERS: dict[str, Fetcher] = {"shopify": shopify_page, "woocommerce": woocommerce_page}
RESOURCE_FETCHERS: dict[str, Fetcher] = {
    FBA_INVENTORY: fba_inventory_page,
    CLAIMS_REPORTS: claims_reports_page,
    CLAIMS_DETECT: claims_detect_page,
}
# What a resource's successful sync requests next (by task name, in the completing transaction).
AFTER_SUCCESS: dict[str, str] = {
    FBA_INVENTORY: claims_reports.AFTER_FBA_TASK,
    CLAIMS_REPORTS: claims_reports.DETECT_TASK,
}


def fetcher(job: Claimed) -> Fetcher:
    """The resource's own listing (FBA inventory), else the channel's orders."""
    return RESOURCE_FETCHERS.get(job.resource) or FETCHERS[job.channel]


MAPPERS: dict[str, Callable[[dict[str, Any]], mapping.NormalisedOrder]] = {
    "shopify": mapping.shopify,
    "woocommerce": mapping.woocommerce,
}
