"""The dashboard: one card per capability with its state and the next thing to do."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.billing.commissions import service as commissions
from sellerhub.billing.connect import service as connect
from sellerhub.billing.connect.schemas import ConnectOut
from sellerhub.billing.credits import reads as credit_reads
from sellerhub.billing.customers import service as customers
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


def _billing_card(
    cards: list[customers.SavedCard], account: ConnectOut, totals: list[dict[str, Any]]
) -> dict[str, Any]:
    """The billing card: the default card, commissions charged and open per currency, the
    Stripe account's state, and the one next thing to do (the most urgent first)."""
    card = next((c for c in cards if c.is_default), None)
    to_confirm = sum(int(t["to_confirm"]) for t in totals)
    declined = sum(int(t["declined"]) for t in totals)
    if to_confirm:
        action = ("/billing#commissions", "Confirm a payment your bank asked about")
    elif card is None:
        action = ("/billing#cards-panel", "Add a card")
    elif declined:
        action = ("/billing#commissions", "See why a charge was declined")
    elif account.status == "verification_needed":
        action = ("/billing#connect-panel", "Finish your Stripe verification")
    else:
        action = ("/billing", "See billing")
    return {
        "card": card,
        "charged": [t for t in totals if int(t["charged_minor"])],
        "open": [t for t in totals if int(t["open_minor"])],
        "connect": account.status,
        "action": action,
    }


@router.get("/")
async def dashboard(request: Request) -> Response:
    # The viewer and every card's figures: one read-only statement.
    (
        viewer,
        (rows, order_count, jobs, (skus, units, low), last_fba, claim_card, wallet, *billing),
    ) = await view(
        request,
        connections.summaries(),
        orders.count_read(),
        sync.recent_jobs(1),
        inventory.summary_read(below=LOW_STOCK_BELOW),
        fba.latest_snapshot(),
        claims.dashboard_card(),
        credit_reads.card_read(),
        customers.cards_read(),
        connect.account_read(),
        commissions.totals_read(),
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
            "billing": _billing_card(*billing),
            "money": packet.money,
        },
    )
