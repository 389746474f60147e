"""Errors of the cross-app API (problem+json). ``/oauth/token`` answers RFC 6749 §5.2 JSON
instead; see ``OAuthError``."""

from __future__ import annotations

from typing import Any

from sellerhub.core.errors import Conflict, DomainError, Forbidden, NotFound, Unauthenticated


class AppNotFound(NotFound):
    code = "app-not-found"
    title = "No such app"


class AppAlreadyRegistered(Conflict):
    code = "app-already-registered"
    title = "An app with this id is already registered"


class AccountExists(Conflict):
    code = "account-exists"
    title = "An account with this email already exists"


class AppDisabled(Forbidden):
    code = "app-disabled"
    title = "The app is disabled"


class InvalidClient(Unauthenticated):
    code = "invalid-client"
    title = "App authentication failed"


class AmbiguousClientAuthentication(DomainError):
    status = 400
    code = "ambiguous-client-authentication"
    title = "More than one client authentication method"


class MalformedRequest(DomainError):
    status = 400
    code = "malformed-request"
    title = "The request body cannot be read"


class OriginNotAllowed(Forbidden):
    code = "origin-not-allowed"
    title = "This origin is not registered for the app"


class AppPermissionMissing(Forbidden):
    code = "app-permission-missing"
    title = "The app lacks a permission"


class AppKindNotAllowed(Forbidden):
    code = "app-kind-not-allowed"
    title = "This kind of app cannot do this"


class InvalidAppToken(Unauthenticated):
    code = "invalid-app-token"
    title = "The app token is not valid"


class InvalidAppRefreshToken(Unauthenticated):
    code = "invalid-refresh-token"
    title = "The refresh token is not valid"


class AppRefreshReuseDetected(Unauthenticated):
    code = "refresh-token-reused"
    title = "Refresh token reuse detected"
    keep_writes = True  # the family's revocation is committed with the 401


class OAuthError(Exception):
    """An RFC 6749 §5.2 error of the token endpoint: ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}
