"""Service principals: a service app's client-credentials token (``/oauth/token``) presented to
our API, acting in one organization named by the request (``X-Sellerhub-Organization``) with the
app's permissions. Only endpoints that declare a permission (``deps.require_permission``) accept
one; every user endpoint refuses it (403)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.core.errors import Forbidden, Unauthenticated, ValidationFailed
from sellerhub.identity.apps.cache import app_registry
from sellerhub.identity.apps.models import AppKind
from sellerhub.identity.apps.repository import AppSignupRepository
from sellerhub.identity.apps.tokens import SERVICE_SUBJECT_PREFIX
from sellerhub.identity.organizations.models import Role
from sellerhub.identity.principal import Principal
from sellerhub.identity.users.models import UserType

ORGANIZATION_HEADER = "X-Sellerhub-Organization"


class ServicePrincipalRefused(Forbidden):
    code = "service-principal-refused"
    title = "This endpoint does not accept service tokens"


class PermissionMissing(Forbidden):
    code = "permission-missing"
    title = "The caller lacks a permission"


class OrganizationNotGranted(Forbidden):
    code = "organization-not-granted"
    title = "The app may not act in this organization"


@dataclass(frozen=True, slots=True)
class ServicePrincipal(Principal):
    """A service app acting in ``organization_id``. It is no user: ``user_id`` is the app's row
    id (for logs and audit actors), it holds no role (``has_role`` is always false) and only
    ``permissions`` count."""

    app_id: str = ""
    permissions: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, minimum: Role) -> bool:
        return False

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions


def is_service_token(claims: dict[str, Any]) -> bool:
    subject = claims.get("sub")
    return isinstance(subject, str) and subject.startswith(SERVICE_SUBJECT_PREFIX)


def _organization(header: str | None) -> uuid.UUID:
    problem = f"send the organization to act in as {ORGANIZATION_HEADER}: <organization id>"
    try:
        return uuid.UUID((header or "").strip())
    except ValueError:
        raise ValidationFailed(
            problem, errors=[{"field": ORGANIZATION_HEADER, "message": "is not an organization id"}]
        ) from None


async def service_principal(
    sessionmaker: async_sessionmaker[AsyncSession],
    claims: dict[str, Any],
    permission: str,
    organization_header: str | None,
) -> ServicePrincipal:
    """The service principal of verified service-token ``claims`` for an endpoint that needs
    ``permission``: 401 when the app is unknown, disabled or not a service app; 403 when the
    token lacks the permission or the app may not act in the named organization (one that the
    app created through ``/api/cross-app/signup``; the same answer whether or not it exists)."""
    app_id = str(claims["sub"])[len(SERVICE_SUBJECT_PREFIX) :]
    if claims.get("azp") != app_id:
        raise Unauthenticated("the service token is not valid")
    app = await app_registry.get(sessionmaker, app_id)
    if app is None or app.kind is not AppKind.SERVICE:
        raise Unauthenticated("the service token's app is unknown")
    if not app.enabled:
        raise Unauthenticated(f"the service token's app {app_id} is disabled")
    perms = claims.get("perms")
    granted = app.permissions.intersection(perms if isinstance(perms, list) else [])
    if permission not in granted:
        raise PermissionMissing(f"the service token lacks the {permission} permission")
    organization_id = _organization(organization_header)
    async with sessionmaker() as session:
        allowed = await AppSignupRepository(session).created_organization(app_id, organization_id)
    if not allowed:
        raise OrganizationNotGranted(f"the app {app_id} may not act in this organization")
    return ServicePrincipal(
        user_id=app.id,
        organization_id=organization_id,
        role=Role.MEMBER,
        user_type=UserType.CUSTOMER,
        via="service",
        app_id=app_id,
        permissions=frozenset(granted),
    )
