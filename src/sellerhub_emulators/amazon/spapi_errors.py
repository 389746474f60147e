"""SP-API and Seller Central error shapes (providers.md §1.1, §1.3, §1.4).

SP-API errors are ``{"errors": [{"code", "message", "details"}]}`` (the ``ErrorList`` of every
model) with an ``x-amzn-RequestId`` header. Codes and messages are the commonly observed ones
(providers.md §1.3 [3p]); the ``details`` of token failures are the observed wording of the real
service (e.g. amzn/selling-partner-api-models#2333, and the strings client libraries match on).

Token failures are **403** ``Unauthorized`` — the models document 403 for "Access Denied,
Unauthorized, Expired Token, Invalid Signature" and the real service answers 403 for an expired
token (amzn/selling-partner-api-models#4122). ``x-amzn-RateLimit-Limit`` is sent only on
200/400/404 (providers.md §1.4), never on throttled (429) or unauthorized responses.

Seller Central's authorization errors (MD1000, MD5101, MD5110) are shown to the seller on a page
and never redirected (developer-docs "Authorization Errors": "the page where you received the
error"); the page's wording and HTTP status are the emulator's own.
"""

from __future__ import annotations

import uuid
from html import escape

from starlette.responses import HTMLResponse, JSONResponse

from sellerhub_emulators.common.pages import html_page

CONSENT_BANNER = "sellerhub emulator of Seller Central - not amazon.com"

DENIED = "Access to requested resource is denied."
TOKEN_MISSING = "Access token is missing in the request header."  # noqa: S105 - a message
TOKEN_EXPIRED = "The access token you provided has expired."  # noqa: S105 - a message
TOKEN_INVALID = "The access token you provided is revoked, malformed or invalid."  # noqa: S105
QUOTA_EXCEEDED = "You exceeded your quota for the requested resource."

# HTTP status -> (code, message) for statuses the emulator produces on its own or by injection.
_FAULTS: dict[int, tuple[str, str]] = {
    400: ("InvalidInput", "One or more request parameters is invalid."),
    401: ("Unauthorized", DENIED),
    403: ("Unauthorized", DENIED),
    404: ("NotFound", "The requested resource was not found."),
    429: ("QuotaExceeded", QUOTA_EXCEEDED),
    500: ("InternalFailure", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Service temporarily unavailable. Please try again."),
}


def request_id() -> str:
    return str(uuid.uuid4())


def spapi_error(
    status: int,
    code: str,
    message: str,
    details: str | None = None,
    *,
    rate_limit: float | None = None,
) -> JSONResponse:
    """An ``ErrorList`` response; ``rate_limit`` adds ``x-amzn-RateLimit-Limit`` on 400/404."""
    error: dict[str, str] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    headers = {"x-amzn-RequestId": request_id()}
    if status == 403:
        headers["x-amzn-ErrorType"] = "AccessDeniedException"
    if rate_limit is not None and status in (400, 404):
        headers["x-amzn-RateLimit-Limit"] = rate_limit_header(rate_limit)
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


def invalid_input(message: str, *, rate_limit: float | None = None) -> JSONResponse:
    return spapi_error(400, "InvalidInput", message, rate_limit=rate_limit)


def unauthorized(details: str) -> JSONResponse:
    return spapi_error(403, "Unauthorized", DENIED, details)


def spapi_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled SP-API call (429 ``QuotaExceeded``)."""
    code, message = _FAULTS.get(
        status,
        ("InternalFailure", "We encountered an internal error. Please try again.")
        if status >= 500
        else ("InvalidInput", "The request is invalid."),
    )
    details = "" if status in (401, 403) else None
    return spapi_error(status, code, message, details)


def rate_limit_header(per_second: float) -> str:
    """``2.0``-style value of ``x-amzn-RateLimit-Limit`` (providers.md §1.3)."""
    return repr(float(per_second))


def consent_error_page(status: int, message: str, *, code: str | None = None) -> HTMLResponse:
    """What the seller sees when Seller Central refuses an authorization request."""
    shown = f"<p>Error code: <strong>{escape(code)}</strong></p>" if code else ""
    body = (
        "<h1>We could not authorize this application</h1>"
        f"{shown}<p><code>{escape(message)}</code></p>"
    )
    return html_page("Seller Central - Authorize", body, banner=CONSENT_BANNER, status_code=status)


def consent_fault(status: int) -> HTMLResponse:
    """An injected failure or a throttled call of the consent page."""
    reason = "Too many requests" if status == 429 else f"Injected failure (HTTP {status})"
    return consent_error_page(status, reason)
