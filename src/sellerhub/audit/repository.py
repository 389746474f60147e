from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.audit.models import AuditEvent


class AuditRepository:
    """Queries on ``audit_events``; the session's tenant scope is applied centrally."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, event: AuditEvent) -> None:
        self.session.add(event)

    async def get(self, event_id: uuid.UUID) -> AuditEvent | None:
        return await self.session.scalar(select(AuditEvent).where(AuditEvent.id == event_id))

    async def list(
        self, *, limit: int, before: uuid.UUID | None = None, action: str | None = None
    ) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if before is not None:
            stmt = stmt.where(AuditEvent.id < before)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        return (await self.session.execute(stmt)).scalars().all()
