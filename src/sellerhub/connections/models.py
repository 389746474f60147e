from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, EnumText, IdMixin, TenantScoped, TimestampMixin
from sellerhub.db.encrypted import register_encrypted


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    ERROR = "error"  # the last refresh or check failed transiently; retried with backoff
    NEEDS_REAUTH = "needs_reauth"  # the grant is gone; only the seller can fix it
    DISCONNECTED = "disconnected"


class Environment(StrEnum):
    PRODUCTION = "production"
    SANDBOX = "sandbox"


class Connection(IdMixin, TimestampMixin, TenantScoped, Base):
    """An organization's account at a provider. Secrets are ciphertext bound to this row (see
    ``connections.vault``, the only module that reads or writes them)."""

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint(
            "status IN ('connected', 'error', 'needs_reauth', 'disconnected')", name="status"
        ),
        CheckConstraint("environment IN ('production', 'sandbox')", name="environment"),
        CheckConstraint("refresh_failures >= 0", name="refresh_failures"),
        # One active connection per (organization, provider, external account).
        Index(
            "uq_connections_active_account",
            "organization_id",
            "provider",
            "external_account_id",
            unique=True,
            postgresql_where=text("status <> 'disconnected'"),
        ),
        Index(
            "ix_connections_refresh_due",
            "access_expires_at",
            postgresql_where=text("status IN ('connected', 'error')"),
        ),
    )

    provider: Mapped[str] = mapped_column(String(40))
    external_account_id: Mapped[str] = mapped_column(String(200))
    environment: Mapped[str] = mapped_column(String(20), default=Environment.PRODUCTION.value)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    scopes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    status: Mapped[ConnectionStatus] = mapped_column(
        EnumText(ConnectionStatus, 20), default=ConnectionStatus.CONNECTED
    )
    status_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    client_id: Mapped[str | None] = mapped_column(String(300), default=None)
    client_secret: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    access_token: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    refresh_token: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    webhook_secret: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    access_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(default=None)
    refresh_failures: Mapped[int] = mapped_column(default=0)
    next_refresh_at: Mapped[datetime | None] = mapped_column(default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    disconnected_at: Mapped[datetime | None] = mapped_column(default=None)


register_encrypted(Connection, "client_secret", "access_token", "refresh_token", "webhook_secret")
