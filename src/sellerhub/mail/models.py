from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin


class OutboundMail(IdMixin, Base):
    """Every message the platform sends. In development the outbox is the delivery (shown in
    the log and the UI); in production a job hands it to SMTP and records ``sent_at``."""

    __tablename__ = "mail_outbox"

    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
