"""What the sync and async clients share: the request description, the retry policy, the
credentials, and turning answers into models or typed errors. Only the I/O loop differs."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from sellerhub_sdk import errors

T = TypeVar("T")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
ORGANIZATION_HEADER = "X-Sellerhub-Organization"
USER_AGENT = "sellerhub-sdk-python/0.1.0"


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation: the request and how to read its answer. A write carries its
    ``idempotency_key`` (made once per call, sent again on each retry)."""

    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] | None = None
    idempotency_key: str | None = None
    authenticated: bool = True
    client_auth: bool = False  # the app's client credentials as HTTP Basic
    form: bool = False  # the body form-encoded (the OAuth token endpoint), not JSON
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def safe_to_repeat(self) -> bool:
        """Whether sending it again cannot do the work twice: an idempotent method, or a
        write the server deduplicates by its key."""
        return self.method in SAFE_METHODS or self.idempotency_key is not None


@dataclass(frozen=True)
class RetryPolicy:
    """Retries: a 429 always (nothing was done), a 503 or a connection error only for a call
    that is safe to repeat. The server's ``Retry-After`` is honoured (capped by
    ``max_retry_after``: longer waits raise ``RateLimited`` at once); otherwise exponential
    backoff with full jitter."""

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``attempt`` (0-based), or None: give up."""
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_backoff, self.backoff * (2**attempt))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 (jitter, not a secret)


NO_RETRIES = RetryPolicy(max_retries=0)


@dataclass(frozen=True)
class ClientCredentials:
    """An app's (service app's) client credentials: the SDK fetches a token at
    ``/oauth/token`` (grant ``client_credentials``) and refreshes it ``refresh_margin`` seconds
    before it expires, one fetch at a time."""

    client_id: str
    client_secret: str
    scope: str | None = None
    refresh_margin: float = 60.0

    def __repr__(self) -> str:  # never print the secret
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret='***')"


@dataclass(frozen=True)
class StaticToken:
    """A token given by the caller: a user's app access token or an API key."""

    token: str

    def __repr__(self) -> str:
        return "StaticToken('***')"


Credentials = ClientCredentials | StaticToken | None


def credentials_of(token: str | None, credentials: Credentials) -> Credentials:
    if token is not None and credentials is not None:
        raise ValueError("give either token or credentials, not both")
    return StaticToken(token) if token is not None else credentials


def token_call(creds: ClientCredentials) -> Call[tuple[str, float]]:
    data = {"grant_type": "client_credentials"}
    if creds.scope:
        data["scope"] = creds.scope

    def parse(body: Any) -> tuple[str, float]:
        return str(body["access_token"]), float(body.get("expires_in", 300))

    return Call(
        "POST", "/oauth/token", parse, json=data, authenticated=False, client_auth=True, form=True
    )


def build_request(
    client: httpx.Client | httpx.AsyncClient,
    call: Call[Any],
    token: str | None,
    organization_id: str | None,
    basic: tuple[str, str] | None = None,
) -> httpx.Request:
    headers = dict(call.headers)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if organization_id is not None and call.authenticated:
        headers[ORGANIZATION_HEADER] = organization_id
    if call.idempotency_key is not None:
        headers["Idempotency-Key"] = call.idempotency_key
    if call.form:
        request = client.build_request(call.method, call.path, data=call.json, headers=headers)
    else:
        request = client.build_request(
            call.method, call.path, json=call.json, params=call.params, headers=headers
        )
    if basic is not None:  # the app's own calls: HTTP Basic client authentication
        return next(httpx.BasicAuth(*basic).auth_flow(request))
    return request


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


def failure(response: httpx.Response) -> errors.SellerhubError:
    return errors.error_for(
        response.status_code,
        _body(response),
        response.headers.get("retry-after"),
        response.headers.get("x-request-id"),
    )


def result(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise failure(response)
    return call.parse(_body(response))


def retry_delay(
    policy: RetryPolicy, call: Call[Any], attempt: int, response: httpx.Response | None
) -> float | None:
    """Seconds to wait before sending ``call`` again, or None to stop: after a connection
    error (``response`` None) or a 429/503."""
    if response is None:
        return policy.delay(attempt, None) if call.safe_to_repeat else None
    status = response.status_code
    if status == 429 or (status == 503 and call.safe_to_repeat):
        retry_after = errors.parse_retry_after(response.headers.get("retry-after"))
        return policy.delay(attempt, retry_after)
    return None


RETRYABLE_TRANSPORT_ERRORS = (httpx.TransportError,)


def transport_error(exc: Exception) -> errors.TransportError:
    return errors.TransportError(f"sellerhub could not be reached: {type(exc).__name__}: {exc}")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def page_parser(item: Callable[[dict[str, Any]], T]) -> Callable[[Any], Page[T]]:
    def parse(body: Any) -> Page[T]:
        cursor = body.get("next_cursor")
        return Page(
            [item(i) for i in body.get("items") or []], None if cursor is None else str(cursor)
        )

    return parse


def as_dict(data: dict[str, Any]) -> dict[str, Any]:
    return data
