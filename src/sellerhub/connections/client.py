"""Calling a provider's API as a connection: the one client every domain (and the proxy) uses.

Per call: a fresh access token (refreshed first when due), the provider's auth headers, a
per-connection token bucket sized to the provider's documented rate, a circuit breaker per
provider (open after 5 consecutive timeouts or 5xx, one half-open probe after a cool-down),
429 answered by waiting (``Retry-After`` or exponential) and retrying, and a 401 answered by one
forced refresh and one retry.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from sellerhub.connections.providers.registry import get_provider
from sellerhub.connections.refresh import RefreshContext, access_token_for
from sellerhub.core.errors import UpstreamUnavailable, ValidationFailed
from sellerhub.core.logging import get_logger

log = get_logger(__name__)

MAX_429_RETRIES = 3
MAX_RETRY_AFTER = 10.0


class CircuitOpen(UpstreamUnavailable):
    code = "provider-circuit-open"
    title = "The provider is failing; calls are paused"


class ProviderTimeout(UpstreamUnavailable):
    status = 504
    code = "provider-timeout"
    title = "The provider did not answer in time"


@dataclass
class CircuitBreaker:
    """Closed → open after ``threshold`` consecutive failures → half-open after ``cooldown``
    seconds (one probe) → closed on success, open again on failure."""

    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def before_call(self) -> None:
        state = self.state
        if state == "open" or (state == "half-open" and self.probing):
            raise CircuitOpen("too many consecutive failures; retry in a little while")
        if state == "half-open":
            self.probing = True

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.probing = 0, None, False

    def failed(self) -> None:
        self.failures += 1
        self.probing = False
        if self.opened_at is not None or self.failures >= self.threshold:
            self.opened_at = time.monotonic()


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    async def acquire(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


# Documented limits (providers.md): FedEx 1,400 transactions per 10 s per project; Shopify REST
# a leaky bucket of 40 calls leaking 2 per second (standard plan); DHL and WooCommerce (the
# store's own server) are undocumented, so a conservative default.
RATES: dict[str, tuple[float, float]] = {
    "fedex": (140.0, 140.0),
    "shopify": (2.0, 40.0),
    "dhl": (10.0, 20.0),
}
DEFAULT_RATE = (10.0, 20.0)

_breakers: dict[str, CircuitBreaker] = {}
_buckets: dict[uuid.UUID, TokenBucket] = {}


def breaker_for(provider: str, threshold: int = 5, cooldown: float = 30.0) -> CircuitBreaker:
    return _breakers.setdefault(provider, CircuitBreaker(threshold=threshold, cooldown=cooldown))


def bucket_for(connection_id: uuid.UUID, provider: str) -> TokenBucket:
    rate, burst = RATES.get(provider, DEFAULT_RATE)
    return _buckets.setdefault(connection_id, TokenBucket(rate=rate, burst=burst))


def _target(base: str, path: str) -> str:
    """``base`` + ``path``, refusing anything that would leave the provider's host."""
    clean = path.lstrip("/")
    if not clean or ".." in clean.split("/") or "\\" in clean or "://" in clean or "@" in clean:
        raise ValidationFailed("the provider path is not allowed")
    url = f"{base.rstrip('/')}/{clean}"
    if urlsplit(url).netloc != urlsplit(base).netloc:
        raise ValidationFailed("the provider path is not allowed")
    return url


def retry_after_seconds(response: httpx.Response, attempt: int) -> float:
    """How long a 429 asks us to wait: ``Retry-After`` (capped), else exponential."""
    header = response.headers.get("retry-after", "")
    try:
        return min(max(float(header), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return min(0.5 * 2.0**attempt, MAX_RETRY_AFTER)


@dataclass(frozen=True)
class ProviderCall:
    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


async def call(
    ctx: RefreshContext,
    organization_id: uuid.UUID,
    connection_id: uuid.UUID,
    request: ProviderCall,
    *,
    quota: TokenBucket | None = None,
) -> httpx.Response:
    """Send ``request`` to the connection's provider as that connection. ``quota``: the
    operation's own rate limit (SP-API plans one per operation), waited on before every attempt,
    retries included, since each attempt spends it at the provider."""
    fresh = await access_token_for(ctx, organization_id, connection_id)
    provider_name, details = fresh.provider, fresh.details
    provider = get_provider(provider_name)
    url = _target(provider.api_base(ctx.settings, fresh.environment, details), request.path)
    breaker = breaker_for(
        provider_name, ctx.settings.breaker_threshold, ctx.settings.breaker_cooldown_seconds
    )
    bucket = bucket_for(connection_id, provider_name)
    token = fresh.access_token
    refreshed_for_401 = False
    attempt = 0
    while True:
        await bucket.acquire()
        if quota is not None:
            await quota.acquire()
        breaker.before_call()
        # The caller's (allow-listed) headers may choose e.g. the Ads profile; auth is ours.
        auth = provider.auth_headers(token, details)
        headers = {**auth, **request.headers}
        for name in ("Authorization", "x-amz-access-token", "Amazon-Advertising-API-ClientId"):
            if name in auth:
                headers[name] = auth[name]
        try:
            signer = provider.request_auth(token, details)
            response = await ctx.http.request(
                request.method,
                url,
                params=tuple(request.params),
                headers=headers,
                content=request.content,
                auth=signer if signer is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            breaker.failed()
            raise ProviderTimeout(f"{provider.title} did not answer in time") from None
        except httpx.HTTPError as exc:
            breaker.failed()
            raise UpstreamUnavailable(
                f"{provider.title} could not be reached ({type(exc).__name__})"
            ) from None
        if response.status_code >= 500:
            breaker.failed()
            return response
        breaker.succeeded()
        if not refreshed_for_401 and provider.token_rejected(response):
            refreshed_for_401 = True
            fresh = await access_token_for(
                ctx, organization_id, connection_id, force=True, stale_token=token
            )
            token = fresh.access_token
            continue
        if response.status_code == 429 and attempt < MAX_429_RETRIES:
            delay = retry_after_seconds(response, attempt)
            attempt += 1
            log.info("provider.throttled", provider=provider_name, wait_seconds=delay)
            await asyncio.sleep(delay)
            continue
        return response
