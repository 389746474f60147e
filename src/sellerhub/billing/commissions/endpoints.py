"""The commission's HTTP edge: ``POST /api/v1/stripe/charge-commission`` (the seed's path: a
service app with ``billing:charge``, or an organization's admin), the organization's
commissions (members read), the on-session confirmation a seller reaches from the emailed link,
and the per-organization rate (platform administrators)."""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse

from sellerhub.billing.commissions import charge, service
from sellerhub.billing.commissions.schemas import (
    ChargeIn,
    CommissionOut,
    CommissionPage,
    RateIn,
    RateOut,
)
from sellerhub.billing.stripe.client import client_of
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import (
    CurrentPrincipal,
    PlatformAdmin,
    RuntimeDep,
    TenantSessionDep,
    require_permission,
)
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])
charge_router = APIRouter(prefix="/api/v1/stripe", tags=["billing"])

StateFilter = Literal[
    "pending",
    "processing",
    "succeeded",
    "requires_action",
    "failed",
    "no_card",
    "waived",
    "withheld",
    "refunded",
    "disputed",
]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Stripe did not answer; nothing was lost, the call may be repeated"}
}
CHARGER = require_permission("billing:charge", users=Role.ADMIN)


@charge_router.post(
    "/charge-commission",
    response_model=CommissionOut,
    responses={404: {"description": "no such recovery in the organization"}, **UNAVAILABLE},
)
async def charge_commission(
    body: ChargeIn, runtime: RuntimeDep, principal: Principal = Depends(CHARGER)
) -> CommissionOut:
    """Charge the commission of a recovery, exactly once however often it is called (the
    claims workflow requests the same through the jobs outbox). Answers the commission as it
    is left: ``succeeded``, ``requires_action`` (the seller is emailed a link), ``failed``
    (with Stripe's reason and the next retry), ``no_card``, ``waived`` (below the minimum),
    ``withheld`` (kept from the money the platform holds), or ``processing`` when Stripe's
    answer is not known yet (looked up again, never charged twice)."""
    row = await charge.request(
        runtime.sessionmaker,
        runtime.settings,
        client_of(runtime),
        principal.organization_id,
        body.recovery_id,
        paid_to_platform=body.paid_to_platform,
        source_transaction=body.source_transaction,
    )
    return service.describe(row, api_base=runtime.settings.stripe_api)


@router.get("/commissions", response_model=CommissionPage)
async def list_commissions(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=80, description="next_cursor of the previous page"),
    state: StateFilter | None = Query(None),
) -> CommissionPage:
    """The organization's commissions, newest first."""
    rows, next_cursor = await service.page(session, limit=limit, cursor=cursor, state=state)
    return CommissionPage(
        items=[service.describe(r, api_base=runtime.settings.stripe_api) for r in rows],
        next_cursor=next_cursor,
    )


@router.get("/commissions/{commission_id}", response_model=CommissionOut)
async def get_commission(
    commission_id: uuid.UUID,
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
) -> CommissionOut:
    row = await service.get(session, commission_id)
    return service.describe(row, api_base=runtime.settings.stripe_api)


@router.get(
    "/commissions/{commission_id}/authenticate",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "to the bank's page (3-D Secure), or back to the commission"},
        409: {"description": "the commission does not wait for the seller's confirmation"},
        **UNAVAILABLE,
    },
)
async def authenticate_commission(
    commission_id: uuid.UUID, request: Request, runtime: RuntimeDep, principal: CurrentPrincipal
) -> RedirectResponse:
    """The link emailed when the bank asked for the seller (SCA): the payment is confirmed on
    session and the browser sent to the bank's page, which comes back to ``/return``."""
    back = f"{runtime.settings.public_url}/api/v1/billing/commissions/{commission_id}/return"
    url = await charge.authenticate(
        runtime.sessionmaker,
        runtime.settings,
        client_of(runtime),
        principal.organization_id,
        commission_id,
        return_url=back,
    )
    return RedirectResponse(url or back, status_code=303)


# The billing page's ``?payment=`` code for the commission's state once back from the bank.
RETURN_CODES = {
    "succeeded": "confirmed",
    "processing": "processing",
    "requires_action": "not_confirmed",
    "failed": "failed",
}
REASON_CODE = re.compile(r"[a-z_]{1,60}")


@router.get(
    "/commissions/{commission_id}/return",
    response_class=RedirectResponse,
    status_code=303,
    responses={
        303: {"description": "to the billing page, ``?payment=confirmed|processing|failed|…``"},
        **UNAVAILABLE,
    },
)
async def commission_returned(
    commission_id: uuid.UUID, runtime: RuntimeDep, principal: CurrentPrincipal
) -> RedirectResponse:
    """Back from the bank's page: the payment read again at Stripe, and the browser sent to
    the billing page with a fixed code for how it ended (``confirmed``, ``processing``,
    ``not_confirmed``, ``failed`` with Stripe's decline code as ``reason``, else
    ``unchanged``)."""
    row = await charge.returned(
        runtime.sessionmaker,
        runtime.settings,
        client_of(runtime),
        principal.organization_id,
        commission_id,
    )
    code = RETURN_CODES.get(row.state.value, "unchanged")
    query = f"payment={code}"
    reason = row.decline_code or row.failure_code
    if code == "failed" and reason and REASON_CODE.fullmatch(reason):
        query += f"&reason={reason}"  # Stripe's code; the page has words for the ones it knows
    return RedirectResponse(
        f"{runtime.settings.public_url}/billing?{query}#commissions", status_code=303
    )


@router.get("/commission-rate", response_model=RateOut)
async def commission_rate(
    session: TenantSessionDep, runtime: RuntimeDep, principal: CurrentPrincipal
) -> RateOut:
    """The organization's commission rate in basis points (2000 = 20 %)."""
    own = await service.own_rate(session)
    rate = runtime.settings.billing_commission_rate_bps if own is None else own
    return RateOut(rate_bps=rate, default=own is None)


@router.put(
    "/commission-rates",
    response_model=RateOut,
    responses={404: {"description": "no such organization"}},
)
async def set_commission_rate(
    body: RateIn, runtime: RuntimeDep, principal: PlatformAdmin
) -> RateOut:
    """Give an organization its own rate, or (null) the default again; platform
    administrators only. Applies to commissions opened from then on."""
    async with unit_of_work(runtime.sessionmaker) as session:
        set_tenant(session, body.organization_id)
        await service.set_rate(session, body.organization_id, body.rate_bps)
        rate = await service.rate_of(session, runtime.settings)
    return RateOut(rate_bps=rate, default=body.rate_bps is None)
