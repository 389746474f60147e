"""/api/v1/claims: the organization's FBA reimbursement claims, their totals, the packet a seller
pastes into Seller Central, and the seller's steps (file with a case id, reject). Members read;
admins and owners take the steps."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Response

from sellerhub.commerce.claims import packet, service
from sellerhub.commerce.claims.schemas import ClaimOut, ClaimPage, FileIn, PacketOut, RejectIn
from sellerhub.core.clock import utcnow
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1/claims", tags=["claims"])

StatusFilter = Literal["detected", "ready", "filed", "reimbursed", "rejected", "expired"]
KindFilter = Literal[
    "warehouse_lost",
    "warehouse_damaged",
    "customer_return",
    "inbound_shortage",
    "reimbursed_below_value",
]
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "the claim's status does not allow this step (the detail says why)"}
}


@router.get("", response_model=ClaimPage)
async def list_claims(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: str | None = Query(None, max_length=80, description="next_cursor of the previous page"),
    status: StatusFilter | None = Query(None),
    kind: KindFilter | None = Query(None),
    deadline_before: date | None = Query(None, description="deadline on or before this day"),
    deadline_after: date | None = Query(None, description="deadline on or after this day"),
) -> ClaimPage:
    """The claims, the nearest deadline first, with the totals of potential (open claims'
    estimated value) and recovered value by kind and currency under the same filters."""
    claims, next_cursor = await service.list_claims(
        session,
        limit=limit,
        cursor=cursor,
        status=status,
        kind=kind,
        deadline_before=deadline_before,
        deadline_after=deadline_after,
    )
    totals = await service.totals(
        session,
        status=status,
        kind=kind,
        deadline_before=deadline_before,
        deadline_after=deadline_after,
    )
    return ClaimPage(
        items=[service.describe(c) for c in claims], next_cursor=next_cursor, totals=totals
    )


@router.get("/{claim_id}", response_model=ClaimOut)
async def get_claim(
    claim_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> ClaimOut:
    """One claim with its evidence and recoveries."""
    return service.describe(*await service.claim_with_recoveries(session, claim_id))


@router.get(
    "/{claim_id}/packet",
    response_model=PacketOut,
    responses={
        200: {
            "description": "the message (JSON), or with format=csv the evidence rows as CSV",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def claim_packet(
    claim_id: uuid.UUID,
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    format: Literal["json", "csv"] = Query(
        "json", description="json: the message to paste; csv: the evidence rows to attach"
    ),
) -> PacketOut | Response:
    """What to paste into Seller Central's case form (the subject and the message), or the
    evidence rows as CSV to attach to the case."""
    claim = await service.get_claim(session, claim_id)
    if format == "csv":
        return Response(
            packet.evidence_csv(claim),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="claim-{claim.id}-evidence.csv"'
            },
        )
    return PacketOut(
        subject=packet.subject(claim), text=packet.text(claim), evidence_rows=len(claim.evidence)
    )


@router.post("/{claim_id}/file", response_model=ClaimOut, responses=REFUSED)
async def file_claim(
    claim_id: uuid.UUID, body: FileIn, session: TenantSessionDep, principal: AdminPrincipal
) -> ClaimOut:
    """Record that the claim was filed in Seller Central, with the case id Amazon gave (ready
    claims only; the reimbursement is later matched by this case id)."""
    await service.file(
        session,
        claim_id,
        body.case_id,
        actor_user_id=principal.user_id,
        today=utcnow().date(),
    )
    return service.describe(*await service.claim_with_recoveries(session, claim_id))


@router.post("/{claim_id}/reject", response_model=ClaimOut, responses=REFUSED)
async def reject_claim(
    claim_id: uuid.UUID, body: RejectIn, session: TenantSessionDep, principal: AdminPrincipal
) -> ClaimOut:
    """Close an open claim without payment (Amazon refused it, or it is not a claim), with the
    reason."""
    await service.reject(session, claim_id, body.reason, actor_user_id=principal.user_id)
    return service.describe(*await service.claim_with_recoveries(session, claim_id))
