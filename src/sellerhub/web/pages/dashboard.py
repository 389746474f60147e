"""The dashboard: one card per capability with its state and the next thing to do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.billing.credits import reads as credit_reads
from sellerhub.commerce.claims import packet
from sellerhub.commerce.claims import service as claims
from sellerhub.commerce.inventory import service as inventory
from sellerhub.commerce.inventory.fba import service as fba
from sellerhub.commerce.orders import service as orders
from sellerhub.commerce.sync import service as sync
from sellerhub.connections import service as connections
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

CHANNELS = ("amazon_spapi", "amazon_ads", "shopify", "woocommerce")
CARRIERS = ("fedex", "dhl")
LOW_STOCK_BELOW = 5  # as the inventory page's low-stock filter by default


@router.get("/")
async def dashboard(request: Request) -> Response:
    # The viewer and every card's figures: one read-only statement.
    (
        viewer,
        (rows, order_count, jobs, (skus, units, low), last_fba, claim_card, wallet),
    ) = await view(
        request,
        connections.summaries(),
        orders.count_read(),
        sync.recent_jobs(1),
        inventory.summary_read(below=LOW_STOCK_BELOW),
        fba.latest_snapshot(),
        claims.dashboard_card(),
        credit_reads.card_read(),
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
            "claims": claim_card,
            "credits": wallet,
            "money": packet.money,
        },
    )
