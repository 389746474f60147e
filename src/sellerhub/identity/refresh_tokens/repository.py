"""Every SQL statement on refresh tokens, for any kind (the model is a parameter)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.refresh_tokens.models import RefreshTokenColumns, RevokedFamily

T = TypeVar("T", bound=RefreshTokenColumns)


class RefreshTokenRepository(Generic[T]):
    def __init__(self, session: AsyncSession, model: type[T]) -> None:
        self.session = session
        self.model = model

    def add(self, token: T) -> None:
        self.session.add(token)

    async def by_hash_for_update(self, token_hash: str) -> T | None:
        model = self.model
        return await self.session.scalar(
            select(model).where(model.token_hash == token_hash).with_for_update()
        )

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        model = self.model
        await self.session.execute(
            update(model)
            .where(model.family_id == family_id, model.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        await RevokedFamilyRepository(self.session).add(model.kind, [family_id], now)

    async def revoke_user(self, user_id: uuid.UUID, now: datetime) -> set[uuid.UUID]:
        """Revoke every live link of the user's families; the families that had one."""
        model = self.model
        rows = await self.session.scalars(
            update(model)
            .where(model.user_id == user_id, model.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(model.family_id)
        )
        families = set(rows.all())
        await RevokedFamilyRepository(self.session).add(model.kind, families, now)
        return families


class RevokedFamilyRepository:
    """The recently revoked families (``RevokedFamily``), polled by every process."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, kind: str, family_ids: Iterable[uuid.UUID], now: datetime) -> None:
        rows = [{"family_id": f, "kind": kind, "revoked_at": now} for f in family_ids]
        if rows:
            await self.session.execute(
                insert(RevokedFamily)
                .values(rows)
                .on_conflict_do_nothing(index_elements=["family_id"])
            )

    async def revoked_since(self, since: datetime) -> Sequence[uuid.UUID]:
        rows = await self.session.scalars(
            select(RevokedFamily.family_id).where(RevokedFamily.revoked_at >= since)
        )
        return rows.all()

    async def prune(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(RevokedFamily).where(RevokedFamily.revoked_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
