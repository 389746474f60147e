"""Registered apps (platform-level, not tenant-scoped), their users' rotating refresh tokens and
the accounts they created. Client secrets and refresh tokens are stored only as SHA-256 hashes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin
from sellerhub.identity.refresh_tokens.models import RefreshTokenColumns


class AppKind(StrEnum):
    BROWSER = "browser"  # user-facing app: app-scoped user tokens, CORS for its origins
    SERVICE = "service"  # internal service: client-credentials tokens only


class Permission(StrEnum):
    """What an app may do with a user's token (and a service app with its own)."""

    PROFILE_READ = "profile:read"
    CREDITS_READ = "credits:read"
    CREDITS_CONSUME = "credits:consume"
    CREDITS_PURCHASE = "credits:purchase"
    USERS_CREATE = "users:create"
    BILLING_CHARGE = "billing:charge"  # charge a recovery's commission (billing/commissions)


KNOWN_PERMISSIONS = frozenset(p.value for p in Permission)
APP_ID_PATTERN = r"^[a-z][a-z0-9-]{1,62}[a-z0-9]$"


class App(IdMixin, Base):
    __tablename__ = "apps"
    __table_args__ = (
        CheckConstraint("kind IN ('browser', 'service')", name="kind"),
        CheckConstraint(f"app_id ~ '{APP_ID_PATTERN}'", name="app_id_format"),
        CheckConstraint("jsonb_typeof(allowed_origins) = 'array'", name="allowed_origins_array"),
        CheckConstraint("jsonb_typeof(redirect_urls) = 'array'", name="redirect_urls_array"),
        CheckConstraint("jsonb_typeof(permissions) = 'array'", name="permissions_array"),
        CheckConstraint(
            "(previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL)",
            name="previous_secret_pair",
        ),
    )

    app_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default=AppKind.BROWSER.value)
    allowed_origins: Mapped[list[str]] = mapped_column(JSONB, default=list)
    redirect_urls: Mapped[list[str]] = mapped_column(JSONB, default=list)
    permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    client_secret_hash: Mapped[str] = mapped_column(String(64))
    # The secret replaced by the last rotation, accepted until ``previous_secret_expires_at``.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class AppRefreshToken(RefreshTokenColumns, Base):
    """An app refresh token (one family per ``/api/cross-app/auth``), bound to its app, with
    the permissions granted. The rules are those of every refresh token
    (``identity.refresh_tokens``); a separate table from the sessions' ``refresh_tokens``, so
    neither kind works at the other's endpoint."""

    __tablename__ = "app_refresh_tokens"
    __table_args__ = (Index("ix_app_refresh_tokens_family_id", "family_id"),)
    kind: ClassVar[str] = "app"
    reuse_action: ClassVar[str] = "APP_REFRESH_TOKEN_REUSED"

    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), index=True
    )
    permissions: Mapped[list[str]] = mapped_column(JSONB, default=list)

    def bound_client(self) -> str | None:
        return self.app_id

    def audit_target(self) -> tuple[str, str, dict[str, Any] | None]:
        return "app", self.app_id, {"session": str(self.family_id)}


class AppSignup(IdMixin, Base):
    """A credit-only account an app created (``POST /api/cross-app/signup``): makes the signup
    idempotent per app and email."""

    __tablename__ = "app_signups"
    __table_args__ = (UniqueConstraint("app_id", "user_id"),)

    app_id: Mapped[str] = mapped_column(String(64), ForeignKey("apps.app_id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AppAuthCode(IdMixin, Base):
    """A one-time authorization code of the embedded login (``/embed/login``), stored only as a
    SHA-256 hash, bound to the app, the page's origin, the attempt's nonce, the PKCE challenge,
    the user and the organization; it lives 60 s. Its exchange (``/oauth/token``,
    ``authorization_code``) starts a refresh-token family, kept in ``family_id``: a second use
    of the code revokes that family."""

    __tablename__ = "app_auth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("apps.app_id", ondelete="CASCADE"), index=True
    )
    origin: Mapped[str] = mapped_column(String(300))
    nonce: Mapped[str] = mapped_column(String(128))
    code_challenge: Mapped[str] = mapped_column(String(43))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    family_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
