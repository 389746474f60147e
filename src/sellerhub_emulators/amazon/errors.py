"""LWA's error shapes (providers.md §1.2, §2).

Token and profile errors are JSON ``{"error": ..., "error_description": ...}`` with RFC 6749 /
RFC 6750 codes. Descriptions are the ones observed from the real service where public sources
show them (cited next to each constant); the others are RFC wording, marked as such.
Browser-facing errors of ``/ap/oa`` that cannot be redirected are an HTML page.
"""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse, JSONResponse

from sellerhub_emulators.common.pages import html_page

BANNER = "sellerhub emulator of Login with Amazon - not amazon.com"

# Token endpoint: no caching of token responses, errors included (providers.md §1.2, RFC 6749
# §5.1).
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Observed: 401 {"error_description":"Client authentication failed","error":"invalid_client"}
# (issues amzn/selling-partner-api-docs#499, yadayada/acd_cli#138).
CLIENT_AUTH_FAILED = "Client authentication failed"
# Observed for a bad, used or expired code: amzn/amazon-advertising-api-php-sdk#8.
INVALID_CODE = "The request has an invalid grant parameter : code"
# Observed for a bad or revoked refresh token: amzn/selling-partner-api-models#2997.
REFRESH_GRANT_REJECTED = (
    "The request has an invalid grant parameter : refresh_token. "
    "User may have revoked or didn't grant the permission."
)
# Same pattern as the two above for the other grant parameters (not seen in public sources).
INVALID_REDIRECT_URI = "The request has an invalid grant parameter : redirect_uri"
INVALID_CODE_VERIFIER = "The request has an invalid grant parameter : code_verifier"
# Observed (Peddler's LWA error tests, hakanensari/peddler test/peddler/error_test.rb).
UNSUPPORTED_GRANT = "The authorization grant type is not supported by the authorization server"
# Observed from /user/profile for a bad token (amzn amazon-pay-sdk-java TestConstants).
ACCESS_PARAMETER_REJECTED = "The request has an invalid parameter : access_token"


def missing(parameter: str) -> str:
    """Observed wording, e.g. "The request is missing a required parameter : refresh_token"."""
    return f"The request is missing a required parameter : {parameter}"


def lwa_error(
    status: int,
    error: str,
    description: str,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers=headers,
    )


def token_error(status: int, error: str, description: str) -> JSONResponse:
    return lwa_error(status, error, description, headers=TOKEN_HEADERS)


def _fault_code(status: int) -> tuple[str, str]:
    """RFC 6749 code and description for an injected failure status."""
    if status == 429:
        # LWA's throttling body is not documented publicly; clients should key on the status.
        return "rate_limited", "Too many requests"
    if status == 503:
        return "temporarily_unavailable", "The service is temporarily unavailable"  # RFC 6749
    if status >= 500:
        return "server_error", "The server encountered an unexpected error"  # RFC 6749
    if status == 401:
        return "invalid_client", CLIENT_AUTH_FAILED
    if status == 403:
        return "unauthorized_client", "The client is not authorized for this request"
    return "invalid_request", "The request is invalid"


def token_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of ``/auth/o2/token``."""
    error, description = _fault_code(status)
    return token_error(status, error, description)


def profile_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of ``/user/profile`` (RFC 6750 codes)."""
    if status == 401:
        return invalid_token()
    if status == 403:
        return lwa_error(403, "insufficient_scope", "The access token does not grant this data")
    error, description = _fault_code(status)
    return lwa_error(status, error, description)


def invalid_token() -> JSONResponse:
    """401 for an unknown, expired or revoked access token (RFC 6750 §3.1)."""
    return lwa_error(
        401,
        "invalid_token",
        ACCESS_PARAMETER_REJECTED,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def error_page(status: int, message: str) -> HTMLResponse:
    """The page a browser sees when LWA must not redirect (unknown client, bad redirect URI)."""
    body = (
        "<h1>We're sorry</h1>"
        "<p>An error occurred when we tried to process your request.</p>"
        f"<p><code>{escape(message)}</code></p>"
    )
    return html_page("Amazon Sign-In", body, banner=BANNER, status_code=status)


def authorize_fault(status: int) -> HTMLResponse:
    """An injected failure or a throttled call of ``/ap/oa``."""
    reason = "Too many requests" if status == 429 else f"Injected failure (HTTP {status})"
    return error_page(status, reason)
