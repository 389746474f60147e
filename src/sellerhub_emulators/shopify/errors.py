"""Shopify's error shapes.

- OAuth (``/admin/oauth/access_token``): ``{"error": "...", "error_description": "..."}`` as the
  official SDKs read it; the exact descriptions are [unconfirmed] except the code one.
- Admin REST: ``{"errors": "..."}`` (or an object of field → messages for validation errors).
- Browser pages (``/admin/oauth/authorize``): HTML, ``Oauth error <code>: <message>``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse

from sellerhub_emulators.common.pages import html_page

BANNER = "Shopify emulator - a local stand-in for testing, not Shopify."
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}

_WRONG = "unrecognized login or wrong password"
INVALID_TOKEN = f"[API] Invalid API key or access token ({_WRONG})"
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted "
    "service."
)
CODE_NOT_FOUND = "The authorization code was not found or was already used"
CLIENT_INVALID = "Client credentials are invalid"  # [unconfirmed] wording

_PHRASES = {
    400: "Bad Request",
    401: INVALID_TOKEN,
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    406: "Not Acceptable",
    422: "Unprocessable Entity",
    423: "Locked",
    429: THROTTLED,
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def phrase(status: int) -> str:
    return _PHRASES.get(status, "Internal Server Error" if status >= 500 else "Bad Request")


def rest_error(
    status: int, errors: str | dict[str, Any], *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


def rest_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of an Admin REST endpoint."""
    headers = {"Retry-After": "1"} if status == 429 else None
    return rest_error(status, phrase(status), headers=headers)


def invalid_token() -> JSONResponse:
    return rest_error(401, INVALID_TOKEN)


def not_found() -> JSONResponse:
    return rest_error(404, "Not Found")


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=TOKEN_HEADERS,
    )


def token_fault(status: int) -> JSONResponse:
    if status == 401:
        return oauth_error(401, "invalid_client", CLIENT_INVALID)
    if status == 429:
        response = oauth_error(429, "too_many_requests", THROTTLED)
        response.headers["Retry-After"] = "1"
        return response
    error = "server_error" if status >= 500 else "invalid_request"
    return oauth_error(status, error, phrase(status))


def error_page(status: int, error: str, message: str) -> HTMLResponse:
    body = f"<h1>Oauth error {escape(error)}: {escape(message)}</h1>"
    return html_page("Shopify - Oauth error", body, banner=BANNER, status_code=status)


def authorize_fault(status: int) -> HTMLResponse:
    return error_page(
        status, "server_error" if status >= 500 else "invalid_request", phrase(status)
    )
