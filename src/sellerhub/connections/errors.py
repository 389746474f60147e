"""The connection domain's errors (problem ``code``s are part of the API)."""

from __future__ import annotations

from sellerhub.core.errors import DomainError, Unauthenticated, ValidationFailed


class CredentialsRejected(DomainError):
    status = 422
    code = "credentials-rejected"
    title = "The provider did not accept these credentials"


class CarrierUnavailable(DomainError):
    status = 502
    code = "provider-unavailable"
    title = "The provider could not be reached to check the credentials"


class AmazonConsentFailed(DomainError):
    status = 400
    code = "amazon-consent-failed"
    title = "Amazon was not connected"


class AmazonCheckFailed(DomainError):
    status = 502
    code = "amazon-check-failed"
    title = "Amazon did not confirm the new connection"


class InvalidShop(ValidationFailed):
    status = 400
    code = "invalid-shop"
    title = "That is not a Shopify shop address"


class ShopifyCallbackRejected(Unauthenticated):
    code = "shopify-callback-rejected"
    title = "The Shopify callback could not be verified"


class ShopifyConnectFailed(DomainError):
    status = 400
    code = "shopify-connect-failed"
    title = "The shop was not connected"


class ShopifyConsentDenied(DomainError):
    status = 400
    code = "shopify-consent-denied"
    title = "The shop was not connected"
