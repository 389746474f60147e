"""The key ring across processes: who holds which keys, and whether the stored ciphertexts can
all be read.

* Every process that opens a runtime (API, worker) runs a ``HolderHeartbeat``: every
  ``HEARTBEAT_SECONDS`` it brings a file-backed ring up to date with its file and records the
  key ids it holds in ``key_ring_holders`` (its row goes when it stops; a row not refreshed for
  ``LIVE_SECONDS`` is a process that is gone).
* ``sellerhub keys rotate`` re-encrypts under its active key only once every live process holds
  that key as its active key (``holders_behind``): otherwise a process would meet ciphertexts it
  cannot read (an environment ring cannot be reloaded) or keep writing under the old key.
* ``/readyz`` reports a ring that cannot be read and ciphertexts under keys the ring does not
  hold (``ring_problem``)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from sellerhub.core.crypto import KeyRing
from sellerhub.core.logging import get_logger
from sellerhub.db.encrypted import REGISTRY
from sellerhub.db.keyring_models import KeyRingHolder

log = get_logger(__name__)

HEARTBEAT_SECONDS = 2.0
LIVE_SECONDS = 10.0
FORGET_AFTER = "1 hour"  # rows of processes that died without leaving
CHECK_CACHE_SECONDS = 30.0

_table = cast(Table, KeyRingHolder.__table__)


def _command() -> str:
    return " ".join([Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:2]])[:200]


class HolderHeartbeat:
    """This process's row in ``key_ring_holders``, kept fresh."""

    def __init__(self, engine: AsyncEngine, ring: KeyRing) -> None:
        self.engine = engine
        self.ring = ring
        self.id = uuid.uuid4()
        self.failing = False
        self._values = {
            "id": self.id,
            "command": _command(),
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
            "source": "file" if ring.reloadable else "environment",
        }

    async def beat(self) -> None:
        """Bring a file ring up to date, then record what it holds."""
        self.ring.reload()
        row = self._values | {
            "active_kid": self.ring.active_kid,
            "kids": self.ring.kids,
            "error": self.ring.error,
            "started_at": func.now(),
            "seen_at": func.now(),
        }
        stmt = insert(_table).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_table.c.id],
            set_={
                "active_kid": stmt.excluded.active_kid,
                "kids": stmt.excluded.kids,
                "error": stmt.excluded.error,
                "seen_at": stmt.excluded.seen_at,
            },
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)
            await conn.execute(
                delete(_table).where(
                    _table.c.seen_at < func.now() - text(f"interval '{FORGET_AFTER}'")
                )
            )

    async def run(self) -> None:
        """Beat until cancelled; a failed beat (database down) is retried on the next tick."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except Exception as exc:
                if not self.failing:
                    log.warning("keyring.heartbeat_failed", error=type(exc).__name__)
                self.failing = True
            else:
                self.failing = False

    async def leave(self) -> None:
        try:
            async with asyncio.timeout(2):
                async with self.engine.begin() as conn:
                    await conn.execute(delete(_table).where(_table.c.id == self.id))
        except Exception as exc:  # it ages out of the live set on its own
            log.warning("keyring.leave_failed", error=type(exc).__name__)


@dataclass(frozen=True, slots=True)
class Holder:
    command: str
    hostname: str
    pid: int
    source: str
    active_kid: str
    kids: list[str]
    error: str | None
    seen_at: datetime

    def describe(self) -> str:
        held = ",".join(self.kids)
        return f"{self.command} (pid {self.pid} on {self.hostname}, {self.source} ring: {held})"


async def live_holders(engine: AsyncEngine) -> list[Holder]:
    cutoff = func.now() - text(f"interval '{int(LIVE_SECONDS)} seconds'")
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    _table.c.command,
                    _table.c.hostname,
                    _table.c.pid,
                    _table.c.source,
                    _table.c.active_kid,
                    _table.c.kids,
                    _table.c.error,
                    _table.c.seen_at,
                )
                .where(_table.c.seen_at > cutoff)
                .order_by(_table.c.started_at)
            )
        ).all()
    return [Holder(*row) for row in rows]


async def holders_behind(engine: AsyncEngine, active_kid: str) -> list[Holder]:
    """The live processes whose active key is not ``active_kid``."""
    return [h for h in await live_holders(engine) if h.active_kid != active_kid]


async def kids_in_use(engine: AsyncEngine) -> dict[str, int]:
    """How many stored ciphertexts each key id seals, over every registered column."""
    counts: dict[str, int] = {}
    async with engine.connect() as conn:
        for entry in REGISTRY:
            col = getattr(entry.model, entry.column)
            kid = func.split_part(col, ".", 2)
            rows = (
                await conn.execute(select(kid, func.count()).where(col.is_not(None)).group_by(kid))
            ).all()
            for name, count in rows:
                counts[name] = counts.get(name, 0) + int(count)
    return counts


async def unknown_kids(engine: AsyncEngine, ring: KeyRing) -> list[str]:
    """Key ids of stored ciphertexts that ``ring`` does not hold (they cannot be read)."""
    held = ring.kids
    found: set[str] = set()
    async with engine.connect() as conn:
        for entry in REGISTRY:
            col = getattr(entry.model, entry.column)
            kid = func.split_part(col, ".", 2)
            stmt = select(kid).where(col.is_not(None), kid.not_in(held)).distinct().limit(20)
            found.update(name for (name,) in (await conn.execute(stmt)).all())
    return sorted(found)


_checked: dict[int, tuple[int, float, list[str]]] = {}  # id(ring) -> (version, at, unknown)


async def ring_problem(engine: AsyncEngine, ring: KeyRing) -> str | None:
    """Why this process cannot read every stored secret, or None: its ring's source cannot be
    read, or ciphertexts are sealed under keys it does not hold (scanned at most every
    ``CHECK_CACHE_SECONDS``, and at once after the ring changed). Names key ids, never keys."""
    ring.reload()
    if ring.error is not None:
        return ring.error
    cached = _checked.get(id(ring))
    now = time.monotonic()
    if cached is None or cached[0] != ring.version or now - cached[1] > CHECK_CACHE_SECONDS:
        try:
            missing = await unknown_kids(engine, ring)
            if missing and ring.reloadable and ring.reload(force=True):
                missing = await unknown_kids(engine, ring)
        except SQLAlchemyError:
            # The database check reports the database; this one what it last saw, if anything.
            return None if cached is None else _missing_message(cached[2])
        cached = (ring.version, now, missing)
        _checked[id(ring)] = cached
    return _missing_message(cached[2])


def _missing_message(missing: list[str]) -> str | None:
    if missing:
        return (
            f"stored secrets are sealed under key(s) {', '.join(missing)} that the key ring "
            "does not hold: put them back in the ring"
        )
    return None
