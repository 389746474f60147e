"""WooCommerce's error shapes (providers.md §5).

REST (``/wp-json/...``): ``{"code": "...", "message": "...", "data": {"status": <status>}}``
(WP_Error rendered by the WordPress REST server). Browser pages (``/wc-auth/v1/...``): a
``wp_die`` page titled "Access denied" with "Error: <message>." and HTTP 401.
"""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.responses import HTMLResponse, JSONResponse

from sellerhub_emulators.common.pages import PAGE_HEADERS

CANNOT_VIEW = "woocommerce_rest_cannot_view"
CANNOT_CREATE = "woocommerce_rest_cannot_create"
CANNOT_DELETE = "woocommerce_rest_cannot_delete"
AUTHENTICATION_ERROR = "woocommerce_rest_authentication_error"
MISSING_OAUTH_PARAMETER = "woocommerce_rest_authentication_missing_parameter"
INVALID_PARAM = "rest_invalid_param"
MISSING_PARAM = "rest_missing_callback_param"
NO_ROUTE = "rest_no_route"
WEBHOOK_INVALID_ID = "woocommerce_rest_webhook_invalid_id"
WEBHOOK_INVALID_TOPIC = "woocommerce_rest_webhook_invalid_topic"
TRASH_NOT_SUPPORTED = "woocommerce_rest_trash_not_supported"

LIST_MESSAGE = "Sorry, you cannot list resources."
VIEW_MESSAGE = "Sorry, you cannot view this resource."
CREATE_MESSAGE = "Sorry, you are not allowed to create resources."
DELETE_MESSAGE = "Sorry, you are not allowed to delete this resource."
SECRET_INVALID_MESSAGE = "Consumer secret is invalid."  # noqa: S105 - an error message
NO_READ_MESSAGE = "The API key provided does not have read permissions."
NO_WRITE_MESSAGE = "The API key provided does not have write permissions."
NO_ROUTE_MESSAGE = "No route was found matching the URL and request method."
# OAuth 1.0a over plain http (WC_REST_Authentication::perform_oauth_authentication).
CONSUMER_KEY_INVALID_MESSAGE = "Consumer key is invalid."
SIGNATURE_METHOD_INVALID_MESSAGE = "Invalid signature - signature method is invalid."
SIGNATURE_MISMATCH_MESSAGE = "Invalid signature - provided signature does not match."
TIMESTAMP_INVALID_MESSAGE = "Invalid timestamp."
NONCE_USED_MESSAGE = "Invalid nonce - nonce has already been used."

# Messages of class-wc-auth.php (rendered as "Error: <message>.").
AUTH_CALLBACK_FAILED = (
    "An error occurred in the request and at the time were unable to send the consumer data"
)

# [unconfirmed] WooCommerce's REST API has no rate limit of its own; hosts in front of it answer
# 429 in their own format. The emulator keeps the REST shape with these codes.
_GENERIC: dict[int, tuple[str, str]] = {
    400: ("rest_invalid_request", "Invalid request."),
    401: (CANNOT_VIEW, LIST_MESSAGE),
    403: ("rest_forbidden", "Sorry, you are not allowed to do that."),
    404: (NO_ROUTE, NO_ROUTE_MESSAGE),
    429: ("woocommerce_rest_too_many_requests", "Too many requests. Please try again later."),
    500: ("internal_server_error", "There has been a critical error on this website."),
}


def rest_error(
    status: int, code: str, message: str, *, extra: dict[str, Any] | None = None
) -> JSONResponse:
    data: dict[str, Any] = {"status": status}
    data.update(extra or {})
    return JSONResponse({"code": code, "message": message, "data": data}, status_code=status)


def rest_fault(status: int) -> JSONResponse:
    """An injected failure or a throttled call of a REST endpoint."""
    if status in _GENERIC:
        code, message = _GENERIC[status]
    else:
        code, message = _GENERIC[500] if status >= 500 else _GENERIC[400]
    return rest_error(status, code, message)


def invalid_params(params: dict[str, str]) -> JSONResponse:
    """WordPress's argument validation failure (400 ``rest_invalid_param``)."""
    return rest_error(
        400,
        INVALID_PARAM,
        f"Invalid parameter(s): {', '.join(params)}",
        extra={"params": params},
    )


def wp_die(message: str, *, status: int = 401, title: str = "Access denied") -> HTMLResponse:
    """The ``wp_die`` page WC_Auth shows: ``Error: <message>.`` with HTTP 401."""
    body = (
        '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n</head>\n"
        f'<body id="error-page">\n<div class="wp-die-message">Error: {escape(message)}.</div>\n'
        "</body>\n</html>\n"
    )
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def page_fault(status: int) -> HTMLResponse:
    """An injected failure or a throttled call of the authorization page."""
    return wp_die(f"HTTP {status}", status=status, title="WordPress \u203a Error")
