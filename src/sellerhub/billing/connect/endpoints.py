"""The seller's Stripe Connect account: its status, and links to Stripe's hosted onboarding
when Stripe needs details. Members read; admins and owners ask for links."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse

from sellerhub.billing.connect import service
from sellerhub.billing.connect.schemas import AccountLinkOut, ConnectOut
from sellerhub.billing.stripe.client import client_of
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep, runtime_of

router = APIRouter(prefix="/api/v1/billing/connect", tags=["billing"])

LINK_FAILURES: dict[int | str, dict[str, Any]] = {
    409: {"description": "the Stripe account is not created yet (Amazon not connected)"},
    502: {"description": "Stripe refused the request (the detail says why)"},
    503: {"description": "Stripe is unavailable or billing is not configured; retry later"},
}


@router.get("", response_model=ConnectOut)
async def connect_status(session: TenantSessionDep, principal: CurrentPrincipal) -> ConnectOut:
    """The organization's Connect account: created silently after Amazon is connected;
    ``verification_needed`` until the seller gave Stripe what it asks (``requirements_due``)."""
    return service.describe(await service.account_of(session, principal.organization_id))


@router.post(
    "/link",
    response_model=AccountLinkOut,
    status_code=status.HTTP_201_CREATED,
    responses=LINK_FAILURES,
)
async def create_link(
    request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> AccountLinkOut:
    """A fresh single-use link to Stripe's hosted onboarding (expires within minutes). When it
    expired or was used, Stripe sends the seller to ``refresh`` (a new link); when done, back to
    the billing page."""
    runtime = runtime_of(request)
    return await service.account_link(
        session, client_of(runtime), runtime.settings, principal.organization_id
    )


@router.get(
    "/refresh",
    status_code=status.HTTP_303_SEE_OTHER,
    response_class=RedirectResponse,
    responses={303: {"description": "to a new onboarding link at Stripe"}, **LINK_FAILURES},
)
async def refresh_link(
    request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> RedirectResponse:
    """Stripe's ``refresh_url``: the seller's browser comes here when a link expired or was
    already used, and is sent on to a new one."""
    runtime = runtime_of(request)
    link = await service.account_link(
        session, client_of(runtime), runtime.settings, principal.organization_id
    )
    return RedirectResponse(link.url, status_code=status.HTTP_303_SEE_OTHER)
