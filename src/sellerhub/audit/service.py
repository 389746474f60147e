"""The audit trail: append-only events for credentials, connections, money and credits."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit.models import AuditEvent, PlatformAuditEvent
from sellerhub.audit.repository import AuditRepository
from sellerhub.core.errors import NotFound
from sellerhub.core.logging import redact
from sellerhub.db.reads import TenantReader


async def record(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    action: str,
    actor_user_id: uuid.UUID | None = None,
    actor_type: str = "user",
    target_type: str | None = None,
    target_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction. ``data`` is redacted before it is stored."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    event = AuditEvent(
        organization_id=organization_id,
        action=action,
        actor_user_id=actor_user_id,
        actor_type=actor_type,
        target_type=target_type,
        target_id=target_id,
        request_id=request_id,
        data=redact(data or {}),
    )
    event.ensure_id()
    AuditRepository(session).add(event)
    await session.flush()
    return event


async def record_platform(
    session: AsyncSession,
    *,
    action: str,
    actor_user_id: uuid.UUID | None = None,
    actor_type: str = "system",
    target_type: str | None = None,
    target_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> PlatformAuditEvent:
    """Append an event of the platform itself (no organization owns it: signing keys, apps
    managed by platform admins) in the caller's transaction; ``data`` is redacted."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    event = PlatformAuditEvent(
        action=action,
        actor_user_id=actor_user_id,
        actor_type=actor_type,
        target_type=target_type,
        target_id=target_id,
        request_id=request_id,
        data=redact(data or {}),
    )
    event.ensure_id()
    AuditRepository(session).add(event)
    await session.flush()
    return event


async def page_json(
    reader: TenantReader, *, limit: int, before: uuid.UUID | None, action: str | None
) -> str:
    """One page of the organization's events, newest first, as AuditEventPage JSON."""
    return await AuditRepository.page_json(reader, limit=limit, before=before, action=action)


async def event_json(reader: TenantReader, event_id: uuid.UUID) -> str:
    found = await AuditRepository.one_json(reader, event_id)
    if found is None:
        raise NotFound("audit event not found")
    return found
