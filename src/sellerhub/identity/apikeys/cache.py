"""A short-lived, per-process cache of resolved API keys.

Resolving a key costs a database round trip on every request; caching the principal for a few
seconds (``SELLERHUB_AUTH_CACHE_SECONDS``) removes it from the hot path. Revocation drops the
entry at once in the revoking process; other processes stop accepting the key within the TTL.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from sellerhub.identity.principal import Principal


class PrincipalCache:
    def __init__(self, ttl_seconds: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        expires_at, principal = entry
        if expires_at <= time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return principal

    def put(self, key_hash: str, principal: Principal) -> None:
        if self.ttl_seconds <= 0:
            return
        self._entries[key_hash] = (time.monotonic() + self.ttl_seconds, principal)
        self._entries.move_to_end(key_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, key_hash: str) -> None:
        self._entries.pop(key_hash, None)

    def clear(self) -> None:
        self._entries.clear()


principal_cache = PrincipalCache()
