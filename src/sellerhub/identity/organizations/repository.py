from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.identity.organizations.models import Membership, Organization
from sellerhub.identity.users.models import User


class OrganizationRepository:
    """Organizations are read only by id of the caller's own tenant; memberships are
    tenant-scoped and filtered centrally."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, organization_id: uuid.UUID) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def by_slug(self, slug: str) -> Organization | None:
        return await self.session.scalar(select(Organization).where(Organization.slug == slug))

    async def membership_of(self, user_id: uuid.UUID) -> Membership | None:
        return await self.session.scalar(select(Membership).where(Membership.user_id == user_id))

    async def members(self) -> list[Membership]:
        rows = await self.session.execute(select(Membership).order_by(Membership.created_at))
        return list(rows.scalars())

    async def members_with_users(self) -> list[tuple[Membership, User | None]]:
        """Memberships (oldest first) with their users, in one statement."""
        rows = await self.session.execute(
            select(Membership, User)
            .outerjoin(User, User.id == Membership.user_id)
            .order_by(Membership.created_at)
        )
        return [(membership, user) for membership, user in rows]

    def add(self, obj: Organization | Membership) -> None:
        self.session.add(obj)
