from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.accounts.codes import Purpose
from sellerhub.identity.accounts.models import EmailCode
from sellerhub.identity.sessions.models import RefreshToken


class EmailCodeRepository:
    """Codes are identity rows (looked up before any tenant is known), not tenant-scoped."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, code: EmailCode) -> None:
        self.session.add(code)

    async def discard(self, user_id: uuid.UUID, purpose: Purpose) -> None:
        """Forget every code of this user and purpose (a new one replaces them)."""
        await self.session.execute(
            delete(EmailCode).where(EmailCode.user_id == user_id, EmailCode.purpose == purpose)
        )

    async def live_for_update(self, user_id: uuid.UUID, purpose: Purpose) -> EmailCode | None:
        """The newest unconsumed code, locked: concurrent guesses are counted one by one."""
        return await self.session.scalar(
            select(EmailCode)
            .where(
                EmailCode.user_id == user_id,
                EmailCode.purpose == purpose,
                EmailCode.consumed_at.is_(None),
            )
            .order_by(EmailCode.id.desc())
            .limit(1)
            .with_for_update()
        )

    async def prune(self, expired_before: datetime) -> None:
        await self.session.execute(delete(EmailCode).where(EmailCode.expires_at < expired_before))


class UserSessionsRepository:
    """Sign-out everywhere after a password reset: every refresh-token family of the user.
    (Refresh tokens are the sessions domain's table; this is the one statement accounts
    needs on it.)"""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)
