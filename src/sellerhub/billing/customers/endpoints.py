"""The organization's card on file: create the customer and a SetupIntent (the seed's
``POST /api/v1/stripe/create-customer-setup``), list and remove saved cards. Members read;
admins and owners change."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, status

from sellerhub.billing import flows
from sellerhub.billing.customers import service
from sellerhub.billing.customers.schemas import CustomerSetupOut, PaymentMethodOut
from sellerhub.billing.stripe.client import client_of
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep, runtime_of

router = APIRouter(prefix="/api/v1", tags=["billing"])

STRIPE_FAILURES: dict[int | str, dict[str, Any]] = {
    502: {"description": "Stripe refused the request (the detail says why)"},
    503: {"description": "Stripe is unavailable or billing is not configured; retry later"},
}


@router.post(
    "/stripe/create-customer-setup",
    response_model=CustomerSetupOut,
    status_code=status.HTTP_201_CREATED,
    responses=STRIPE_FAILURES,
)
async def create_customer_setup(
    request: Request, session: TenantSessionDep, principal: AdminPrincipal
) -> CustomerSetupOut:
    """Create (or reuse) the organization's Stripe customer and a SetupIntent to save a card
    for off-session charges (``usage=off_session``). The browser confirms it with Stripe.js
    (client secret and publishable key), or on the emulator's ``hosted_url``; the card is stored
    when Stripe's ``setup_intent.succeeded`` arrives."""
    runtime = runtime_of(request)
    return await flows.create_customer_setup(
        session, client_of(runtime), runtime.settings, principal.organization_id
    )


@router.get("/billing/payment-methods", response_model=list[PaymentMethodOut])
async def list_payment_methods(
    session: TenantSessionDep, principal: CurrentPrincipal
) -> list[PaymentMethodOut]:
    """The saved cards (brand, last four, expiry), the default first."""
    rows = await service.payment_methods(session, principal.organization_id)
    return [PaymentMethodOut.model_validate(r, from_attributes=True) for r in rows]


@router.delete(
    "/billing/payment-methods/{payment_method_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=STRIPE_FAILURES,
)
async def remove_payment_method(
    payment_method_id: uuid.UUID,
    request: Request,
    session: TenantSessionDep,
    principal: AdminPrincipal,
) -> None:
    """Remove a card: detached from the Stripe customer, no longer charged. When it was the
    default, the newest remaining card becomes the default."""
    await service.remove_payment_method(
        session,
        client_of(runtime_of(request)),
        principal.organization_id,
        payment_method_id,
        actor_user_id=principal.user_id,
    )
