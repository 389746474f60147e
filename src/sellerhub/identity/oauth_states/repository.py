from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.oauth_states.models import OAuthState


class OAuthStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: OAuthState) -> None:
        self.session.add(row)
        await self.session.flush()

    async def by_hash_for_update(self, state_hash: str) -> OAuthState | None:
        """The state row, locked: two callbacks presenting one state serialize on it."""
        return await self.session.scalar(
            select(OAuthState).where(OAuthState.state_hash == state_hash).with_for_update()
        )
