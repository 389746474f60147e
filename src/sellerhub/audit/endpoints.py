from __future__ import annotations

import uuid

from fastapi import APIRouter, Query

from sellerhub.audit import service
from sellerhub.audit.schemas import AuditEventOut, AuditEventPage
from sellerhub.deps import CurrentPrincipal, SessionDep

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])


@router.get("", response_model=AuditEventPage)
async def list_audit_events(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    action: str | None = Query(None, max_length=64),
) -> AuditEventPage:
    events = await service.list_events(session, limit=limit + 1, before=cursor, action=action)
    items = [AuditEventOut.model_validate(e) for e in events[:limit]]
    next_cursor = items[-1].id if len(events) > limit else None
    return AuditEventPage(items=items, next_cursor=next_cursor)


@router.get("/{event_id}", response_model=AuditEventOut)
async def get_audit_event(
    event_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> AuditEventOut:
    return AuditEventOut.model_validate(await service.get_event(session, event_id))
