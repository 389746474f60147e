from __future__ import annotations

import uuid
from typing import Any, LiteralString

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.db.reads import Read
from sellerhub.db.tenancy import system_context
from sellerhub.identity.organizations.models import Membership, Organization
from sellerhub.identity.users.models import User

# Who is signed in to a page, in one round trip: the user (active) and the name of the
# organization the session acts in, found through the user's membership of it (so a user
# removed from the organization no longer sees its pages, whatever their token says).
_VIEWER_SQL: LiteralString = (
    "SELECT json_build_object('email', u.email, 'name', u.name, 'organization_name', o.name)"
    " FROM users u"
    " JOIN memberships m ON m.user_id = u.id AND m.organization_id = %(organization_id)s"
    " JOIN organizations o ON o.id = m.organization_id"
    " WHERE u.id = %(user_id)s AND u.is_active"
)


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

    @staticmethod
    def viewer(user_id: uuid.UUID) -> Read[dict[str, Any] | None]:
        """The signed-in user's email and name and the organization's name, or None when the
        user is gone, inactive or no longer a member of the reader's organization."""
        return Read(_VIEWER_SQL, {"user_id": user_id})
