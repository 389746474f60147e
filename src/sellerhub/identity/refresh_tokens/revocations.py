"""The process's view of the revoked sign-ins: access tokens whose family (``sid``) was revoked
are refused before they expire, in every process, within a stated bound.

Each process keeps the set of families revoked in the last ``HORIZON`` (longer than any access
token lives, plus leeway and clock skew) and reloads it from ``revoked_families`` when it is
older than ``poll_seconds`` (one indexed query per process per period, made by the first request
that needs it; the others wait for that one). A revocation is added to the set of the process
that commits it at once. So a revoked family's access tokens are refused:

* in the process that revoked it, from its commit on;
* in every other process, at most ``poll_seconds`` (default 2 s) after the commit.

Reading the table is the only way to hold that bound, so a process that cannot reload the set
for ``max_stale_seconds`` (default 30 s; the database is down) refuses user access tokens with
503 rather than accept revoked ones; between two failed reloads it keeps the last set and tries
again once per period, not on every request.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sellerhub.core.clock import utcnow
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger
from sellerhub.identity.jwt.service import LEEWAY_SECONDS
from sellerhub.identity.refresh_tokens.repository import RevokedFamilyRepository

log = get_logger(__name__)

# Access tokens live at most 15 minutes (the settings' upper bound); a family revoked longer ago
# than this has no access token left. The extra minute covers clock skew between processes.
MAX_ACCESS_TTL_SECONDS = 900
HORIZON = timedelta(seconds=MAX_ACCESS_TTL_SECONDS + LEEWAY_SECONDS + 60)
POLL_SECONDS = 2.0
MAX_STALE_SECONDS = 30.0


class RevocationsUnavailable(DomainError):
    status = 503
    code = "revocations-unavailable"
    title = "Revoked sign-ins cannot be checked"


class Revocations:
    def __init__(
        self, poll_seconds: float = POLL_SECONDS, max_stale_seconds: float = MAX_STALE_SECONDS
    ) -> None:
        self.poll_seconds = poll_seconds
        self.max_stale_seconds = max_stale_seconds
        self._revoked: frozenset[str] = frozenset()
        self._local: dict[str, float] = {}  # revoked here: kept across a reload begun before
        self._next_poll = 0.0
        self._loaded_at: float | None = None
        self._lock: asyncio.Lock | None = None

    async def is_revoked(
        self, sessionmaker: async_sessionmaker[AsyncSession], family_id: str
    ) -> bool:
        """Whether the family (an access token's ``sid``) was revoked; raises
        ``RevocationsUnavailable`` when the set is older than ``max_stale_seconds``."""
        if time.monotonic() >= self._next_poll:
            await self._reload(sessionmaker)
        loaded_at = self._loaded_at
        if loaded_at is None or time.monotonic() - loaded_at > self.max_stale_seconds:
            raise RevocationsUnavailable(
                "revoked sign-ins cannot be read from the database; retry shortly"
            )
        return family_id in self._revoked

    async def check(
        self, sessionmaker: async_sessionmaker[AsyncSession], claims: dict[str, Any]
    ) -> bool:
        """True when a user access token's claims are still good: no ``sid`` (not a sign-in's
        token) or a family not revoked."""
        sid = claims.get("sid")
        if sid is None:
            return True
        return not await self.is_revoked(sessionmaker, str(sid))

    async def _reload(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if time.monotonic() < self._next_poll:  # reloaded while we waited
                return
            started = time.monotonic()
            try:
                async with sessionmaker() as session:
                    rows = await RevokedFamilyRepository(session).revoked_since(utcnow() - HORIZON)
                local_until = started - HORIZON.total_seconds()
                self._local = {f: at for f, at in self._local.items() if at > local_until}
                self._revoked = frozenset(str(f) for f in rows) | self._local.keys()
                self._loaded_at = started
            except Exception as exc:  # keep the last set; the staleness bound decides
                log.warning("revocations.reload_failed", error=type(exc).__name__)
            self._next_poll = time.monotonic() + self.poll_seconds

    def add(self, family_ids: Iterable[uuid.UUID | str]) -> None:
        """Families this process has just revoked (after the commit): refused here at once."""
        now = time.monotonic()
        added = {str(f) for f in family_ids}
        for family in added:
            self._local[family] = now
        self._revoked = self._revoked | added

    def expire(self) -> None:
        """Reload at the next check (tests: "another process" after its poll period)."""
        self._next_poll = 0.0

    def clear(self) -> None:
        self._revoked = frozenset()
        self._local.clear()
        self._next_poll = 0.0
        self._loaded_at = None


revocations = Revocations()
