"""sellerhub's Python SDK: ``SellerhubClient`` / ``AsyncSellerhubClient`` over the credits,
identity and billing APIs, and ``TokenVerifier`` for offline verification of sellerhub's
access tokens."""

from sellerhub_sdk._async import AsyncSellerhubClient
from sellerhub_sdk._core import ClientCredentials, RetryPolicy, StaticToken
from sellerhub_sdk._sync import SellerhubClient
from sellerhub_sdk.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientCredits,
    InvalidToken,
    NotAuthenticated,
    NotFound,
    RateLimited,
    SellerhubError,
    ServerError,
    TokenExpired,
    TransportError,
    UnknownSigningKey,
    ValidationFailed,
)
from sellerhub_sdk.models import (
    Balance,
    Checkout,
    CreditCheck,
    Introspection,
    Package,
    PurchaseStatus,
    Signup,
    Transfer,
    User,
    UserInfo,
)
from sellerhub_sdk.verifier import TokenVerifier

__version__ = "0.1.0"
__all__ = [
    "AsyncSellerhubClient",
    "BadRequest",
    "Balance",
    "Checkout",
    "ClientCredentials",
    "Conflict",
    "CreditCheck",
    "Forbidden",
    "IdempotencyKeyReused",
    "InsufficientCredits",
    "Introspection",
    "InvalidToken",
    "NotAuthenticated",
    "NotFound",
    "Package",
    "PurchaseStatus",
    "RateLimited",
    "RetryPolicy",
    "SellerhubClient",
    "SellerhubError",
    "ServerError",
    "Signup",
    "StaticToken",
    "TokenExpired",
    "TokenVerifier",
    "Transfer",
    "TransportError",
    "UnknownSigningKey",
    "User",
    "UserInfo",
    "ValidationFailed",
]
