from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sellerhub.core.errors import Unauthenticated
from sellerhub.db.reads import Read
from sellerhub.identity.principal import Principal
from sellerhub.identity.sessions.schemas import MeOrganization, MeResponse, MeUser
from sellerhub.identity.users.repository import UserRepository


async def describe(session: AsyncSession, principal: Principal) -> MeResponse:
    repo = UserRepository(session)
    user = await repo.get(principal.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("this account no longer exists")
    memberships = await repo.organizations_of(user.id)
    return MeResponse(
        user=MeUser(
            id=user.id,
            email=user.email,
            name=user.name,
            user_type=user.user_type,
            email_verified=user.email_verified_at is not None,
            amazon_linked=user.amazon_user_id is not None,
            created_at=user.created_at,
        ),
        organization_id=principal.organization_id,
        role=principal.role.value,
        via=principal.via,
        organizations=[
            MeOrganization(id=org.id, name=org.name, slug=org.slug, role=role)
            for org, role in memberships
        ],
    )


@dataclass(frozen=True, slots=True)
class ViewerFacts:
    """What a page's layout shows of who is signed in."""

    email: str
    name: str
    organization_name: str


def viewer_facts(principal: Principal) -> Read[ViewerFacts | None]:
    """The principal's user and organization as a page shows them (a read for
    ``TenantReader``, no ORM session); None when the user is gone, inactive or no longer a
    member, whatever their token says."""
    read = UserRepository.viewer(principal.user_id)

    def decode(found: dict[str, Any] | None) -> ViewerFacts | None:
        if found is None:
            return None
        return ViewerFacts(found["email"] or "", found["name"] or "", found["organization_name"])

    return Read(read.sql, read.params, decode)
