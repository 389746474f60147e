"""The process's short-lived view of the registered apps.

Authenticating an app (client credentials), checking an app token's audience and answering CORS
would each cost a database round trip per request; instead each process keeps a snapshot of an
app for ``SELLERHUB_APP_CACHE_SECONDS`` (unknown app ids too, so guessing ids is not a database
load) and the union of the browser apps' origins for as long. Registration updates the
registering (or changing: disable, enable, origins, secret rotation) process at once; other
processes see a new, changed or disabled app within the TTL (a secret just rotated is looked up
again at once when a presented secret matches no cached hash: ``service.authenticate_client``).
For as long, and never past its expiry, a token that introspection found valid is remembered, so
its signature is not verified again on every request of the app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Scope

from sellerhub.core.logging import get_logger
from sellerhub.identity.apps.models import App, AppKind
from sellerhub.identity.apps.repository import AppRepository
from sellerhub.identity.jwt.service import LEEWAY_SECONDS

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AppSnapshot:
    id: uuid.UUID
    app_id: str
    name: str
    kind: AppKind
    permissions: frozenset[str]
    allowed_origins: frozenset[str]
    secret_hash: str
    enabled: bool
    # The secret replaced by the last rotation and the end of its grace (wall clock, epoch s).
    previous_secret_hash: str | None = None
    previous_secret_until: float = 0.0
    loaded_at: float = 0.0  # monotonic

    @classmethod
    def of(cls, app: App) -> AppSnapshot:
        until = app.previous_secret_expires_at
        return cls(
            id=app.id,
            app_id=app.app_id,
            name=app.name,
            kind=AppKind(app.kind),
            permissions=frozenset(app.permissions),
            allowed_origins=frozenset(app.allowed_origins),
            secret_hash=app.client_secret_hash,
            enabled=app.disabled_at is None,
            previous_secret_hash=app.previous_secret_hash if until is not None else None,
            previous_secret_until=until.timestamp() if until is not None else 0.0,
            loaded_at=time.monotonic(),
        )

    def secret_hashes(self) -> tuple[str, str | None]:
        """The hashes a presented secret may match now: the current one, and the one replaced
        by the last rotation while its grace period lasts."""
        if self.previous_secret_hash is not None and self.previous_secret_until > time.time():
            return self.secret_hash, self.previous_secret_hash
        return self.secret_hash, None


class AppRegistry:
    def __init__(self, ttl_seconds: float = 10.0, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._apps: OrderedDict[str, tuple[float, AppSnapshot | None]] = OrderedDict()
        self._origins: frozenset[str] = frozenset()
        self._origins_until = 0.0
        self._lock: asyncio.Lock | None = None
        self._verified: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    async def get(
        self, sessionmaker: async_sessionmaker[AsyncSession], app_id: str, *, fresh: bool = False
    ) -> AppSnapshot | None:
        """The app (enabled or not), from the cache or the database (``fresh``: always the
        database); None when unknown."""
        entry = self._apps.get(app_id)
        if not fresh and entry is not None and entry[0] > time.monotonic():
            return entry[1]
        async with sessionmaker() as session:
            app = await AppRepository(session).by_app_id(app_id)
            snapshot = AppSnapshot.of(app) if app is not None else None
        self.put(app_id, snapshot)
        return snapshot

    def put(self, app_id: str, snapshot: AppSnapshot | None) -> None:
        if self.ttl_seconds <= 0:
            return
        self._apps[app_id] = (time.monotonic() + self.ttl_seconds, snapshot)
        self._apps.move_to_end(app_id)
        while len(self._apps) > self.max_entries:
            self._apps.popitem(last=False)

    def invalidate(self, app_id: str) -> None:
        """Forget an app and the origins (after a change in this process)."""
        self._apps.pop(app_id, None)
        self._origins_until = 0.0

    async def origins(self, sessionmaker: async_sessionmaker[AsyncSession]) -> frozenset[str]:
        """Every allowed origin of an enabled browser app. When the database cannot be read the
        previous set is kept (an empty one at first): CORS fails closed, never open."""
        if self._origins_until > time.monotonic():
            return self._origins
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._origins_until > time.monotonic():  # reloaded while we waited
                return self._origins
            try:
                async with sessionmaker() as session:
                    rows = await AppRepository(session).browser_origins()
                self._origins = frozenset(o for origins in rows for o in origins)
            except Exception as exc:  # a CORS lookup must not turn into a 500
                log.warning("apps.origins_unavailable", error=type(exc).__name__)
            self._origins_until = time.monotonic() + max(self.ttl_seconds, 1.0)
        return self._origins

    def verified_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of an app token this process verified less than the TTL ago and that has
        not expired since: the introspection hot path skips the signature check for it (an app
        validates the same user token on each of its requests). Keyed by the whole token, so a
        hit is byte-for-byte the token that was verified."""
        entry = self._verified.get(token)
        if entry is None:
            return None
        until, claims = entry
        if until <= time.monotonic() or claims["exp"] + LEEWAY_SECONDS < time.time():
            self._verified.pop(token, None)
            return None
        return claims

    def remember_verified(self, token: str, claims: dict[str, Any]) -> None:
        if self.ttl_seconds <= 0:
            return
        self._verified[token] = (time.monotonic() + self.ttl_seconds, claims)
        while len(self._verified) > self.max_entries:
            self._verified.popitem(last=False)

    def clear(self) -> None:
        self._apps.clear()
        self._verified.clear()
        self._origins = frozenset()
        self._origins_until = 0.0


app_registry = AppRegistry()


async def registered_origins(scope: Scope) -> frozenset[str]:
    """The CORS middleware's origin provider (``core.cors``): the registered browser origins."""
    sessionmaker: async_sessionmaker[AsyncSession] = scope["app"].state.runtime.sessionmaker
    return await app_registry.origins(sessionmaker)
