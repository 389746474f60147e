"""Where a browser goes when a connect callback fails: back to the connections page,
``/connections?failed=<code>``, which says what happened in its own fixed words. The code is one
of ``CODES``, chosen here from the error (and, for Amazon, the consent error Amazon named);
nothing of the error's text or of the provider's answer travels in the URL. API clients
(no ``Accept: text/html``) still get problem+json."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request, Response

from sellerhub.connections.errors import (
    AmazonCheckFailed,
    AmazonConsentFailed,
    InvalidShop,
    ShopifyCallbackRejected,
    ShopifyConsentDenied,
)
from sellerhub.core.errors import DomainError
from sellerhub.identity.oauth_states.errors import (
    StateExpired,
    StateReplayed,
    StateWrongBrowser,
)
from sellerhub.identity.oauth_states.responses import error_response

CONNECTIONS_PAGE = "/connections"

# The state of any flow (checked before the flow's own work), most specific first.
_STATE_CODES: tuple[tuple[type[DomainError], str], ...] = (
    (StateExpired, "state-expired"),
    (StateReplayed, "state-replayed"),
    (StateWrongBrowser, "state-browser"),
)
# Seller Central's consent errors (providers.md §1.1) → the code's suffix.
_AMAZON_CONSENT = {
    "access_denied": "denied",
    "MD1000": "md1000",
    "MD5101": "md5101",
    "MD5110": "md5110",
}

CODES = frozenset(
    {code for _, code in _STATE_CODES}
    | {f"amazon-{suffix}" for suffix in _AMAZON_CONSENT.values()}
    | {"amazon-check-failed", "amazon-failed"}
    | {"ads-denied", "ads-check-failed", "ads-failed"}
    | {"shopify-denied", "shopify-invalid-shop", "shopify-rejected", "shopify-failed"}
    | {"woocommerce-denied"}
)


def _state_code(error: DomainError) -> str | None:
    for kind, code in _STATE_CODES:
        if isinstance(error, kind):
            return code
    return None


def amazon_code(flow: str, error: DomainError, query: Mapping[str, str]) -> str:
    """The code of a failed SP-API (``flow`` "amazon") or Ads ("ads") consent callback."""
    state = _state_code(error)
    if state is not None:
        return state
    if isinstance(error, AmazonConsentFailed):
        suffix = _AMAZON_CONSENT.get(query.get("error") or query.get("error_code") or "")
        if suffix == "denied" or (suffix is not None and flow == "amazon"):
            return f"{flow}-{suffix}"
    if isinstance(error, AmazonCheckFailed):
        return f"{flow}-check-failed"
    return f"{flow}-failed"


def shopify_code(error: DomainError) -> str:
    """The code of a failed Shopify install callback."""
    state = _state_code(error)
    if state is not None:
        return state
    if isinstance(error, ShopifyConsentDenied):
        return "shopify-denied"
    if isinstance(error, InvalidShop):
        return "shopify-invalid-shop"
    if isinstance(error, ShopifyCallbackRejected):
        return "shopify-rejected"
    return "shopify-failed"


def failed(request: Request, error: DomainError, code: str) -> Response:
    """The answer of a failed callback: browsers back to the connections page with ``code``."""
    assert code in CODES, code
    return error_response(request, error, browser_to=f"{CONNECTIONS_PAGE}?failed={code}")
