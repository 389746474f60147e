"""FBA reimbursement claims (issue 14): what Amazon owes, the nearest deadline first.

``/claims`` shows the totals (money found in open claims and money recovered, by currency),
the filters (status, kind, deadline by a day), and each claim with its evidence in words, its
packet (the message to paste into Seller Central's case form, a copy button, and the evidence
rows as a CSV download from ``GET /api/v1/claims/{id}/packet?format=csv``) and its steps: mark
filed with Amazon's case id, or reject with a reason. The steps are forms posted as JSON to the
API (``POST /api/v1/claims/{id}/file`` and ``/reject``), whose refusals are shown under the form
in words; members see them disabled, with the reason.

Above them, per connected Amazon seller account, the latest reports pull and detection (sync
jobs of ``fba_claims_reports`` and ``fba_claims_detect``) with their progress, polled every
second while they run (the page reloads when one finishes, to show what it found), cancel and
resume, and buttons that start either (the rules of ``POST /api/v1/sync-jobs``: admins, 409
while one is active)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sellerhub.commerce.claims import packet
from sellerhub.commerce.claims import service as claims
from sellerhub.commerce.claims.schemas import ClaimOut
from sellerhub.commerce.sync import service as sync
from sellerhub.commerce.sync.models import ACTIVE
from sellerhub.commerce.sync.schemas import SyncJobOut, SyncRequest
from sellerhub.connections import service as connections
from sellerhub.connections.schemas import ConnectionSummary
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import NotFound, ValidationFailed
from sellerhub.db.reads import TenantReader
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import set_tenant
from sellerhub.deps import runtime_of
from sellerhub.web.pages.orders import JOB_WORDS, error_words, parse_job_id
from sellerhub.web.routing import WebRoute
from sellerhub.web.session import Viewer, check_form_csrf, require_viewer, view
from sellerhub.web.templating import render

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE_SIZE = 25
ADMIN_ONLY = "Only an owner or admin of the organization can file or reject claims."
JOBS_ADMIN_ONLY = "Only an owner or admin of the organization can pull reports or run detection."
CLAIMS_JOBS = (sync.CLAIMS_RESOURCE, sync.DETECT_RESOURCE)
RECENT_JOBS = 20  # enough to hold the latest of both kinds for each account
PULL_STEPS = 5  # the three reports, the inbound shipments, the refunds (claims.reports.service)
FOLLOW_WAIT = dt.timedelta(seconds=60)  # a finished pull waits this long for its detection
JOB_TITLES = {sync.CLAIMS_RESOURCE: "Reports pull", sync.DETECT_RESOURCE: "Detection"}
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


@dataclass(frozen=True, slots=True)
class AmazonAccount:
    """A connected Amazon seller account and its latest pull and detection."""

    id: uuid.UUID
    label: str
    pull: SyncJobOut | None
    detection: SyncJobOut | None


def _accounts(found: list[ConnectionSummary], jobs: list[SyncJobOut]) -> list[AmazonAccount]:
    accounts = []
    for c in found:
        if c.provider != "amazon_spapi" or c.status == "disconnected":
            continue
        mine = [j for j in jobs if j.connection_id == c.id]  # newest first
        accounts.append(
            AmazonAccount(
                id=c.id,
                label=f"Amazon Seller Central · {c.display_name or c.external_account_id}",
                pull=next((j for j in mine if j.resource == sync.CLAIMS_RESOURCE), None),
                detection=next((j for j in mine if j.resource == sync.DETECT_RESOURCE), None),
            )
        )
    return accounts


def _jobs_context(viewer: Viewer, **values: Any) -> dict[str, Any]:
    return {
        "viewer": viewer,
        "job_words": JOB_WORDS,
        "job_titles": JOB_TITLES,
        "error_words": error_words,
        "pull_steps": PULL_STEPS,
        "jobs_admin_only": JOBS_ADMIN_ONLY,
        **values,
    }


@router.get("/claims")
async def claims_page(request: Request) -> Response:
    # The viewer and the accounts' latest pulls and detections: one statement.
    viewer, (summaries, jobs) = await view(
        request, connections.summaries(), sync.recent_jobs(RECENT_JOBS, CLAIMS_JOBS)
    )
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
            **_jobs_context(viewer, accounts=_accounts(summaries, jobs)),
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


async def _claims_job(session: Any, job_id: str) -> SyncJobOut:
    """A pull or detection of the viewer's organization (404 for any other job)."""
    job = await sync.get_job(session, parse_job_id(job_id))
    if job.resource not in CLAIMS_JOBS:
        raise NotFound("sync job not found")
    return sync.describe(job)


