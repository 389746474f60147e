from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.db.tenancy import system_context
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.organizations.models import Membership
from sellerhub.identity.users.models import User


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def resolve(self, key_hash: str) -> tuple[ApiKey, str, str] | None:
        """The active key with its user's role in the key's organization and user type, in one
        round trip; only for active users who are still members. Runs before the tenant is
        known, hence the (per-request) system context."""
        stmt = (
            select(ApiKey, Membership.role, User.user_type)
            .join(User, User.id == ApiKey.user_id)
            .join(
                Membership,
                (Membership.organization_id == ApiKey.organization_id)
                & (Membership.user_id == ApiKey.user_id),
            )
            .where(
                ApiKey.key_hash == key_hash,
                ApiKey.revoked_at.is_(None),
                User.is_active.is_(True),
            )
        )
        with system_context(self.session, "resolve API key", per_request=True):
            row = (await self.session.execute(stmt)).one_or_none()
        return None if row is None else (row[0], row[1], row[2])

    async def get(self, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.scalar(
            select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id == key_id)
        )

    async def list(self, organization_id: uuid.UUID) -> Sequence[ApiKey]:
        rows = await self.session.execute(
            select(ApiKey)
            .where(ApiKey.organization_id == organization_id)
            .order_by(ApiKey.created_at.desc())
        )
        return rows.scalars().all()

    def add(self, key: ApiKey) -> None:
        self.session.add(key)
