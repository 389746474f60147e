"""The billing page (``/billing``): the card on file and the Stripe Connect account.

Card: Add card sends the browser (``HX-Redirect``) to Stripe's hosted page — a Checkout Session
in setup mode on the organization's customer (the emulator's page in development) — which
comes back here with ``?card=added`` or ``?card=cancelled``; the card appears once Stripe's
``setup_intent.succeeded`` has been handled (seconds). Remove asks in the page's dialog first,
then detaches the card. Connect: the account's status in words and, when Stripe needs details,
Finish verification (a fresh Account Link, ``HX-Redirect``).

The same services as the JSON API, with the same roles: any member sees the page; adding or
removing a card and asking for a verification link need an owner or admin (the buttons are
disabled with the reason). The page reads its viewer, cards and account in one read-only
statement (``session.view``)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.billing import flows as billing
from sellerhub.billing.connect import service as connect
from sellerhub.billing.connect.schemas import ConnectOut
from sellerhub.billing.customers import service as customers
from sellerhub.billing.stripe.client import client_of
from sellerhub.core.errors import NotFound
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer, view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE = "/billing"
ADMIN_ONLY = "Only an owner or admin of the organization can change the card or verification."
# ``?card=<code>``: fixed words; an unknown code shows nothing.
CARD_NOTICES = {
    "added": "Stripe saved your card. It appears here in a few seconds (reload the page).",
    "cancelled": "No card was added.",
}
CONNECT_WORDS = {
    "not_started": "Your Stripe account is created when you connect Amazon Seller Central.",
    "creating": "Your Stripe account is being created.",
    "verification_needed": "Stripe needs a few details before it can pay you out.",
    "enabled": "Your Stripe account is verified: payments and payouts are on.",
    "restricted": "Stripe has restricted your account. Stripe's email says why.",
}


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("That card is not on file.") from None


async def _admin(request: Request) -> Viewer:
    viewer = await require_viewer(request)
    viewer.require_admin()
    check_form_csrf(request, viewer, None)
    return viewer


def _context(
    viewer: Viewer, cards: list[customers.SavedCard], account: ConnectOut, notice: str = ""
) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "nav": PAGE,
        "cards": cards,
        "account": account,
        "connect_words": CONNECT_WORDS[account.status],
        "can_change": viewer.is_admin,
        "admin_only": ADMIN_ONLY,
        "notice": notice,
    }


@router.get(PAGE)
async def billing_page(request: Request, card: str | None = None) -> Response:
    viewer, (cards, account) = await view(request, customers.cards_read(), connect.account_read())
    notice = CARD_NOTICES.get(card or "", "")
    return render(request, "billing.html", _context(viewer, cards, account, notice))


@router.post(f"{PAGE}/cards")
async def add_card(request: Request) -> Response:
    """Start saving a card: the browser goes to Stripe's hosted page."""
    viewer = await _admin(request)
    runtime = runtime_of(request)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        url = await billing.create_card_checkout(
            session, client_of(runtime), runtime.settings, viewer.principal.organization_id
        )
    return Response(status_code=204, headers={"HX-Redirect": url})


@router.delete(f"{PAGE}/cards/{{card_id}}")
async def remove_card(request: Request, card_id: str) -> Response:
    """Remove a card (after the page's confirmation); answers the cards panel again."""
    viewer = await _admin(request)
    runtime = runtime_of(request)
    organization_id = viewer.principal.organization_id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        await customers.remove_payment_method(
            session,
            client_of(runtime),
            organization_id,
            _uuid(card_id),
            actor_user_id=viewer.principal.user_id,
        )
    viewer, (cards, account) = await view(request, customers.cards_read(), connect.account_read())
    return render(
        request,
        "partials/billing_cards.html",
        _context(viewer, cards, account, "The card was removed. It is no longer charged."),
    )


@router.post(f"{PAGE}/connect/link")
async def finish_verification(request: Request) -> Response:
    """Send the browser to Stripe's hosted onboarding (a fresh single-use link)."""
    viewer = await _admin(request)
    runtime = runtime_of(request)
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        link = await connect.account_link(
            session, client_of(runtime), runtime.settings, viewer.principal.organization_id
        )
    return Response(status_code=204, headers={"HX-Redirect": link.url})
