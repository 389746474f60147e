"""The columns and rules every refresh-token table shares. A kind's model (``sessions.models.
RefreshToken``, ``apps.models.AppRefreshToken``) inherits ``RefreshTokenColumns`` and is thereby
registered: ``service.end_all_for_user`` revokes the families of every registered kind, so a new
kind cannot be forgotten by sign-out everywhere."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin

# Every concrete refresh-token model, in definition order.
REFRESH_TOKEN_MODELS: list[type[RefreshTokenColumns]] = []


class RefreshTokenColumns(IdMixin):
    """One link of a refresh-token family (one sign-in), stored only as a SHA-256 hash. Every use
    rotates it (``used_at`` set, a successor issued in the same family); presenting a used one
    again revokes the whole family. Identity tables: looked up by hash before the tenant is
    known."""

    # What the kind is called in logs and audit events, and the audit action of a reuse.
    kind: ClassVar[str]
    reuse_action: ClassVar[str]

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    family_id: Mapped[uuid.UUID]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__:
            REFRESH_TOKEN_MODELS.append(cls)

    def bound_client(self) -> str | None:
        """The client the token was issued to, which alone may present it (None: any)."""
        return None

    def audit_target(self) -> tuple[str, str, dict[str, Any] | None]:
        """(target type, target id, data) of this family in audit events."""
        return "session", str(self.family_id), None


class RevokedFamily(Base):
    """A family (one sign-in, the ``sid`` of its access tokens) revoked before its access tokens
    lapsed: sign-out, reuse, a lost membership, sign-out everywhere. Every process polls the
    recent rows (``revocations``) and refuses those tokens; a row is useless once every access
    token of the family has expired, and the ``refresh_tokens.prune_revocations`` job deletes
    it. Identity table, no tenant: read before any tenant is known."""

    __tablename__ = "revoked_families"

    family_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    revoked_at: Mapped[datetime] = mapped_column(index=True)
