"""Every SQL statement on refresh tokens, for any kind (the model is a parameter)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.refresh_tokens.models import RefreshTokenColumns

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

    async def revoke_user(self, user_id: uuid.UUID, now: datetime) -> set[uuid.UUID]:
        """Revoke every live link of the user's families; the families that had one."""
        model = self.model
        rows = await self.session.scalars(
            update(model)
            .where(model.user_id == user_id, model.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(model.family_id)
        )
        return set(rows.all())
