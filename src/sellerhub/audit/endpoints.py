from __future__ import annotations

import uuid

from fastapi import APIRouter, Query, Response

from sellerhub.audit import service
from sellerhub.audit.schemas import AuditEventOut, AuditEventPage
from sellerhub.deps import TenantReaderDep

router = APIRouter(prefix="/api/v1/audit-events", tags=["audit"])
JSON = "application/json"


@router.get("", response_model=AuditEventPage)
async def list_audit_events(
    reader: TenantReaderDep,
    limit: int = Query(50, ge=1, le=200),
    cursor: uuid.UUID | None = Query(None, description="next_cursor of the previous page"),
    action: str | None = Query(None, max_length=64),
) -> Response:
    """The organization's audit trail, newest first, cursor-paged."""
    body = await service.page_json(reader, limit=limit, before=cursor, action=action)
    return Response(body, media_type=JSON)


@router.get("/{event_id}", response_model=AuditEventOut)
async def get_audit_event(event_id: uuid.UUID, reader: TenantReaderDep) -> Response:
    return Response(await service.event_json(reader, event_id), media_type=JSON)
