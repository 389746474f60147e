from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.mail.models import OutboundMail


class MailRepository:
    """The outbox is platform-level (not tenant-scoped): messages go to people, not tenants."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, mail: OutboundMail) -> None:
        self.session.add(mail)

    async def get_for_update(self, mail_id: uuid.UUID) -> OutboundMail | None:
        """Locked, so that two deliveries of the same job cannot both send it."""
        return await self.session.scalar(
            select(OutboundMail).where(OutboundMail.id == mail_id).with_for_update()
        )

    async def get(self, mail_id: uuid.UUID) -> OutboundMail | None:
        return await self.session.get(OutboundMail, mail_id)

    async def latest(self, *, limit: int, to: str | None = None) -> Sequence[OutboundMail]:
        stmt = (
            select(OutboundMail)
            .order_by(OutboundMail.created_at.desc(), OutboundMail.id.desc())
            .limit(limit)
        )
        if to:
            stmt = stmt.where(func.lower(OutboundMail.to_address) == to.strip().lower())
        return (await self.session.scalars(stmt)).all()
