"""Imports every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from sellerhub.audit.models import AuditEvent
from sellerhub.identity.apikeys.models import ApiKey
from sellerhub.identity.jwt.models import SigningKey
from sellerhub.identity.organizations.models import Membership, Organization
from sellerhub.identity.sessions.models import RefreshToken
from sellerhub.identity.users.models import User
from sellerhub.jobs.models import OutboxJob

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Membership",
    "Organization",
    "OutboxJob",
    "RefreshToken",
    "SigningKey",
    "User",
]
