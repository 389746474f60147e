from __future__ import annotations

import uuid
from typing import LiteralString

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit.models import AuditEvent, PlatformAuditEvent
from sellerhub.db.reads import TenantReader

# One round trip; PostgreSQL renders the page as JSON (the AuditEventPage schema).
_PAGE_SQL: LiteralString = (
    "WITH page AS ("
    " SELECT id, occurred_at, action, actor_type, actor_user_id, target_type, target_id,"
    " request_id, data FROM audit_events"
    " WHERE organization_id = %(organization_id)s"
    " AND (%(before)s::uuid IS NULL OR id < %(before)s::uuid)"
    " AND (%(action)s::text IS NULL OR action = %(action)s::text)"
    " ORDER BY id DESC LIMIT %(limit)s + 1)"
    " SELECT json_build_object("
    " 'items', coalesce((SELECT json_agg(p ORDER BY p.id DESC) FROM"
    " (SELECT * FROM page ORDER BY id DESC LIMIT %(limit)s) p), '[]'::json),"
    " 'next_cursor', CASE WHEN (SELECT count(*) FROM page) > %(limit)s THEN"
    " (SELECT id FROM page ORDER BY id DESC OFFSET %(limit)s - 1 LIMIT 1) END)::text"
)
_ONE_SQL: LiteralString = (
    "SELECT row_to_json(e)::text FROM ("
    " SELECT id, occurred_at, action, actor_type, actor_user_id, target_type, target_id,"
    " request_id, data FROM audit_events"
    " WHERE organization_id = %(organization_id)s AND id = %(id)s) e"
)


class AuditRepository:
    """Writes go through the ORM session (tenant scope applied centrally); reads through the
    tenant-bound reader, rendered as JSON by PostgreSQL."""

    def __init__(self, session: AsyncSession | None = None) -> None:
        self.session = session

    def add(self, event: AuditEvent | PlatformAuditEvent) -> None:
        assert self.session is not None
        self.session.add(event)

    @staticmethod
    async def page_json(
        reader: TenantReader, *, limit: int, before: uuid.UUID | None, action: str | None
    ) -> str:
        result = await reader.scalar(_PAGE_SQL, limit=limit, before=before, action=action)
        return str(result)

    @staticmethod
    async def one_json(reader: TenantReader, event_id: uuid.UUID) -> str | None:
        result = await reader.scalar(_ONE_SQL, id=event_id)
        return None if result is None else str(result)
