"""FBA reimbursement claims (issue 14): what Amazon owes, the nearest deadline first.

``/claims`` shows the totals (money found in open claims and money recovered, by currency),
the filters (status, kind, deadline by a day), and each claim with its evidence in words, its
packet (the message to paste into Seller Central's case form, a copy button, and the evidence
rows as a CSV download from ``GET /api/v1/claims/{id}/packet?format=csv``) and its steps: mark
filed with Amazon's case id, or reject with a reason. The steps are forms posted as JSON to the
API (``POST /api/v1/claims/{id}/file`` and ``/reject``), whose refusals are shown under the form
in words; members see them disabled, with the reason."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.commerce.claims import packet
from sellerhub.commerce.claims import service as claims
from sellerhub.commerce.claims.schemas import ClaimOut
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import ValidationFailed
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import require_viewer
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE_SIZE = 25
ADMIN_ONLY = "Only an owner or admin of the organization can file or reject claims."
STATUS_WORDS = {
    "detected": "Found: not yet in its filing window",
    "ready": "Ready to file",
    "filed": "Filed",
    "reimbursed": "Reimbursed",
    "rejected": "Rejected",
    "expired": "Expired",
}
KIND_WORDS = {
    "warehouse_lost": "Lost in a fulfillment center",
    "warehouse_damaged": "Damaged in a fulfillment center",
    "customer_return": "Refunded, not returned",
    "inbound_shortage": "Inbound shipment received short",
    "reimbursed_below_value": "Reimbursed below value",
}


@dataclass(frozen=True, slots=True)
class Filters:
    status: str | None
    kind: str | None
    deadline_before: dt.date | None
    cursor: str | None

    def query(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            "status": self.status,
            "kind": self.kind,
            "deadline_before": self.deadline_before.isoformat() if self.deadline_before else None,
            "cursor": self.cursor,
        } | changes
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


@dataclass(frozen=True, slots=True)
class ClaimView:
    claim: ClaimOut
    subject: str
    text: str
    evidence: list[str]
    days_left: int


def _filters(request: Request) -> Filters:
    params = request.query_params
    status = params.get("status") or None
    if status is not None and status not in STATUS_WORDS:
        raise ValidationFailed("Status: choose one from the list")
    kind = params.get("kind") or None
    if kind is not None and kind not in KIND_WORDS:
        raise ValidationFailed("Kind: choose one from the list")
    before = None
    if raw := (params.get("deadline_before") or "").strip():
        try:
            before = dt.date.fromisoformat(raw)
        except ValueError:
            raise ValidationFailed("Deadline by: enter a day as YYYY-MM-DD") from None
    cursor = params.get("cursor") or None
    if cursor is not None:
        claims.decode_cursor(cursor)  # a mangled link reads as words
    return Filters(status, kind, before, cursor)


@router.get("/claims")
async def claims_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    filters = _filters(request)
    today = utcnow().date()
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        found, next_cursor = await claims.list_claims(
            session,
            limit=PAGE_SIZE,
            cursor=filters.cursor,
            status=filters.status,
            kind=filters.kind,
            deadline_before=filters.deadline_before,
            deadline_after=None,
        )
        totals = await claims.totals(session)
        recovered = await claims.recoveries_by_claim(session, found)
        views = []
        for row in found:
            views.append(
                ClaimView(
                    claim=claims.describe(row, recovered.get(row.id, [])),
                    subject=packet.subject(row),
                    text=packet.text(row),
                    evidence=[packet.summary(e) for e in row.evidence],
                    days_left=(row.deadline - today).days,
                )
            )
    return render(
        request,
        "claims.html",
        {
            "viewer": viewer,
            "nav": "/claims",
            "filters": filters,
            "views": views,
            "next_cursor": next_cursor,
            "totals": totals,
            "money": packet.money,
            "claim_words": STATUS_WORDS,
            "kind_words": KIND_WORDS,
            "admin_only": ADMIN_ONLY,
            "here": "/claims" + (f"?{filters.query()}" if filters.query() else ""),
        },
    )
