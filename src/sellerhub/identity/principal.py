"""Who is calling: a user acting inside one organization with one role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sellerhub.identity.organizations.models import Role
from sellerhub.identity.users.models import UserType


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    user_type: UserType
    via: str  # "api_key" now; "session" and "app_token" come with the identity issue
    credential_id: uuid.UUID | None = None

    def has_role(self, minimum: Role) -> bool:
        return self.role.rank >= minimum.rank

    @property
    def is_platform_admin(self) -> bool:
        return self.user_type is UserType.ADMIN
