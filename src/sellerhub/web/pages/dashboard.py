"""The dashboard: one card per capability with its state and the next thing to do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.commerce.inventory import service as inventory
from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.orders import service as orders
from sellerhub.commerce.sync import service as sync
from sellerhub.commerce.sync.schemas import SyncJobOut
from sellerhub.connections import service as connections
from sellerhub.db.reads import TenantReader
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

CHANNELS = ("amazon_spapi", "amazon_ads", "shopify", "woocommerce")
CARRIERS = ("fedex", "dhl")
LOW_STOCK_BELOW = 5  # as the inventory page's low-stock filter by default


async def _recent_job(reader: TenantReader) -> list[SyncJobOut]:
    return await sync.recent_jobs(reader, 1)


async def _stock(reader: TenantReader) -> tuple[int, int, int]:
    return await inventory.summary_read(reader, below=LOW_STOCK_BELOW)


@router.get("/")
async def dashboard(request: Request) -> Response:
    # The viewer and every card's figures at once, each one read-only round trip.
    viewer, (rows, order_count, jobs, (skus, units, low), last_fba) = await view(
        request,
        connections.summaries,
        orders.count_read,
        _recent_job,
        _stock,
        fba.latest_snapshot,
    )
    live = [c for c in rows if c.status != "disconnected"]
    return render(
        request,
        "dashboard.html",
        {
            "viewer": viewer,
            "nav": "/",
            "connections": live,
            "channels": [c for c in live if c.provider in CHANNELS],
            "carriers": [c for c in live if c.provider in CARRIERS],
            "attention": [c for c in live if c.status in ("needs_reauth", "error")],
            "has_amazon": any(c.provider == "amazon_spapi" for c in live),
            "order_count": order_count,
            "last_sync": jobs[0] if jobs else None,
            "stock": {"skus": skus, "units": units, "low": low, "below": LOW_STOCK_BELOW},
            "last_fba": last_fba,
        },
    )
