"""Rate limits shared by every process: fixed-window counters in PostgreSQL.

One counter row per key (``rate_limit_counters``). A hit is a single statement,
``INSERT … ON CONFLICT (key) DO UPDATE … RETURNING hits``: it creates the row, counts one more
hit in the current window, or starts a new window when the old one has passed. Concurrent hits
on one key serialize on the row, so no two callers can both see "under the limit" for the last
slot.

* ``hit(executor, key, limit, window)`` counts and raises ``RateLimited`` when the key is over
  its limit: a 429 whose problem body says when to retry in words ("try again in 14 minutes")
  and in seconds (``retry_after``), and whose ``Retry-After`` header (added by the problem
  handler to every error carrying ``retry_after``) says it again. It runs in the caller's
  transaction: if that transaction rolls back, the hit is forgotten.
* ``enforce(sessionmaker, *limits)`` counts several limits in a short transaction of its own,
  committed before it raises: use it at a boundary (an endpoint) so that failed attempts stay
  counted even though the request itself fails and rolls back.
* ``count`` is the non-raising primitive (e.g. to silently stop sending mail), ``reset`` forgets
  a key (a successful login clears its account counter), ``prune`` deletes idle counters.

Routers whose endpoints may raise ``RateLimited`` use ``route_class=RetryAfterRoute`` so that the
OpenAPI document declares the 429 and its ``Retry-After`` header.

Keys are at most 200 characters; ``limit_key`` builds them and hashes the parts that could be
long or personal (email addresses), so counters hold no personal data.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from fastapi import Request
from fastapi.routing import APIRoute
from sqlalchemy import Table, case, delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from sellerhub.core.clock import utcnow
from sellerhub.core.errors import RateLimited
from sellerhub.db.ratelimit_models import RateLimitCounter
from sellerhub.db.session import unit_of_work

Executor = AsyncSession | AsyncConnection
MAX_KEY_LENGTH = 200

_table = cast(Table, RateLimitCounter.__table__)


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` hits on ``key`` per fixed window of ``window``. ``advice`` ends the
    429's detail when this limit is the one that refused ("or ask for a new code")."""

    key: str
    limit: int
    window: timedelta
    advice: str = ""


@dataclass(frozen=True)
class Usage:
    key: str
    hits: int
    limit: int
    retry_after: int  # seconds until the current window ends (at least 1)
    advice: str = ""

    @property
    def exceeded(self) -> bool:
        return self.hits > self.limit


def limit_key(scope: str, *parts: str, hashed: bool = True) -> str:
    """``scope:part…``; with ``hashed`` the parts are replaced by a SHA-256 digest (no personal
    data in the table, bounded length). Lower-case them first where case does not matter."""
    if hashed:
        digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:40]
        key = f"{scope}:{digest}"
    else:
        key = ":".join((scope, *parts))
    if len(key) > MAX_KEY_LENGTH:
        raise ValueError("rate-limit key longer than 200 characters")
    return key


def client_address(request: Request) -> str:
    """The peer address as the ASGI server reports it (``request.client.host``). IPv6 clients
    are grouped by their /64 network (one host usually owns the whole /64). Behind a reverse
    proxy, configure the server's forwarded-IP handling (uvicorn ``--forwarded-allow-ips``)
    so that this is the real client and not the proxy."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _retry_after(window_start: datetime, window: timedelta, now: datetime) -> int:
    return max(1, math.ceil((window_start + window - now).total_seconds()))


async def count(
    executor: Executor, key: str, window: timedelta, *, now: datetime | None = None
) -> tuple[int, int]:
    """Count one hit on ``key``; returns (hits in the current window, seconds until it ends)."""
    now = now or utcnow()
    expired = _table.c.window_start <= now - window
    base = insert(_table).values(key=key, window_start=now, hits=1)
    stmt = base.on_conflict_do_update(
        index_elements=[_table.c.key],
        set_={
            "window_start": case(
                (expired, base.excluded.window_start), else_=_table.c.window_start
            ),
            "hits": case((expired, 1), else_=_table.c.hits + 1),
        },
    ).returning(_table.c.hits, _table.c.window_start)
    hits, window_start = (await executor.execute(stmt)).one()
    return int(hits), _retry_after(window_start, window, now)


def describe_wait(seconds: int) -> str:
    """A wait in words, rounded up so that it is never shorter than the real one: "40 seconds",
    "14 minutes", "1 hour", "1 hour 5 minutes"."""

    def unit(n: int, name: str) -> str:
        return f"{n} {name}" if n == 1 else f"{n} {name}s"

    seconds = max(1, seconds)
    if seconds < 60:
        return unit(seconds, "second")
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return unit(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    return unit(hours, "hour") + (f" {unit(minutes, 'minute')}" if minutes else "")


def _exceeded(usage: Usage) -> RateLimited:
    advice = f" {usage.advice}" if usage.advice else ""
    return RateLimited(
        f"too many attempts; try again in {describe_wait(usage.retry_after)}{advice}",
        retry_after=usage.retry_after,
    )


async def hit(
    executor: Executor,
    key: str,
    limit: int,
    window: timedelta | int,
    *,
    now: datetime | None = None,
) -> Usage:
    """Count one hit and raise ``RateLimited`` when ``key`` is over ``limit`` in this window.
    ``window`` is a timedelta or seconds. Runs in the caller's transaction."""
    span = window if isinstance(window, timedelta) else timedelta(seconds=window)
    hits, retry_after = await count(executor, key, span, now=now)
    usage = Usage(key=key, hits=hits, limit=limit, retry_after=retry_after)
    if usage.exceeded:
        raise _exceeded(usage)
    return usage


async def enforce(sessionmaker: async_sessionmaker[AsyncSession], *limits: Limit) -> list[Usage]:
    """Count one hit on every limit in a short transaction of its own, commit, then raise
    ``RateLimited`` (the longest wait of the exceeded ones) if any is over. The hits stay
    counted whatever the request does afterwards."""
    usages: list[Usage] = []
    async with unit_of_work(sessionmaker) as session:
        for limit in limits:
            hits, retry_after = await count(session, limit.key, limit.window)
            usages.append(Usage(limit.key, hits, limit.limit, retry_after, limit.advice))
    exceeded = [u for u in usages if u.exceeded]
    if exceeded:
        raise _exceeded(max(exceeded, key=lambda u: u.retry_after))
    return usages


async def reset(executor: Executor, key: str) -> None:
    """Forget ``key``'s counter (its next hit starts a new window)."""
    await executor.execute(delete(_table).where(_table.c.key == key))


async def prune(executor: Executor, older_than: timedelta) -> int:
    """Delete counters whose window started more than ``older_than`` ago (longer than any
    window in use, so that only finished windows go)."""
    result = await executor.execute(
        delete(_table).where(_table.c.window_start < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)


class RetryAfterRoute(APIRoute):
    """A route that may answer 429 ``rate-limited``: the OpenAPI document declares the 429 and
    its ``Retry-After`` header for the routes of this class (``core.openapi``). The header
    itself does not depend on the route: the problem handler adds it to every error that
    carries ``retry_after``."""
