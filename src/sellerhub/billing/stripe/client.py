"""The one way billing talks to Stripe: the official SDK's ``stripe.StripeClient``, async methods
(``*_async``) over its ``HTTPXClient``, configured from the settings in one place.

For other billing code (commissions, transfers, webhook handlers)::

    from sellerhub.billing.stripe.client import client_of, calling

    client = client_of(runtime)          # or client_of(jobs.resources()) in a job / handler
    async with calling("payment_intents.create"):
        intent = await client.v1.payment_intents.create_async(params, options)

* ``client_of(owner)`` — the ``StripeClient`` of a runtime: ``owner`` is the ``Runtime`` (API) or
  the worker's ``JobResources`` (jobs, webhook handlers); both carry the settings and the
  process's shared HTTP client. The instance is created on first use and kept *against that
  runtime* (keyed weakly by its shared HTTP client, and by the Stripe settings, so a test that
  swaps the settings gets its own), not in a process-wide global: it goes when the runtime does.
* The API version is the SDK's pinned one (``stripe.api_version``), sent on every request, so
  the objects we read have the shape the SDK's types describe whatever the account's default.
* Settings: ``stripe_api`` (base; the emulator at ``/_emulators/stripe`` in development),
  ``stripe_secret_key``, ``stripe_timeout_seconds`` (every call; connect and read),
  ``stripe_max_network_retries``. The SDK retries only what is safe: connection errors, 409
  (a concurrent request with the same key), 429 and 5xx when Stripe says
  ``Stripe-Should-Retry`` or by status, with exponential backoff; it adds an
  ``Idempotency-Key`` to every POST that has none, and keeps it across its retries, so a retried
  POST is the same request at Stripe. Calls that move money pass their own key (derived from
  our row), which outlives the process.
* ``calling(operation)`` — an async context manager that turns the SDK's exceptions into domain
  errors (``billing.stripe.errors``): connection errors, timeouts, 429 and 5xx →
  ``StripeUnavailable`` (503, ``Retry-After``); 402 ``card_error`` → ``CardRefused`` with
  Stripe's ``code`` and ``decline_code``; 404 ``resource_missing`` → ``StripeObjectMissing``;
  other 400s → ``StripeRefused`` (502); ``idempotency_error`` → ``StripeIdempotencyConflict``;
  401/403 → ``StripeMisconfigured``. ``translate(exc)`` does the same for one exception.
  The log line (``stripe.call_failed``) carries the operation, status, Stripe's type, code,
  decline code and request id: never the key, a client secret or card data (we never send card
  data; the SDK's own logger is kept at WARNING, so request and response bodies are not logged
  even at DEBUG).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import stripe

from sellerhub.billing.stripe.errors import (
    CardRefused,
    StripeIdempotencyConflict,
    StripeMisconfigured,
    StripeObjectMissing,
    StripeRefused,
    StripeUnavailable,
)
from sellerhub.config import Settings
from sellerhub.core.errors import DomainError
from sellerhub.core.logging import get_logger

log = get_logger(__name__)
RETRY_AFTER_SECONDS = 30


class Owner(Protocol):
    """What ``client_of`` needs: the process's settings and shared HTTP client (``Runtime``,
    ``jobs.app.JobResources``)."""

    @property
    def settings(self) -> Settings | None: ...

    @property
    def http(self) -> httpx.AsyncClient | None: ...


@dataclass(frozen=True)
class StripeConfig:
    api_base: str
    secret_key: str
    timeout_seconds: float
    max_network_retries: int

    @classmethod
    def of(cls, settings: Settings) -> StripeConfig:
        return cls(
            api_base=settings.stripe_api,
            secret_key=settings.stripe_secret_key.get_secret_value(),
            timeout_seconds=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
        )

    def __repr__(self) -> str:  # never the key
        return f"StripeConfig(api_base={self.api_base!r})"


def build(config: StripeConfig) -> stripe.StripeClient:
    """A new client; prefer ``client_of`` (one per runtime)."""
    # The SDK logs each request at INFO and bodies (client secrets among them) at DEBUG.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    return stripe.StripeClient(
        config.secret_key,
        base_addresses={"api": config.api_base},
        max_network_retries=config.max_network_retries,
        http_client=stripe.HTTPXClient(timeout=config.timeout_seconds),
    )


# Each runtime's clients, kept against its shared HTTP client: they live as long as it does.
_clients: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[StripeConfig, stripe.StripeClient]]
_clients = weakref.WeakKeyDictionary()


def client_of(owner: Owner) -> stripe.StripeClient:
    """The runtime's Stripe client (created on first use)."""
    settings, http = owner.settings, owner.http
    if settings is None or http is None:
        raise RuntimeError("the runtime has no settings or HTTP client: it is not open")
    config = StripeConfig.of(settings)
    per_runtime = _clients.setdefault(http, {})
    client = per_runtime.get(config)
    if client is None:
        client = per_runtime[config] = build(config)
    return client


def _error_fields(exc: stripe.StripeError) -> dict[str, Any]:
    error = exc.error
    return {
        "http_status": exc.http_status,
        "stripe_type": getattr(error, "type", None) if error is not None else None,
        "stripe_code": exc.code,
        "decline_code": getattr(error, "decline_code", None) if error is not None else None,
        "request_id": exc.request_id,
    }


def translate(exc: stripe.StripeError) -> DomainError:
    """The domain error for an SDK exception (see the module docstring)."""
    fields = _error_fields(exc)
    message = exc.user_message if isinstance(exc.user_message, str) else None
    if isinstance(exc, stripe.CardError) or exc.http_status == 402:  # 402: a card refusal
        return CardRefused(
            message or "the card was refused",
            card_code=exc.code,
            decline_code=fields["decline_code"],
        )
    if isinstance(exc, stripe.IdempotencyError):
        return StripeIdempotencyConflict(
            "Stripe has this idempotency key for a request with other parameters"
        )
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return StripeMisconfigured("Stripe refused sellerhub's API key; an operator must fix it")
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError):
        return StripeUnavailable(
            "Stripe did not answer in time or is throttling; try again shortly",
            retry_after=RETRY_AFTER_SECONDS,
        )
    if isinstance(exc, stripe.InvalidRequestError):
        if exc.http_status == 404 or exc.code == "resource_missing":
            return StripeObjectMissing(message or "Stripe has no such object")
        return StripeRefused(message or "Stripe refused the request")
    if exc.http_status is not None and exc.http_status < 500 and exc.http_status != 409:
        return StripeRefused(message or "Stripe refused the request")
    return StripeUnavailable(
        "Stripe is unavailable; try again shortly", retry_after=RETRY_AFTER_SECONDS
    )


@asynccontextmanager
async def calling(operation: str) -> AsyncIterator[None]:
    """Run Stripe calls; an SDK exception leaves as its domain error, logged without secrets."""
    try:
        yield
    except stripe.StripeError as exc:
        error = translate(exc)
        log.info("stripe.call_failed", operation=operation, answer=error.code, **_error_fields(exc))
        raise error from None
