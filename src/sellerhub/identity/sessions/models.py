from __future__ import annotations

from typing import ClassVar

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base
from sellerhub.identity.refresh_tokens.models import RefreshTokenColumns


class RefreshToken(RefreshTokenColumns, Base):
    """A session's refresh token (one family per sign-in); the rules are those of every
    refresh token (``identity.refresh_tokens``)."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family_id", "family_id"),)
    kind: ClassVar[str] = "session"
    reuse_action: ClassVar[str] = "REFRESH_TOKEN_REUSED"

    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
