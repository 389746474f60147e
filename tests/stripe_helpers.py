"""Billing tests against the Stripe emulator of the live server: the in-test worker reaches the
live server's emulators (like a deployed worker), the emulator is reset after each test, and a
few helpers drive it (admin surface, waiting for a webhook to be stored, draining it)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from sellerhub.config import Settings
from sellerhub.jobs import app as jobs
from sellerhub.runtime import Runtime
from sellerhub.webhooks import service as webhooks
from tests.jobs_helpers import run_worker


@pytest.fixture
async def live_jobs(runtime: Runtime, settings: Settings, live_server: str) -> AsyncIterator[None]:
    """The in-test worker (and webhook drain) talks to the live server's Stripe emulator."""
    before = jobs.resources()
    live = settings.model_copy(update={"public_url": live_server})
    jobs.configure(dataclasses.replace(before, settings=live))
    yield
    jobs.configure(before)


@pytest.fixture
def stripe_reset(live_server: str) -> Iterator[None]:
    yield
    httpx.post(f"{live_server}/_emulators/stripe/_admin/reset", timeout=5)


def admin(live_server: str, path: str, body: Any = None, method: str | None = None) -> Any:
    url = f"{live_server}/_emulators/stripe/_admin/{path}"
    verb = method or ("POST" if body is not None else "GET")
    answer = httpx.request(verb, url, json=body, timeout=10)
    assert answer.status_code < 300, answer.text
    return answer.json() if answer.content else None


async def stored_events(runtime: Runtime, topic: str) -> int:
    async with runtime.engine.connect() as conn:
        count = await conn.execute(
            text("SELECT count(*) FROM webhook_events WHERE source = 'stripe' AND topic = :t"),
            {"t": topic},
        )
        return int(count.scalar_one())


async def wait_for_event(runtime: Runtime, topic: str, count: int = 1, within: float = 15) -> None:
    """Until the live server stored ``count`` events of ``topic`` (the emulator delivers after
    its answer, signed)."""
    deadline = asyncio.get_running_loop().time() + within
    while await stored_events(runtime, topic) < count:
        assert asyncio.get_running_loop().time() < deadline, f"no {topic} event arrived"
        await asyncio.sleep(0.1)


async def drain(runtime: Runtime) -> None:
    """Let the in-test worker process what is queued, then drain the webhook inbox (the live
    server's wake-up of the drain may still be on its way)."""
    await run_worker()
    await webhooks.drain(runtime.sessionmaker)


async def event_statuses(runtime: Runtime, topic: str) -> list[tuple[str, str | None]]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT status, last_error FROM webhook_events WHERE source = 'stripe' "
                "AND topic = :t ORDER BY received_at"
            ),
            {"t": topic},
        )
        return [(r[0], r[1]) for r in rows]
