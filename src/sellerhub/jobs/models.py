from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin


class OutboxJob(IdMixin, Base):
    """A job requested by a business write, committed in the same transaction. Dispatched to the
    queue after commit; re-driven by a periodic task if the process died before that."""

    __tablename__ = "job_outbox"
    __table_args__ = (
        Index(
            "ix_job_outbox_pending",
            "created_at",
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    task_name: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    queue: Mapped[str] = mapped_column(String(50), default="default")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    procrastinate_job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    dispatch_attempts: Mapped[int] = mapped_column(default=0)
