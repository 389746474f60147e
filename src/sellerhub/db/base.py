"""Declarative base with a constraint naming convention, and the mixins every model uses."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Dialect, ForeignKey, MetaData, String, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

from sellerhub.core.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True), uuid.UUID: Uuid()}


class EnumText(TypeDecorator[StrEnum]):
    """A status column: a ``StrEnum`` in Python, its value in a plain ``VARCHAR`` in PostgreSQL
    (the table's CHECK constraint lists the values), so adding a value is a constraint change,
    not a type migration. Reading an unknown value fails loudly instead of passing a stray
    string around."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 20) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(self.enum(value).value)

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


class IdMixin:
    """Sortable UUIDv7 primary key, assigned in Python so it is known before the INSERT
    (encrypted columns bind their ciphertext to the row id)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)

    def ensure_id(self) -> uuid.UUID:
        if self.id is None:
            self.id = uuid7()
        return self.id


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), onupdate=func.now(), nullable=False
    )


class TenantScoped:
    """Marks a table as owned by an organization. Queries on it are scoped automatically to the
    session's tenant and refused without one (see ``sellerhub.db.tenancy``)."""

    @declared_attr
    def organization_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805 - declared_attr takes the class
        return mapped_column(
            ForeignKey("organizations.id", ondelete="CASCADE"), index=True, nullable=False
        )
