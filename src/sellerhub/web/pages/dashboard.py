"""The dashboard: one card per capability with its state and the next thing to do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.commerce.inventory import service as inventory
from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.orders import service as orders
from sellerhub.commerce.sync import service as sync
from sellerhub.connections import service as connections
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import require_viewer
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

CHANNELS = ("amazon_spapi", "amazon_ads", "shopify", "woocommerce")
CARRIERS = ("fedex", "dhl")
LOW_STOCK_BELOW = 5  # as the inventory page's low-stock filter by default


@router.get("/")
async def dashboard(request: Request) -> Response:
    viewer = await require_viewer(request)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        rows = [connections.describe(c) for c in await connections.list_connections(session)]
        order_count = await orders.count(session)
        jobs, _ = await sync.list_jobs(
            session, limit=1, before=None, connection_id=None, status=None
        )
        skus, units, low = await inventory.summary(session, below=LOW_STOCK_BELOW)
        fba_runs = await fba.list_snapshots(
            session, viewer.principal.organization_id, limit=1, before=None
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
            "last_sync": sync.describe(jobs[0]) if jobs else None,
            "stock": {"skus": skus, "units": units, "low": low, "below": LOW_STOCK_BELOW},
            "last_fba": fba_runs.items[0] if fba_runs.items else None,
        },
    )
