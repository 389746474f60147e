from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin


class SyncStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (SyncStatus.QUEUED.value, SyncStatus.RUNNING.value)


class SyncJob(IdMixin, TimestampMixin, TenantScoped, Base):
    """One paginated pull of a channel's orders. The cursor of the next page is committed in the
    same transaction as the orders of the page before it, so a job stopped anywhere (worker
    killed, provider down, cancelled) resumes exactly where it stopped. ``lease`` names the run
    that owns the job; a run whose heartbeat is older than the lease time may be taken over."""

    __tablename__ = "sync_jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="status"
        ),
        CheckConstraint("mode IN ('full', 'incremental')", name="mode"),
        CheckConstraint("pages >= 0 AND fetched >= 0 AND changed >= 0", name="counts"),
        # One active job per connection and resource.
        Index(
            "uq_sync_jobs_active",
            "organization_id",
            "connection_id",
            "resource",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
        Index("ix_sync_jobs_org_id", "organization_id", "id"),
        Index(
            "ix_sync_jobs_heartbeat",
            "heartbeat_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    connection_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(20))
    resource: Mapped[str] = mapped_column(String(20), default="orders")
    mode: Mapped[str] = mapped_column(String(20), default="full")
    since: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[SyncStatus] = mapped_column(EnumText(SyncStatus, 20), default=SyncStatus.QUEUED)
    cursor: Mapped[str | None] = mapped_column(String(2000), default=None)
    pages: Mapped[int] = mapped_column(default=0)
    fetched: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    throttled: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    lease: Mapped[uuid.UUID | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
