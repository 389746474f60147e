"""Stripe's error JSON (providers.md §8.1): ``{"error": {"type", "code", "decline_code"?,
"message", "param"?, "payment_intent"?, "setup_intent"?, "charge"?, "doc_url"?}}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from sellerhub_emulators.stripe import constants as c


class StripeError(Exception):
    """An API answer in Stripe's error shape. ``stored``: whether an idempotency key keeps it
    (Stripe stores what happened once the endpoint ran; validation failures are not stored)."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        stored: bool = False,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.stored = stored
        self.headers = headers or {}
        body: dict[str, Any] = {"type": type_}
        if code is not None:
            body["code"] = code
            body["doc_url"] = c.ERROR_DOCS + code
        body["message"] = message
        if param is not None:
            body["param"] = param
        for key, value in extra.items():
            if value is not None:
                body[key] = value
        self.body = {"error": body}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def missing(kind: str, ident: str, *, param: str | None = None) -> StripeError:
    """404 for an id in the path; 400 with ``param`` for an id given as a parameter."""
    return StripeError(
        404 if param is None else 400,
        "invalid_request_error",
        f"No such {kind}: '{ident}'",
        code="resource_missing",
        param=param or "id",
    )


def unexpected_state(message: str, **extra: Any) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=extra.pop("code", None), **extra)


def bad_key(key: str) -> StripeError:
    shown = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else "***"
    return StripeError(401, "invalid_request_error", f"Invalid API Key provided: {shown}")


def no_key() -> StripeError:
    return StripeError(
        401,
        "invalid_request_error",
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    )


def api_error() -> StripeError:
    return StripeError(
        500,
        "api_error",
        "An unknown error occurred while processing your request (emulated).",
        stored=True,
    )


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "invalid_request_error",
        "Request rate limit exceeded. Learn more about rate limits here "
        "https://stripe.com/docs/rate-limits.",
        code="rate_limit",
    )


def fault_response(status: int) -> JSONResponse:
    """The common gate's injected failure (``_admin/config`` ``fail``/``rate_limit``)."""
    if status == 429:
        return rate_limited().response()
    if status >= 500:
        return api_error().response()
    if status == 401:
        return no_key().response()
    return StripeError(status, "invalid_request_error", "Injected failure.").response()
