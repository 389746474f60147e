from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin, TenantScoped


class AuditEvent(IdMixin, TenantScoped, Base):
    """Append-only: a database trigger rejects UPDATE and DELETE (see the core migration)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_occurred", "organization_id", "id"),)

    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_type: Mapped[str] = mapped_column(String(20), default="user")
    target_type: Mapped[str | None] = mapped_column(String(64), default=None)
    target_id: Mapped[str | None] = mapped_column(String(100), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class PlatformAuditEvent(IdMixin, Base):
    """An event of the platform itself, owned by no organization (signing-key rotations, the
    platform admins' acts on apps). Append-only like ``audit_events`` (trigger in its
    migration)."""

    __tablename__ = "platform_audit_events"

    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_type: Mapped[str] = mapped_column(String(20), default="system")
    target_type: Mapped[str | None] = mapped_column(String(64), default=None)
    target_id: Mapped[str | None] = mapped_column(String(100), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
