"""Errors raised by the SDK, typed from the server's problem+json ``code`` (RFC 9457) or, for
``/oauth/token``, its RFC 6749 ``error``. Every API error is a ``SellerhubError`` carrying the
HTTP status, the code, the detail and the whole body."""

from __future__ import annotations

from typing import Any


class SellerhubError(Exception):
    """An error answered by sellerhub (or the transport failing to reach it: ``status`` 0)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int = 0,
        code: str = "error",
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}" if status else detail)
        self.detail = detail
        self.status = status
        self.code = code
        self.body: dict[str, Any] = body or {}
        self.request_id = request_id


class TransportError(SellerhubError):
    """sellerhub could not be reached (connection refused, reset, timed out), after retries."""


class BadRequest(SellerhubError):
    """400: the request could not be read (malformed JSON, a bad grant…)."""


class NotAuthenticated(SellerhubError):
    """401: no credentials, or they are not valid (expired token, wrong client secret)."""


class InsufficientCredits(SellerhubError):
    """402 ``insufficient-credits``: ``balance`` is the wallet's available credits."""

    @property
    def balance(self) -> int | None:
        value = self.body.get("balance")
        return value if isinstance(value, int) else None


class Forbidden(SellerhubError):
    """403: authenticated, but not allowed (missing permission, other organization, origin)."""


class NotFound(SellerhubError):
    """404."""


class Conflict(SellerhubError):
    """409: the request conflicts with the current state."""


class IdempotencyKeyReused(Conflict):
    """409 ``idempotency-key-reused``: the key was used before for another request."""


class ValidationFailed(SellerhubError):
    """422: ``errors`` names each bad field (``[{"field": …, "message": …}]``)."""

    @property
    def errors(self) -> list[dict[str, str]]:
        found = self.body.get("errors")
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


class RateLimited(SellerhubError):
    """429: ``retry_after`` is how many seconds the server asked to wait."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServerError(SellerhubError):
    """5xx: sellerhub (or something it depends on) failed; retried when that was safe."""


class InvalidToken(Exception):
    """``TokenVerifier``: the token is not a valid sellerhub token for this audience."""


class TokenExpired(InvalidToken):
    """``TokenVerifier``: the token's ``exp`` has passed (beyond the leeway)."""


class UnknownSigningKey(InvalidToken):
    """``TokenVerifier``: no published key has the token's ``kid``, even after a refetch."""


_BY_CODE: dict[str, type[SellerhubError]] = {
    "insufficient-credits": InsufficientCredits,
    "idempotency-key-reused": IdempotencyKeyReused,
    "validation-failed": ValidationFailed,
}
_BY_STATUS: dict[int, type[SellerhubError]] = {
    400: BadRequest,
    401: NotAuthenticated,
    402: InsufficientCredits,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: ValidationFailed,
    429: RateLimited,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds; an HTTP date is not used here)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_for(
    status: int, body: Any, retry_after: str | None = None, request_id: str | None = None
) -> SellerhubError:
    """The typed error of an answer with this status and (parsed JSON, or None) body."""
    problem: dict[str, Any] = body if isinstance(body, dict) else {}
    code = problem.get("code") or problem.get("error")  # problem+json, or RFC 6749
    code = code if isinstance(code, str) else f"http-{status}"
    detail = problem.get("detail") or problem.get("error_description") or problem.get("title")
    detail = detail if isinstance(detail, str) else f"HTTP {status}"
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else SellerhubError
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "body": problem,
        "request_id": request_id,
    }
    if cls is RateLimited:
        seconds = parse_retry_after(retry_after)
        if seconds is None and isinstance(problem.get("retry_after"), int | float):
            seconds = float(problem["retry_after"])
        return RateLimited(detail, retry_after=seconds, **kwargs)
    return cls(detail, **kwargs)
