"""``GET /api/v1/billing/transactions``: the organization's money ledger (members read)."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query

from sellerhub.billing.commissions.errors import BadCursor
from sellerhub.billing.transactions import service
from sellerhub.billing.transactions.models import StripeTransaction
from sellerhub.billing.transactions.schemas import TransactionOut, TransactionPage
from sellerhub.deps import CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1/billing", tags=["billing"])

KindFilter = Literal[
    "charge", "refund", "dispute", "transfer", "transfer_reversal", "payout", "invoice"
]


@router.get("/transactions", response_model=TransactionPage)
async def list_transactions(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=80, description="next_cursor of the previous page"),
    kind: KindFilter | None = Query(None),
) -> TransactionPage:
    """Every money movement through Stripe (charges, refunds, disputes, transfers to the
    seller and their reversals, payouts, invoices paid), newest first."""
    before = None
    if cursor:
        try:
            before = uuid.UUID(cursor)
        except ValueError:
            raise BadCursor(
                "pass next_cursor of the previous page as it was given",
                errors=[{"field": "cursor", "message": "is not a cursor of this list"}],
            ) from None
    rows, next_id = await service.page(session, limit=limit, before=before, kind=kind)
    return TransactionPage(
        items=[describe(r) for r in rows], next_cursor=str(next_id) if next_id else None
    )


def describe(row: StripeTransaction) -> TransactionOut:
    return TransactionOut(
        id=row.id,
        kind=str(row.kind),
        stripe_id=row.stripe_id,
        amount_minor=row.amount_minor,
        currency=row.currency,
        status=row.status,
        direction=row.direction,
        payment_intent_id=row.payment_intent_id,
        charge_id=row.charge_id,
        account_id=row.account_id,
        commission_id=row.commission_id,
        recovery_id=row.recovery_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
