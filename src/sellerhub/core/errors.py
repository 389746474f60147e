"""Domain error taxonomy and RFC 9457 problem details.

Services raise these; the app turns them into ``application/problem+json``. Each error has a stable
machine code (the last part of ``type``), an HTTP status and a human title. Never put secrets or
stack traces into ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

PROBLEM_BASE = "https://sellerhub.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"


class DomainError(Exception):
    """``keep_writes``: the failure is itself a fact to record — a rate-limit counter that
    counted this attempt, a state burned because the wrong browser presented it, a token family
    revoked because a refresh token was reused. The transaction boundary (``db.session``) then
    commits what was written before it answers the error, instead of rolling it back. Set it on
    the class when every such error keeps its writes, or per raise (``keep_writes=True``)."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    keep_writes: bool = False
    # Set by an endpoint that must shape the error's response (clear cookies, say); the
    # problem handler calls it on the response it builds.
    on_response: Callable[[Any], None] | None = None

    def __init__(
        self, detail: str | None = None, *, keep_writes: bool | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra
        if keep_writes is not None:
            self.keep_writes = keep_writes

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class ValidationFailed(DomainError):
    status = 422
    code = "validation-failed"
    title = "The request is not valid"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    title = "Authentication is required"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "You are not allowed to do this"


class NotFound(DomainError):
    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "The request conflicts with the current state"


class PaymentRequired(DomainError):
    status = 402
    code = "payment-required"
    title = "Payment or credit is required"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload-too-large"
    title = "The request body is too large"


class RateLimited(DomainError):
    status = 429
    code = "rate-limited"
    title = "Too many requests"


class UpstreamUnavailable(DomainError):
    status = 503
    code = "upstream-unavailable"
    title = "A service this request depends on is unavailable"


class TenantScopeViolation(Exception):
    """A query touched a tenant-owned table without an organization scope.

    This is a programming error, not a client error: it surfaces as a 500 with a generic body
    and a loud log line, and tests assert it is raised.
    """
