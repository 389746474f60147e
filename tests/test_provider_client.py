"""The provider client's parts that need no provider: breaker, token bucket, path guard."""

from __future__ import annotations

import time

import pytest

from sellerhub.connections.client import CircuitBreaker, CircuitOpen, TokenBucket, _target
from sellerhub.core.errors import ValidationFailed


def test_breaker_opens_after_five_failures_and_recovers_through_one_probe() -> None:
    breaker = CircuitBreaker(threshold=5, cooldown=0.2)
    for _ in range(4):
        breaker.before_call()
        breaker.failed()
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.failed()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    time.sleep(0.25)
    assert breaker.state == "half-open"
    breaker.before_call()  # the one probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # no second probe while the first is out
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.before_call()


def test_failed_probe_opens_again() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.1)
    breaker.before_call()
    breaker.failed()
    time.sleep(0.15)
    breaker.before_call()
    breaker.failed()
    assert breaker.state == "open"


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker(threshold=3)
    for _ in range(2):
        breaker.failed()
    breaker.succeeded()
    for _ in range(2):
        breaker.failed()
    assert breaker.state == "closed"


async def test_token_bucket_paces_calls() -> None:
    bucket = TokenBucket(rate=20.0, burst=2.0)
    started = time.monotonic()
    for _ in range(6):
        await bucket.acquire()
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed < 1.0  # 2 from the burst, 4 more at 20/s ≈ 0.2 s


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "../admin",
        "a/../../b",
        "https://evil.example/x",
        "a@evil.example",
        "a\\b",
    ],
)
def test_proxy_paths_cannot_leave_the_provider(path: str) -> None:
    with pytest.raises(ValidationFailed):
        _target("https://apis.fedex.com", path)


def test_proxy_path_joins_under_the_base() -> None:
    assert _target("https://api.example/v1/", "/track/v1/x") == "https://api.example/v1/track/v1/x"
    # Leading slashes are dropped, so a "//host" path stays on the provider's host.
    assert (
        _target("https://api.example", "//evil.example/x") == "https://api.example/evil.example/x"
    )
