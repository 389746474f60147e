"""The credits page (``/credits``): the wallet (balance, held, available, any debt), the
packages to buy through Stripe Checkout, subscriptions (start, cancel after the dialog), the
latest purchases, the history (cursor pages, CSV export) and the usage per app and service.

Buy sends the browser (``HX-Redirect``) to Stripe's hosted page; Stripe comes back to
``/credits?session_id=<cs>``, where a status line asks ``/credits/purchases/<cs>`` every second
until the purchase is paid (that route re-reads the session from Stripe and fulfils it, once,
whether or not Stripe's webhook came first) and then says "Credits added". Any member sees the
page; buying, subscribing and cancelling need an owner or admin (disabled with the reason)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.billing import flows as billing
from sellerhub.billing.credits import purchases, service
from sellerhub.billing.credits.reads import page_read
from sellerhub.billing.stripe.client import client_of
from sellerhub.core.errors import NotFound
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer, view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE = "/credits"
ADMIN_ONLY = "Only an owner or admin of the organization can buy credits or change subscriptions."
NOTICES = {
    "cancelled": "No credits were bought.",
    "started": "Your subscription started. Its credits arrive with each paid invoice.",
    "ended": "The subscription was cancelled. The credits it granted stay in your wallet.",
}
PURCHASE_WORDS = {
    "open": "Waiting for Stripe to confirm the payment…",
    "processing": "Your bank debit is on its way. The credits are added once it settles.",
    "paid": "Credits added.",
    "failed": "The payment failed. No credits were added.",
    "expired": "The checkout expired. No credits were added.",
}
HISTORY_PAGE = 20


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"No such {what}.") from None


async def _admin(request: Request) -> Viewer:
    viewer = await require_viewer(request)
    viewer.require_admin()
    check_form_csrf(request, viewer, None)
    return viewer


def money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency.upper()}"


@router.get(PAGE)
async def credits_page(
    request: Request,
    session_id: str | None = None,
    purchase: str | None = None,
    subscription: str | None = None,
) -> Response:
    viewer, (data,) = await view(request, page_read())
    notice = NOTICES.get(purchase or "", "") or NOTICES.get(subscription or "", "")
    checking = session_id if session_id and session_id.startswith("cs_") else None
    return render(
        request,
        "credits.html",
        {
            "viewer": viewer,
            "nav": PAGE,
            "data": data,
            "money": money,
            "can_buy": viewer.is_admin,
            "admin_only": ADMIN_ONLY,
            "notice": notice,
            "checking": checking,
            "words": PURCHASE_WORDS,
        },
    )


@router.get(f"{PAGE}/purchases/{{checkout_session_id}}")
async def purchase_status(request: Request, checkout_session_id: str) -> Response:
    """The status line after Stripe's page: fulfils from Stripe while not paid yet."""
    viewer = await require_viewer(request)
    runtime = runtime_of(request)
    organization_id = viewer.principal.organization_id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        conn = await service.raw_connection(session)
        found = await purchases.purchase_of(conn, organization_id, checkout_session_id)
        if found is None or found.status in ("open", "processing"):
            found = await purchases.fulfil_from_stripe(
                session, client_of(runtime), organization_id, checkout_session_id
            )
    return render(
        request,
        "partials/credits_purchase.html",
        {"purchase": found, "words": PURCHASE_WORDS},
    )


@router.post(f"{PAGE}/buy/{{package_id}}")
async def buy(request: Request, package_id: str) -> Response:
    viewer = await _admin(request)
    runtime = runtime_of(request)
    organization_id = viewer.principal.organization_id
    page = f"{runtime.settings.public_url}{PAGE}"
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        name, email = await billing.organization_contact(session, organization_id)
        _, _, url = await purchases.start_purchase(
            session, client_of(runtime), organization_id, app_id=None,
            package_id=_uuid(package_id, "package"), amount=None,
            success_url=f"{page}?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{page}?purchase=cancelled", name=name, email=email,
        )  # fmt: skip
    return Response(status_code=204, headers={"HX-Redirect": url})


@router.post(f"{PAGE}/subscribe/{{package_id}}")
async def subscribe(request: Request, package_id: str) -> Response:
    viewer = await _admin(request)
    runtime = runtime_of(request)
    organization_id = viewer.principal.organization_id
    page = f"{runtime.settings.public_url}{PAGE}"
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        name, email = await billing.organization_contact(session, organization_id)
        _, url = await purchases.start_subscription(
            session, client_of(runtime), organization_id,
            package_id=_uuid(package_id, "plan"), success_url=f"{page}?subscription=started",
            cancel_url=f"{page}?purchase=cancelled", name=name, email=email,
        )  # fmt: skip
    return Response(status_code=204, headers={"HX-Redirect": url})


@router.delete(f"{PAGE}/subscriptions/{{subscription_id}}")
async def cancel(request: Request, subscription_id: str) -> Response:
    viewer = await _admin(request)
    runtime = runtime_of(request)
    organization_id = viewer.principal.organization_id
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, organization_id)
        await purchases.cancel_subscription(
            session, client_of(runtime), organization_id, _uuid(subscription_id, "subscription")
        )
    return Response(status_code=204, headers={"HX-Redirect": f"{PAGE}?subscription=ended"})


@router.get(f"{PAGE}/history")
async def history(request: Request, cursor: str | None = None) -> Response:
    """One page of the ledger, newest first, with the button for the next one."""
    viewer = await require_viewer(request)
    before = _uuid(cursor, "page") if cursor else None
    async with runtime_of(request).reads.connection() as conn:
        rows, next_cursor = await service.page(
            conn, viewer.principal.organization_id, before=before, limit=HISTORY_PAGE
        )
    items: list[dict[str, Any]] = []
    for row in rows:
        t = row.transfer
        into_wallet = row.credit_kind == "wallet"
        out_of_wallet = row.debit_kind == "wallet"
        items.append(
            {
                "created_at": t.created_at,
                "what": _what(t.code, t.phase, row.debit_kind, row.credit_kind),
                "amount": t.amount if into_wallet else (-t.amount if out_of_wallet else 0),
                "by": t.app_id or "",
                "service": t.service or "",
                "after": t.credit_balance_after if into_wallet else t.debit_balance_after
                if out_of_wallet else None,
            }
        )  # fmt: skip
    return render(
        request, "partials/credits_history.html", {"items": items, "next_cursor": next_cursor}
    )


def _what(code: str, phase: str, debit_kind: str, credit_kind: str) -> str:
    if code == "purchase":
        return "Credits bought"
    if code == "grant":
        return "Credits granted"
    if code == "refund":
        if debit_kind == "debt":
            return "Refund (owed)"
        return "Debt repaid" if credit_kind == "debt" else "Refund taken back"
    if code == "hold":
        return {"pending": "Held", "post": "Hold used", "void": "Hold released"}.get(phase, "Hold")
    if code == "consume":
        return "Used"
    if code == "expire":
        return "Expired"
    return code.title()
