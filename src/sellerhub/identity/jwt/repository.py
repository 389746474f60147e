from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.jwt.models import SigningKey


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def published(self, now: datetime) -> Sequence[SigningKey]:
        """Active and recently retired keys, newest first (the first active one signs)."""
        rows = await self.session.execute(
            select(SigningKey)
            .where(or_(SigningKey.published_until.is_(None), SigningKey.published_until > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        )
        return rows.scalars().all()

    async def active_for_update(self) -> Sequence[SigningKey]:
        rows = await self.session.execute(
            select(SigningKey).where(SigningKey.retired_at.is_(None)).with_for_update()
        )
        return rows.scalars().all()

    def add(self, key: SigningKey) -> None:
        self.session.add(key)
