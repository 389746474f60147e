"""``GET /api/v1/billing/payouts``: what the platform transferred (or will) to the seller's
connected account, one per recovery it held (members read)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from sellerhub.billing.payouts import service
from sellerhub.billing.payouts.schemas import TransferPage
from sellerhub.deps import CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

StateFilter = Literal["pending", "waiting", "processing", "paid", "failed", "reversed", "cancelled"]


@router.get("/payouts", response_model=TransferPage)
async def list_payouts(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=80, description="next_cursor of the previous page"),
    state: StateFilter | None = Query(None),
) -> TransferPage:
    """Transfers to the seller's connected account (recoveries the platform held, less the
    commission), newest first; the account's own payouts to its bank are in
    ``/transactions?kind=payout``."""
    rows, next_cursor = await service.page(session, limit=limit, cursor=cursor, state=state)
    return TransferPage(items=[service.describe(r) for r in rows], next_cursor=next_cursor)
