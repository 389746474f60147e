"""Fixtures for the emulator tests: a fresh emulators app per test, a fake clock, and an HTTP
client over ASGI. No database is involved (nothing here requests the ``runtime`` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from sellerhub_emulators.app import create_emulators_app


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulators_app(clock: FakeClock) -> FastAPI:
    return create_emulators_app(clock=clock)


@pytest.fixture
async def http(emulators_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=emulators_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
