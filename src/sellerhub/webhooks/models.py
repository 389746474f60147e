from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin


class EventStatus(StrEnum):
    PENDING = "pending"  # stored; not processed yet (or retrying)
    PROCESSED = "processed"
    FAILED = "failed"  # a payload that cannot be used, or MAX_ATTEMPTS reached


class WebhookEvent(IdMixin, Base):
    """The inbox: every verified delivery, stored before we answer 2xx, once per provider event
    id (``UNIQUE(source, external_id)``, inserted with ``ON CONFLICT DO NOTHING``). Processed
    asynchronously; rows never handled are re-driven. Platform-level: the organization is
    resolved from the delivery (shop domain, connection) and may be unknown."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        CheckConstraint("status IN ('pending', 'processed', 'failed')", name="status"),
        Index(
            "ix_webhook_events_pending",
            "received_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    source: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(100))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), default=None, index=True
    )
    connection_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    account: Mapped[str | None] = mapped_column(String(255), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    headers: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    status: Mapped[EventStatus] = mapped_column(
        EnumText(EventStatus, 20), default=EventStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