@router.post("/claims/jobs")
async def start_claims_job(request: Request) -> Response:
    """Pull the reports or run detection now: the service and rules of
    ``POST /api/v1/sync-jobs`` (admins; 409 while one of the kind is active)."""
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    form = await request.form()
    try:
        connection_id = uuid.UUID(str(form.get("connection_id") or ""))
    except ValueError:
        raise ValidationFailed("account: choose the Amazon account") from None
    resource: Literal["fba_claims_reports", "fba_claims_detect"]
    match form.get("resource"):
        case "fba_claims_reports":
            resource = "fba_claims_reports"
        case "fba_claims_detect":
            resource = "fba_claims_detect"
        case _:
            raise ValidationFailed("choose to pull the reports or to run detection")
    organization_id = viewer.principal.organization_id
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, organization_id)
        await sync.request_sync(
            session,
            organization_id,
            SyncRequest(connection_id=connection_id, resource=resource),
            requested_by=viewer.principal.user_id,
        )
    reader = TenantReader(runtime_of(request).reads, organization_id)
    found, jobs = await reader.read_all(
        [connections.summaries(), sync.recent_jobs(RECENT_JOBS, CLAIMS_JOBS)]
    )
    return render(
        request,
        "partials/claims_jobs.html",
        _jobs_context(viewer, accounts=_accounts(found, jobs)),
    )


@router.get("/claims/jobs/{job_id}")
async def claims_job_progress(request: Request, job_id: str) -> Response:
    """The job's progress (polled every second while it runs). Answered for a finished job,
    the page reloads, to show the claims it found; for a pull that succeeded, once the
    detection it requests exists (polled up to ``FOLLOW_WAIT`` more)."""
    viewer = await require_viewer(request)
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        job = await _claims_job(session, job_id)
        follows = job.resource == sync.CLAIMS_RESOURCE and job.status == "succeeded"
        if follows and job.finished_at and utcnow() - job.finished_at < FOLLOW_WAIT:
            detection = await sync.newest_job(session, job.connection_id, sync.DETECT_RESOURCE)
            follows = detection is None or (
                detection.status not in ACTIVE and detection.created_at < job.finished_at
            )
        else:
            follows = False
    finished = job.status not in ACTIVE and not follows
    return render(
        request,
        "partials/claims_job_progress.html",
        _jobs_context(viewer, job=job, swap_actions=finished, detection_next=follows),
        headers={"HX-Refresh": "true"} if finished else None,
    )


@router.post("/claims/jobs/{job_id}/cancel")
async def cancel_claims_job(request: Request, job_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, viewer.principal.organization_id)
        await _claims_job(session, job_id)
        job = sync.describe(await sync.cancel(session, parse_job_id(job_id)))
    return render(request, "partials/claims_job.html", _jobs_context(viewer, job=job))


@router.post("/claims/jobs/{job_id}/resume")
async def resume_claims_job(request: Request, job_id: str) -> Response:
    viewer = await require_viewer(request)
    check_form_csrf(request, viewer, None)
    viewer.require_admin()
    organization_id = viewer.principal.organization_id
    async with unit_of_work(runtime_of(request).sessionmaker) as session:
        set_tenant(session, organization_id)
        await _claims_job(session, job_id)
        job = sync.describe(await sync.resume(session, organization_id, parse_job_id(job_id)))
    return render(request, "partials/claims_job.html", _jobs_context(viewer, job=job))
