"""What every emulator shares: request counters, fault injection, rate limits, latency, a token
store, authorization codes with PKCE, and the ``_admin`` router (api-contract.md §4)."""

from sellerhub_emulators.common.admin import build_admin_router
from sellerhub_emulators.common.codes import AuthorizationCode, CodeStore, verify_pkce
from sellerhub_emulators.common.config import (
    DEFAULT_ACCESS_TOKEN_TTL,
    ConfigUpdate,
    EmulatorConfig,
    FailSpec,
    RateLimitSpec,
)
from sellerhub_emulators.common.ratelimit import TokenBucket
from sellerhub_emulators.common.state import Clock, EmulatorState, FaultRenderer
from sellerhub_emulators.common.tokens import (
    TokenKind,
    TokenLookup,
    TokenRecord,
    TokenStatus,
    TokenStore,
)

__all__ = [
    "DEFAULT_ACCESS_TOKEN_TTL",
    "AuthorizationCode",
    "Clock",
    "CodeStore",
    "ConfigUpdate",
    "EmulatorConfig",
    "EmulatorState",
    "FailSpec",
    "FaultRenderer",
    "RateLimitSpec",
    "TokenBucket",
    "TokenKind",
    "TokenLookup",
    "TokenRecord",
    "TokenStatus",
    "TokenStore",
    "build_admin_router",
    "verify_pkce",
]
