from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.jwt.models import SigningKey

# pg_advisory_xact_lock key of the signing-key writers ("sellerhub.signing_keys").
_LOCK_KEY = 0x5E11E7B0_51C0


class SigningKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def published(self, now: datetime) -> Sequence[SigningKey]:
        """Every key published at ``now`` (signing, about to sign, or retired with tokens still
        valid), newest first."""
        rows = await self.session.execute(
            select(SigningKey)
            .where(or_(SigningKey.published_until.is_(None), SigningKey.published_until > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        )
        return rows.scalars().all()

    async def lock(self) -> None:
        """Serialize the writers of the key table until the transaction ends (rotations, the
        first key); statements after it see what the previous holder committed."""
        await self.session.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))

    async def unretired(self) -> Sequence[SigningKey]:
        rows = await self.session.execute(
            select(SigningKey).where(SigningKey.retired_at.is_(None)).with_for_update()
        )
        return rows.scalars().all()

    async def newest(self) -> SigningKey | None:
        rows = await self.session.execute(
            select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.id.desc()).limit(1)
        )
        return rows.scalars().first()

    def add(self, key: SigningKey) -> None:
        self.session.add(key)
