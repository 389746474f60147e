"""FedEx's error shape (providers.md §6), shared by the OAuth and Track APIs:

``{"transactionId": "<uuid>", "errors": [{"code": "NOT.AUTHORIZED.ERROR", "message": "..."}]}``

(``customerTransactionId`` is added when the request carried ``x-customer-transaction-id``;
``parameterList`` is optional in the spec and left out.) Codes and messages come from FedEx's
published OpenAPI examples (Authorization 1.0 and Track 1.0.0, via alexdupre/fedex-scala) unless
a comment next to them says otherwise.
"""

from __future__ import annotations

import uuid

from starlette.responses import JSONResponse

# RFC 6749 §5.1: token responses, errors included, must not be cached. (FedEx does not document
# its caching headers; the RFC rule is the safe default for a token endpoint.)
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}

NOT_AUTHORIZED = "NOT.AUTHORIZED.ERROR"
BAD_REQUEST = "BAD.REQUEST.ERROR"
FORBIDDEN = "FORBIDDEN.ERROR"
NOT_FOUND = "NOT.FOUND.ERROR"
INTERNAL = "INTERNAL.SERVER.ERROR"
UNAVAILABLE = "SERVICE.UNAVAILABLE.ERROR"
# [unconfirmed] the code of a 429 body; the status and the message below are FedEx's
# (developer.fedex.com guides/ratelimits.html), the code follows the pattern of the others.
TOO_MANY_REQUESTS = "TOO.MANY.REQUESTS.ERROR"
# [unconfirmed] FedEx's code for a malformed or schema-invalid request body.
INVALID_INPUT = "INVALID.INPUT.EXCEPTION"
# Track API examples.
TRACKING_NUMBER_EMPTY = "TRACKING.TRACKINGNUMBER.EMPTY"
TRACKING_NUMBER_NOT_FOUND = "TRACKING.TRACKINGNUMBER.NOTFOUND"

# Observed for a wrong API key or secret key (several public client test suites).
INVALID_CLIENT_MESSAGE = (
    "The given client credentials were not valid. Please modify your request and try again."
)
# Track API OpenAPI, CXSError401 example.
EXPIRED_MESSAGE = "Access token expired. Please modify your request and try again."
# [unconfirmed] seen quoted by a public client for a token FedEx does not accept.
UNAUTHENTICATED_MESSAGE = "We could not authenticate your credentials. Please try again."
# [unconfirmed] the wording of the API gateway in front of /oauth/token for a missing field.
MISSING_PARAMETERS_MESSAGE = (
    "Missing or duplicate parameters. Please modify your request and try again."
)
# [unconfirmed] the code is the 400 one providers.md lists; the wording is the emulator's.
UNSUPPORTED_GRANT_MESSAGE = "Unsupported grant type. Please modify your request and try again."
# Observed (a public FedEx integration, sandbox): an explicit ``scope`` is refused with 400.
SCOPE_REFUSED_MESSAGE = "No registered scope value for this client has been requested"
# Track API OpenAPI, CXSError2 example.
TRACKING_NUMBER_EMPTY_MESSAGE = "Please provide tracking number."
# [unconfirmed] FedEx's long-standing wording for an unknown tracking number.
TRACKING_NUMBER_NOT_FOUND_MESSAGE = (
    "Tracking number cannot be found. Please correct the tracking number and try again."
)
INVALID_INPUT_MESSAGE = "Invalid field value in the input"  # [unconfirmed]

# Official messages of the generic statuses (OpenAPI CXSError403/404/500/503 examples, the
# Authorization API's CXSError example for 400, and the rate-limit guide for 429).
_GENERIC: dict[int, tuple[str, str]] = {
    400: (
        BAD_REQUEST,
        "We are unable to process this request. "
        "Please try again later or contact FedEx Customer Service.",
    ),
    401: (NOT_AUTHORIZED, UNAUTHENTICATED_MESSAGE),
    403: (
        FORBIDDEN,
        "We could not authorize your credentials. Please check your permissions and try again",
    ),
    404: (
        NOT_FOUND,
        "The resource you requested is no longer available. "
        "Please modify your request and try again.",
    ),
    429: (
        TOO_MANY_REQUESTS,
        "We have received too many requests in a short duration. Please wait a while to try again.",
    ),
    500: (
        INTERNAL,
        "We encountered an unexpected error and are working to resolve the issue. "
        "We apologize for any inconvenience. Please check back at a later time.",
    ),
    503: (
        UNAVAILABLE,
        "The service is currently unavailable and we are working to resolve the issue. "
        "We apologize for any inconvenience. Please check back at a later time.",
    ),
}


def transaction_id() -> str:
    """FedEx identifies every response by a UUID (``transactionId``)."""
    return str(uuid.uuid4())


def error_body(
    code: str, message: str, *, customer_transaction_id: str | None = None
) -> dict[str, object]:
    body: dict[str, object] = {"transactionId": transaction_id()}
    if customer_transaction_id:
        body["customerTransactionId"] = customer_transaction_id
    body["errors"] = [{"code": code, "message": message}]
    return body


def fedex_error(
    status: int,
    code: str,
    message: str,
    *,
    customer_transaction_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, customer_transaction_id=customer_transaction_id),
        status_code=status,
        headers=headers,
    )


def generic(status: int) -> tuple[str, str]:
    """Code and message FedEx uses for a bare HTTP status (other 4xx/5xx fall back to 400/500)."""
    if status in _GENERIC:
        return _GENERIC[status]
    return _GENERIC[500] if status >= 500 else _GENERIC[400]


def token_error(status: int, code: str, message: str) -> JSONResponse:
    return fedex_error(status, code, message, headers=TOKEN_HEADERS)


def token_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of ``/oauth/token``."""
    if status == 401:
        return token_error(401, NOT_AUTHORIZED, INVALID_CLIENT_MESSAGE)
    code, message = generic(status)
    return token_error(status, code, message)


def track_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of ``/track/v1/trackingnumbers``."""
    code, message = generic(status)
    return fedex_error(status, code, message)


def not_authorized(message: str) -> JSONResponse:
    """401 for a missing, unknown, expired or revoked access token."""
    return fedex_error(401, NOT_AUTHORIZED, message)
