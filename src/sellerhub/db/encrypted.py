"""Encrypted columns: a registry of every column holding ciphertext, helpers that bind a value to
its row, and the batch re-encryption behind ``sellerhub keys rotate``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.core.crypto import Binding, KeyRing
from sellerhub.core.logging import get_logger
from sellerhub.db.base import Base
from sellerhub.db.session import unit_of_work
from sellerhub.db.tenancy import system_context

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EncryptedColumn:
    model: type[Base]
    column: str

    @property
    def label(self) -> str:
        return f"{self.model.__tablename__}.{self.column}"


REGISTRY: list[EncryptedColumn] = []


def register_encrypted(model: type[Base], *columns: str) -> None:
    """Declare that ``model.column`` holds ciphertext written by ``seal``."""
    for column in columns:
        entry = EncryptedColumn(model, column)
        if entry not in REGISTRY:
            REGISTRY.append(entry)


def binding_for(row: Any, column: str) -> Binding:
    row_id = row.ensure_id() if hasattr(row, "ensure_id") else row.id
    organization_id = getattr(row, "organization_id", None)
    return Binding(
        table=row.__tablename__,
        column=column,
        row_id=str(row_id),
        organization_id=str(organization_id) if organization_id is not None else None,
    )


def seal(ring: KeyRing, row: Any, column: str, plaintext: str | None) -> None:
    """Encrypt ``plaintext`` into ``row.column`` bound to this row (None clears it)."""
    value = None if plaintext is None else ring.encrypt_str(plaintext, binding_for(row, column))
    setattr(row, column, value)


def unseal(ring: KeyRing, row: Any, column: str) -> str | None:
    token = getattr(row, column)
    if token is None:
        return None
    return ring.decrypt_str(token, binding_for(row, column))


@dataclass
class RotationReport:
    rotated: int = 0
    remaining: int = 0


async def _rotate_batch(
    session: AsyncSession, ring: KeyRing, entry: EncryptedColumn, batch_size: int
) -> int:
    col = getattr(entry.model, entry.column)
    with system_context(session, f"encryption key rotation of {entry.label}"):
        rows = (
            (
                await session.execute(
                    select(entry.model)
                    .where(col.is_not(None), ~col.startswith(f"v1.{ring.active_kid}."))
                    .order_by(entry.model.id)  # type: ignore[attr-defined]
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            seal(ring, row, entry.column, unseal(ring, row, entry.column))
        await session.flush()
    return len(rows)


async def _remaining(
    sessionmaker: async_sessionmaker[AsyncSession], ring: KeyRing, entry: EncryptedColumn
) -> int:
    col = getattr(entry.model, entry.column)
    async with sessionmaker() as session:
        with system_context(session, f"encryption key rotation count of {entry.label}"):
            stmt = (
                select(func.count())
                .select_from(entry.model)
                .where(col.is_not(None), ~col.startswith(f"v1.{ring.active_kid}."))
            )
            return int((await session.execute(stmt)).scalar_one())


async def rotate_all(
    sessionmaker: async_sessionmaker[AsyncSession],
    ring: KeyRing,
    batch_size: int = 500,
    max_batches: int | None = None,
    columns: list[EncryptedColumn] | None = None,
) -> RotationReport:
    """Re-encrypt every registered column under the active key, one committed batch at a time.

    Safe while the service runs (row locks, ``SKIP LOCKED``) and resumable: progress is the data
    itself, so an interrupted run continues where it stopped. ``max_batches`` bounds one call.
    """
    report = RotationReport()
    batches = 0
    for entry in columns if columns is not None else REGISTRY:
        idle_rounds = 0
        while max_batches is None or batches < max_batches:
            async with unit_of_work(sessionmaker) as session:
                done = await _rotate_batch(session, ring, entry, batch_size)
            batches += 1
            report.rotated += done
            if done:
                log.info("keys.rotate.batch", column=entry.label, rows=done)
                continue
            if await _remaining(sessionmaker, ring, entry) == 0 or idle_rounds >= 20:
                break
            idle_rounds += 1  # rows locked by live writers: wait for them
            await asyncio.sleep(0.25)
    for entry in columns if columns is not None else REGISTRY:
        report.remaining += await _remaining(sessionmaker, ring, entry)
    return report
