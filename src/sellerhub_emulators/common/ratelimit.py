"""A token bucket, the model SP-API documents for its usage plans (providers.md §1.4): ``rate``
tokens are added per second up to ``burst``; a request takes one token or is throttled."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    """Starts full. Not locked: callers hold their own lock around ``take``."""

    def __init__(self, per_second: float, burst: int, clock: Callable[[], float]) -> None:
        self.per_second = per_second
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        """Take one token; False when the bucket is empty (the caller answers 429)."""
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.per_second)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
