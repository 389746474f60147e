from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Index, String, func, literal_column
from sqlalchemy.orm import Mapped, mapped_column

from sellerhub.db.base import Base, IdMixin, TimestampMixin


class UserType(StrEnum):
    ADMIN = "admin"  # platform operator
    CUSTOMER = "customer"  # a seller


class User(IdMixin, TimestampMixin, Base):
    """A person. Platform-level (not tenant-scoped): one user may belong to several
    organizations through memberships."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("user_type IN ('admin', 'customer')", name="user_type"),
        Index("uq_users_email_lower", func.lower(literal_column("email")), unique=True),
    )

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    user_type: Mapped[str] = mapped_column(String(20), default=UserType.CUSTOMER.value)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    # Login with Amazon's stable user id (amzn1.account.…); accounts are linked by it only.
    amazon_user_id: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
