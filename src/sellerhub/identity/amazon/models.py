from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin
from sellerhub.db.encrypted import register_encrypted


class AmazonLogin(IdMixin, Base):
    """A user's Login with Amazon tokens (encrypted), kept for profile refreshes."""

    __tablename__ = "amazon_logins"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    amazon_user_id: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(200))
    access_token: Mapped[str] = mapped_column(Text)  # encrypted
    refresh_token: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    access_expires_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


register_encrypted(AmazonLogin, "access_token", "refresh_token")
