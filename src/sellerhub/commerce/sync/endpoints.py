from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Query, status

from sellerhub.commerce.sync import service
from sellerhub.commerce.sync.schemas import SyncJobOut, SyncJobPage, SyncRequest
from sellerhub.deps import AdminPrincipal, CurrentPrincipal, TenantSessionDep

router = APIRouter(prefix="/api/v1/sync-jobs", tags=["sync jobs"])


@router.get("", response_model=SyncJobPage)
async def list_sync_jobs(
    session: TenantSessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    connection_id: uuid.UUID | None = Query(None),
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = Query(None),
) -> SyncJobPage:
    """The organization's sync jobs, newest first, with their progress."""
    jobs, next_cursor = await service.list_jobs(
        session, limit=limit, before=cursor, connection_id=connection_id, status=status
    )
    return SyncJobPage(items=[service.describe(j) for j in jobs], next_cursor=next_cursor)


@router.post(
    "",
    response_model=SyncJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: {"description": "no such connection"},
        409: {"description": "a sync of the connection is active, or it needs re-authorization"},
    },
)
async def start_sync_job(
    body: SyncRequest, session: TenantSessionDep, principal: AdminPrincipal
) -> SyncJobOut:
    """Start a sync of a channel's orders; it runs in the background (poll the job). 409 while
    another sync of the connection is active."""
    job = await service.request_sync(
        session, principal.organization_id, body, requested_by=principal.user_id
    )
    return service.describe(job)


@router.get("/{job_id}", response_model=SyncJobOut)
async def get_sync_job(
    job_id: uuid.UUID, session: TenantSessionDep, principal: CurrentPrincipal
) -> SyncJobOut:
    return service.describe(await service.get_job(session, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=SyncJobOut,
    responses={409: {"description": "the job has finished already"}},
)
async def cancel_sync_job(
    job_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> SyncJobOut:
    """Stop after the page in flight; what was applied stays, and the job can resume."""
    return service.describe(await service.cancel(session, job_id))


@router.post(
    "/{job_id}/resume",
    response_model=SyncJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "the job is not failed or cancelled, or another is active"}},
)
async def resume_sync_job(
    job_id: uuid.UUID, session: TenantSessionDep, principal: AdminPrincipal
) -> SyncJobOut:
    """Continue a failed or cancelled job from the page where it stopped."""
    return service.describe(await service.resume(session, principal.organization_id, job_id))
