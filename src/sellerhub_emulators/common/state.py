"""Per-emulator state and the gate every provider endpoint passes first (api-contract.md §4).

One ``EmulatorState`` (or subclass) exists per emulator per app instance: nothing is global, so
tests can build fresh apps. Mutations are short synchronous critical sections under a lock and
never span an ``await``, which makes them safe both under asyncio concurrency and if a server
runs handlers on several threads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from starlette.responses import Response

from sellerhub_emulators.common.config import ConfigUpdate, EmulatorConfig
from sellerhub_emulators.common.ratelimit import TokenBucket
from sellerhub_emulators.common.tokens import TokenStore

Clock = Callable[[], float]
"""Seconds on a monotonic scale; tests pass a fake one to move time."""

FaultRenderer = Callable[[int], Response]
"""Builds the provider's own error response for an HTTP status (injected failure or 429)."""


class EmulatorState:
    """Counters, configuration, fault and rate-limit rules and issued tokens of one emulator.

    ``endpoints`` names every endpoint the emulator serves (the names used by ``stats``,
    ``fail`` and ``rate_limit``) with the function that renders a failure in that endpoint's
    provider error shape. Subclasses add provider state and extend ``apply_config``,
    ``config_snapshot``, ``expire``, ``revoke`` and ``reset``.
    """

    config_model: ClassVar[type[ConfigUpdate]] = ConfigUpdate

    def __init__(
        self,
        name: str,
        endpoints: Mapping[str, FaultRenderer],
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.clock = clock
        self._renderers = dict(endpoints)
        self._lock = threading.Lock()
        self.tokens = TokenStore(clock)
        self.config = EmulatorConfig()
        self._requests: dict[str, int] = dict.fromkeys(self._renderers, 0)
        self._faults: dict[str, tuple[int, int]] = {}  # endpoint -> (status, remaining)
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def endpoints(self) -> tuple[str, ...]:
        return tuple(self._renderers)

    # -- the gate ---------------------------------------------------------------------------

    async def enter(self, endpoint: str) -> Response | None:
        """Count the call, wait ``latency_ms``, then answer an injected failure or a 429 in the
        provider's shape; None lets the handler serve the request."""
        renderer = self._renderers[endpoint]
        with self._lock:
            self._requests[endpoint] += 1
            latency_ms = self.config.latency_ms
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        with self._lock:
            status = self._take_fault(endpoint)
            if status is None:
                bucket = self._buckets.get(endpoint)
                if bucket is not None and not bucket.take():
                    status = 429
        return None if status is None else renderer(status)

    def _take_fault(self, endpoint: str) -> int | None:
        rule = self._faults.get(endpoint)
        if rule is None:
            return None
        status, remaining = rule
        if remaining <= 1:
            del self._faults[endpoint]
        else:
            self._faults[endpoint] = (status, remaining - 1)
        return status

    # -- control surface --------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._requests)

    def apply_config(self, update: ConfigUpdate) -> None:
        """Apply a validated update; only the keys present in the request body change."""
        given = update.model_fields_set
        with self._lock:
            if update.access_token_ttl is not None:
                self.config.access_token_ttl = update.access_token_ttl
            if update.latency_ms is not None:
                self.config.latency_ms = update.latency_ms
            if "fail" in given:
                if update.fail is None:
                    self._faults.clear()
                elif update.fail.count == 0:
                    self._faults.pop(update.fail.endpoint, None)
                else:
                    self._faults[update.fail.endpoint] = (update.fail.status, update.fail.count)
            if "rate_limit" in given:
                if update.rate_limit is None:
                    self._buckets.clear()
                else:
                    spec = update.rate_limit
                    self._buckets[spec.endpoint] = TokenBucket(
                        spec.per_second, spec.burst, self.clock
                    )

    def config_snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "access_token_ttl": self.config.access_token_ttl,
                "latency_ms": self.config.latency_ms,
                "fail": [
                    {"endpoint": name, "status": status, "count": remaining}
                    for name, (status, remaining) in sorted(self._faults.items())
                ],
                "rate_limit": [
                    {"endpoint": name, "per_second": bucket.per_second, "burst": bucket.burst}
                    for name, bucket in sorted(self._buckets.items())
                ],
            }

    def expire(self) -> dict[str, int]:
        """Every access token issued so far expires now; refresh tokens stay valid."""
        return {"expired_access_tokens": self.tokens.expire_access()}

    def revoke(self) -> dict[str, int]:
        """Every token issued so far stops working (API 401, refresh ``invalid_grant``)."""
        return {"revoked_tokens": self.tokens.revoke_all()}

    def reset(self) -> None:
        """Back to the initial state: no tokens, default config, no rules, zero counters."""
        self.tokens.clear()
        with self._lock:
            self.config = EmulatorConfig()
            self._requests = dict.fromkeys(self._renderers, 0)
            self._faults.clear()
            self._buckets.clear()
