from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, LiteralString

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.commerce.sync.models import ACTIVE, SyncJob, SyncStatus
from sellerhub.connections.models import Connection, ConnectionStatus
from sellerhub.db.reads import Read
from sellerhub.db.tenancy import system_context

# The newest jobs with every field of SyncJobOut (``resumable`` as service.describe decides it),
# rendered by PostgreSQL in one round trip for the pages that show them.
_RECENT_SQL: LiteralString = (
    "SELECT coalesce(json_agg(j ORDER BY j.id DESC), '[]'::json) FROM ("
    " SELECT id, connection_id, channel, resource, mode, since, status, pages, fetched, changed,"
    " skipped, throttled, attempts, last_error, status IN ('failed', 'cancelled') AS resumable,"
    " started_at, finished_at, created_at, updated_at FROM sync_jobs"
    " WHERE organization_id = %(organization_id)s AND resource = ANY(%(jobs_resources)s)"
    " ORDER BY id DESC LIMIT %(jobs_limit)s) j"
)


class SyncJobRepository:
    """Queries on ``sync_jobs``; tenant scope is applied centrally to the session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, job: SyncJob) -> None:
        self.session.add(job)

    async def get(self, job_id: uuid.UUID, *, lock: bool = False) -> SyncJob | None:
        stmt = select(SyncJob).where(SyncJob.id == job_id)
        if lock:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def active_for(self, connection_id: uuid.UUID, resource: str) -> SyncJob | None:
        return await self.session.scalar(
            select(SyncJob).where(
                SyncJob.connection_id == connection_id,
                SyncJob.resource == resource,
                SyncJob.status.in_(ACTIVE),
            )
        )

    async def newest(self, connection_id: uuid.UUID, resource: str) -> SyncJob | None:
        return await self.session.scalar(
            select(SyncJob)
            .where(SyncJob.connection_id == connection_id, SyncJob.resource == resource)
            .order_by(SyncJob.id.desc())
            .limit(1)
        )

    async def last_succeeded(self, connection_id: uuid.UUID, resource: str) -> SyncJob | None:
        return await self.session.scalar(
            select(SyncJob)
            .where(
                SyncJob.connection_id == connection_id,
                SyncJob.resource == resource,
                SyncJob.status == SyncStatus.SUCCEEDED.value,
            )
            .order_by(SyncJob.id.desc())
            .limit(1)
        )

    async def page(
        self,
        *,
        limit: int,
        before: uuid.UUID | None,
        connection_id: uuid.UUID | None,
        status: str | None,
    ) -> Sequence[SyncJob]:
        """Newest first; ``limit + 1`` rows so the caller knows whether a next page exists."""
        stmt = select(SyncJob).order_by(SyncJob.id.desc()).limit(limit + 1)
        if before is not None:
            stmt = stmt.where(SyncJob.id < before)
        if connection_id is not None:
            stmt = stmt.where(SyncJob.connection_id == connection_id)
        if status is not None:
            stmt = stmt.where(SyncJob.status == status)
        return (await self.session.execute(stmt)).scalars().all()


async def stale_active(
    session: AsyncSession, *, heartbeat_before: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization id, job id) of active jobs nobody has worked on since ``heartbeat_before``:
    their run died with its worker, or its request was lost."""
    stmt = (
        select(SyncJob.organization_id, SyncJob.id)
        .where(
            SyncJob.status.in_(ACTIVE),
            or_(
                SyncJob.heartbeat_at < heartbeat_before,
                and_(SyncJob.heartbeat_at.is_(None), SyncJob.created_at < heartbeat_before),
            ),
        )
        .order_by(SyncJob.id)
        .limit(limit)
    )
    with system_context(session, "sync jobs: find runs that died"):
        rows = (await session.execute(stmt)).all()
    return [(org, job_id) for org, job_id in rows]


async def channels_to_sync(
    session: AsyncSession, *, channels: Sequence[str], resource: str, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(organization id, connection id) of connected channels without an active job."""
    busy = exists().where(
        SyncJob.connection_id == Connection.id,
        SyncJob.resource == resource,
        SyncJob.status.in_(ACTIVE),
    )
    stmt = (
        select(Connection.organization_id, Connection.id)
        .where(
            Connection.provider.in_(channels),
            Connection.status == ConnectionStatus.CONNECTED.value,
            ~busy,
        )
        .order_by(Connection.id)
        .limit(limit)
    )
    with system_context(session, "sync jobs: schedule the periodic syncs"):
        rows = (await session.execute(stmt)).all()
    return [(org, connection_id) for org, connection_id in rows]


def recent_json(limit: int, resources: Sequence[str]) -> Read[list[dict[str, Any]]]:
    return Read(_RECENT_SQL, {"jobs_limit": limit, "jobs_resources": list(resources)})
