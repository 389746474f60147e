from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.db.tenancy import system_context
from sellerhub.identity.organizations.models import Membership, Organization
from sellerhub.identity.users.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        return await self.session.scalar(
            select(User).where(func.lower(User.email) == email.strip().lower())
        )

    async def by_amazon_id(self, amazon_user_id: str) -> User | None:
        return await self.session.scalar(select(User).where(User.amazon_user_id == amazon_user_id))

    async def organizations_of(self, user_id: uuid.UUID) -> list[tuple[Organization, str]]:
        """Every organization the user belongs to, with their role — a question across
        tenants about the user's own memberships, hence the per-request system context."""
        stmt = (
            select(Organization, Membership.role)
            .join(Membership, Membership.organization_id == Organization.id)
            .where(Membership.user_id == user_id)
            .order_by(Organization.name)
        )
        with system_context(self.session, "list the caller's memberships", per_request=True):
            rows = (await self.session.execute(stmt)).all()
        return [(org, role) for org, role in rows]

    def add(self, user: User) -> None:
        self.session.add(user)
