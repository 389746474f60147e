"""Fixed-window rate limits in PostgreSQL: one atomic statement per hit, shared by every
session and process, committed independently of the request when asked to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import text
from starlette.requests import Request

from sellerhub.core import problems
from sellerhub.core.clock import utcnow
from sellerhub.core.errors import RateLimited
from sellerhub.db import ratelimit
from sellerhub.db.session import unit_of_work
from sellerhub.runtime import Runtime


async def _hits(runtime: Runtime, key: str) -> int | None:
    async with runtime.engine.connect() as conn:
        value = await conn.scalar(
            text("SELECT hits FROM rate_limit_counters WHERE key = :k"), {"k": key}
        )
        return None if value is None else int(value)


async def test_hit_counts_raises_and_resets_with_the_window(runtime: Runtime) -> None:
    t0 = utcnow()
    async with runtime.engine.begin() as conn:
        for expected in (1, 2, 3):
            usage = await ratelimit.hit(conn, "t:window", 3, 60, now=t0)
            assert usage.hits == expected and not usage.exceeded
        with pytest.raises(RateLimited) as info:
            await ratelimit.hit(conn, "t:window", 3, 60, now=t0 + timedelta(seconds=20))
        assert info.value.status == 429 and info.value.extra == {"retry_after": 40}
        assert "40 seconds" in info.value.detail
        # The window has passed: counting starts again.
        usage = await ratelimit.hit(
            conn, "t:window", 3, timedelta(seconds=60), now=t0 + timedelta(seconds=61)
        )
        assert usage.hits == 1 and usage.retry_after == 60
    assert await _hits(runtime, "t:window") == 1


async def test_concurrent_hits_never_exceed_the_limit(runtime: Runtime) -> None:
    async def one() -> bool:
        try:
            async with unit_of_work(runtime.sessionmaker) as session:
                await ratelimit.hit(session, "t:race", 10, 60)
        except RateLimited:
            return False
        return True

    outcomes = await asyncio.gather(*(one() for _ in range(20)))
    assert outcomes.count(True) == 10
    # Over-limit hits raised inside their own transaction, which rolled back.
    assert await _hits(runtime, "t:race") == 10


async def test_enforce_commits_the_hits_even_when_it_refuses(runtime: Runtime) -> None:
    limits = (
        ratelimit.Limit("t:ip", 5, timedelta(minutes=15)),
        ratelimit.Limit("t:account", 1, timedelta(minutes=1)),
    )
    usages = await ratelimit.enforce(runtime.sessionmaker, *limits)
    assert [u.hits for u in usages] == [1, 1]
    with pytest.raises(RateLimited) as info:
        await ratelimit.enforce(runtime.sessionmaker, *limits)
    assert 0 < info.value.extra["retry_after"] <= 60
    # Both counters were committed, the exceeded one and the other.
    assert await _hits(runtime, "t:ip") == 2
    assert await _hits(runtime, "t:account") == 2


async def test_hit_in_a_rolled_back_transaction_is_forgotten(runtime: Runtime) -> None:
    async def failing_request() -> None:
        async with unit_of_work(runtime.sessionmaker) as session:
            await ratelimit.hit(session, "t:rollback", 5, 60)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        await failing_request()
    assert await _hits(runtime, "t:rollback") is None


async def test_reset_and_prune(runtime: Runtime) -> None:
    async with runtime.engine.begin() as conn:
        await ratelimit.hit(conn, "t:reset", 5, 60)
        await ratelimit.hit(conn, "t:old", 5, 60, now=utcnow() - timedelta(days=2))
        await ratelimit.hit(conn, "t:young", 5, 60)
        await ratelimit.reset(conn, "t:reset")
        assert await ratelimit.prune(conn, timedelta(days=1)) == 1
    assert await _hits(runtime, "t:reset") is None
    assert await _hits(runtime, "t:old") is None
    assert await _hits(runtime, "t:young") == 1


def test_limit_keys_hold_no_personal_data() -> None:
    key = ratelimit.limit_key("login:account", "someone@example.com")
    assert key.startswith("login:account:") and "example" not in key and len(key) <= 200
    assert ratelimit.limit_key("login:account", "someone@example.com") == key
    assert ratelimit.limit_key("login:account", "other@example.com") != key
    assert ratelimit.limit_key("x", "1.2.3.4", hashed=False) == "x:1.2.3.4"
    with pytest.raises(ValueError, match="200"):
        ratelimit.limit_key("x", "a" * 300, hashed=False)


def _request(client: tuple[str, int] | None) -> Request:
    return Request({"type": "http", "client": client, "headers": []})


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64: one client
        ("::ffff:192.0.2.10", "192.0.2.10"),
        ("testclient", "testclient"),
    ],
)
def test_client_address(host: str, expected: str) -> None:
    assert ratelimit.client_address(_request((host, 1234))) == expected


def test_client_address_without_a_peer() -> None:
    assert ratelimit.client_address(_request(None)) == "unknown"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (40, "40 seconds"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),  # rounded up: never earlier than the real wait
        (840, "14 minutes"),
        (900, "15 minutes"),
        (3599, "1 hour"),
        (3600, "1 hour"),
        (3900, "1 hour 5 minutes"),
        (7260, "2 hours 1 minute"),
        (0, "1 second"),
    ],
)
def test_describe_wait(seconds: int, words: str) -> None:
    assert ratelimit.describe_wait(seconds) == words


async def test_the_429_says_when_to_retry_in_words(runtime: Runtime) -> None:
    limit = ratelimit.Limit("t:words", 1, timedelta(minutes=15), advice="or ask for a new code")
    await ratelimit.enforce(runtime.sessionmaker, limit)
    with pytest.raises(RateLimited) as info:
        await ratelimit.enforce(runtime.sessionmaker, limit)
    retry_after = info.value.extra["retry_after"]
    assert 840 < retry_after <= 900
    assert info.value.detail == "too many attempts; try again in 15 minutes or ask for a new code"


async def test_every_429_carries_retry_after_and_keeps_the_rollback() -> None:
    seen: list[str] = []

    async def transaction() -> AsyncIterator[None]:
        try:
            yield
        except BaseException:
            seen.append("rolled back")
            raise
        seen.append("committed")

    limited = APIRouter(route_class=ratelimit.RetryAfterRoute)
    plain = APIRouter()

    @limited.get("/limited", dependencies=[Depends(transaction, scope="function")])
    async def limited_endpoint() -> dict[str, str]:
        raise RateLimited("slow down", retry_after=7)

    @limited.get("/fine")
    async def fine() -> dict[str, str]:
        return {"ok": "yes"}

    @plain.get("/plain")
    async def plain_endpoint() -> dict[str, str]:
        raise RateLimited("slow down", retry_after=7)

    app = FastAPI()
    problems.install(app)
    app.include_router(limited)
    app.include_router(plain)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/limited")
        assert response.status_code == 429 and response.headers["retry-after"] == "7"
        assert response.json()["retry_after"] == 7 and response.json()["code"] == "rate-limited"
        assert seen == ["rolled back"]  # the error still reached the transaction dependency
        ok = await client.get("/fine")
        assert ok.status_code == 200 and "retry-after" not in ok.headers
        # The header does not depend on the route class (which only documents the 429).
        other = await client.get("/plain")
        assert other.status_code == 429 and other.headers["retry-after"] == "7"
        assert other.json()["retry_after"] == 7
