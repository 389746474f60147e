from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin
from sellerhub.db.encrypted import register_encrypted


class OAuthState(IdMixin, Base):
    """The server side of an OAuth ``state``: random (only its hash is stored), single-use,
    short-lived, bound to the browser that started the flow (hash of a cookie value), carrying
    the purpose (login, or which provider to connect), the ``next`` URL and the PKCE verifier."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(40))
    next_url: Mapped[str] = mapped_column(String(2000))
    # What the flow is about when the purpose needs it (a Shopify shop domain).
    subject: Mapped[str | None] = mapped_column(String(255), default=None)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_verifier: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), default=None
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    consumed_at: Mapped[datetime | None] = mapped_column(default=None)


register_encrypted(OAuthState, "code_verifier")
