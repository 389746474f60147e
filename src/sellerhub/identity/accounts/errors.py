from __future__ import annotations

from sellerhub.core.errors import DomainError, Forbidden, Unauthenticated


class InvalidCredentials(Unauthenticated):
    """The one answer for an unknown email, a wrong password, an account without a password
    and a disabled account: nothing tells them apart."""

    code = "invalid-credentials"
    title = "The email address or the password is wrong"


class InvalidCode(DomainError):
    """Wrong, expired, used up or replaced: one answer, and no account existence leaks."""

    status = 400
    code = "invalid-code"
    title = "The code is not valid"


class NoOrganization(Forbidden):
    code = "no-organization"
    title = "This account belongs to no organization"
