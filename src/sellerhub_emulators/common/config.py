"""The control-surface configuration of api-contract.md §4, shared by every emulator.

``POST {prefix}/_admin/config`` takes a JSON object with any of these keys; the body is validated
strictly (no type coercion, no unknown keys) and a bad value answers 422 without changing
anything. ``null`` for ``fail`` or ``rate_limit`` clears every rule of that kind.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

DEFAULT_ACCESS_TOKEN_TTL = 3600  # LWA: access tokens are valid one hour (providers.md §1.2)
MAX_LATENCY_MS = 60_000


@dataclass
class EmulatorConfig:
    """Current scalar settings; fault and rate-limit rules live in ``EmulatorState``."""

    access_token_ttl: int = DEFAULT_ACCESS_TOKEN_TTL
    latency_ms: int = 0


def _check_endpoint(value: str, info: ValidationInfo) -> str:
    context = info.context if isinstance(info.context, dict) else {}
    known: Collection[str] | None = context.get("endpoints")
    if known is not None and value not in known:
        raise ValueError(f"unknown endpoint {value!r}; known: {', '.join(sorted(known))}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FailSpec(_Strict):
    """The next ``count`` calls of ``endpoint`` fail with ``status`` (0 clears the rule)."""

    endpoint: str
    status: int = Field(ge=400, le=599)
    count: int = Field(default=1, ge=0, le=1_000_000)

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, value: str, info: ValidationInfo) -> str:
        return _check_endpoint(value, info)


class RateLimitSpec(_Strict):
    """A token bucket on ``endpoint``: ``per_second`` refill, ``burst`` capacity; empty → 429."""

    endpoint: str
    per_second: float = Field(gt=0, le=1_000_000)
    burst: int = Field(ge=1, le=1_000_000)

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, value: str, info: ValidationInfo) -> str:
        return _check_endpoint(value, info)


class ConfigUpdate(_Strict):
    """Body of ``POST _admin/config``. Emulators subclass it to add their own keys."""

    access_token_ttl: int | None = Field(default=None, ge=1, le=10 * 365 * 86_400)
    latency_ms: int | None = Field(default=None, ge=0, le=MAX_LATENCY_MS)
    fail: FailSpec | None = None
    rate_limit: RateLimitSpec | None = None
