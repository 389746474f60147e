"""``SellerhubClient``: the synchronous client (httpx.Client)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx

from sellerhub_sdk import _ops, errors
from sellerhub_sdk._core import (
    USER_AGENT,
    Call,
    ClientCredentials,
    Credentials,
    Page,
    RetryPolicy,
    StaticToken,
    build_request,
    credentials_of,
    result,
    retry_delay,
    token_call,
    transport_error,
)
from sellerhub_sdk.models import (
    Balance,
    Checkout,
    CreditCheck,
    Introspection,
    PurchaseStatus,
    Signup,
    Transfer,
    User,
    UserInfo,
)

T = TypeVar("T")


class _Tokens:
    """The client-credentials token, fetched once for every thread that needs it
    (single-flight under a lock) and again ``refresh_margin`` seconds before it expires."""

    def __init__(self, creds: ClientCredentials, fetch: Callable[[], tuple[str, float]]) -> None:
        self._creds, self._fetch = creds, fetch
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def get(self) -> str:
        token = self._token
        if token is not None and time.monotonic() < self._refresh_at:
            return token
        with self._lock:
            if self._token is not None and time.monotonic() < self._refresh_at:
                return self._token
            token, expires_in = self._fetch()
            margin = min(self._creds.refresh_margin, expires_in / 2)
            self._token, self._refresh_at = token, time.monotonic() + expires_in - margin
            return token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None


class SellerhubClient:
    """Synchronous client. ``token``: a user's app token or an API key; or ``credentials``: an
    app's ``ClientCredentials`` (service token fetched and refreshed by the SDK; name the
    organization it acts in with ``organization_id``). Use as a context manager or
    ``close()`` it."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        credentials: Credentials = None,
        organization_id: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._creds = credentials_of(token, credentials)
        self._organization_id = organization_id
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._http.base_url = httpx.URL(base_url.rstrip("/"))
        self._http.headers.setdefault("User-Agent", USER_AGENT)
        self._tokens: _Tokens | None = None
        if isinstance(self._creds, ClientCredentials):
            creds = self._creds
            self._tokens = _Tokens(creds, lambda: self._send(token_call(creds)))
        self.credits = Credits(self)
        self.identity = Identity(self)
        self.orders = Listing(self, _ops.ORDERS)
        self.claims = Listing(self, _ops.CLAIMS)
        self.billing = Billing(self)

    def __enter__(self) -> SellerhubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def _bearer(self) -> str | None:
        if isinstance(self._creds, StaticToken):
            return self._creds.token
        return self._tokens.get() if self._tokens is not None else None

    def _basic(self) -> tuple[str, str]:
        if not isinstance(self._creds, ClientCredentials):
            raise errors.NotAuthenticated(
                "this call needs the app's client credentials (credentials=ClientCredentials)"
            )
        return self._creds.client_id, self._creds.client_secret

    def _send(self, call: Call[T]) -> T:
        """Send ``call``, retrying per the policy; a fetched token refused with 401 is fetched
        again once."""
        renewed = False
        attempt = 0
        while True:
            token = self._bearer() if call.authenticated else None
            basic = self._basic() if call.client_auth else None
            request = build_request(self._http, call, token, self._organization_id, basic)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = retry_delay(self._retry, call, attempt, None)
                if delay is None:
                    raise transport_error(exc) from exc
                attempt += 1
                self._sleep(delay)
                continue
            if (
                response.status_code == 401
                and self._tokens is not None
                and token is not None
                and not renewed
            ):
                self._tokens.invalidate(token)
                renewed = True
                continue
            delay = retry_delay(self._retry, call, attempt, response)
            if delay is None:
                return result(call, response)
            attempt += 1
            self._sleep(delay)

    def _pages(self, call_for: Callable[[str | None], Call[Page[T]]]) -> Iterator[T]:
        cursor: str | None = None
        while True:
            page = self._send(call_for(cursor))
            yield from page.items
            if page.next_cursor is None or not page.items:
                return
            cursor = page.next_cursor


class Credits:
    def __init__(self, client: SellerhubClient) -> None:
        self._c = client

    def check(self, required: int) -> CreditCheck:
        """Whether the wallet has ``required`` credits available (``credits:read``)."""
        return self._c._send(_ops.credit_check(required))

    def balance(self) -> Balance:
        """Available credits and the packages on sale (``credits:read``)."""
        return self._c._send(_ops.balance())

    def consume(
        self,
        amount: int,
        service: str,
        *,
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        """Spend ``amount`` credits on ``service`` (``credits:consume``). The key (made here when
        not given) is sent again on every retry: the server makes one transfer."""
        return self._c._send(_ops.consume(amount, service, idempotency_key, metadata))

    def purchase(
        self,
        *,
        package_id: str | None = None,
        amount: int | None = None,
        idempotency_key: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> Checkout:
        """Start buying a package (or ``amount`` credits): a Stripe Checkout URL."""
        return self._c._send(
            _ops.purchase(package_id, amount, idempotency_key, success_url, cancel_url)
        )

    def purchase_status(self, checkout_session_id: str, *, fulfil: bool = False) -> PurchaseStatus:
        """A purchase's state (``credits:read``). ``fulfil=True`` (on your success page) makes
        sellerhub re-read the session from Stripe and credit it when paid, once, whether this
        or Stripe's webhook comes first."""
        return self._c._send(_ops.purchase_status(checkout_session_id, fulfil))

    def transfers(self, *, page_size: int | None = None) -> Iterator[Transfer]:
        """The ledger, newest first, every page (``credits:read``)."""
        path, item = _ops.TRANSFERS
        return self._c._pages(lambda cursor: _ops.page(path, item, page_size, cursor))


class Identity:
    def __init__(self, client: SellerhubClient) -> None:
        self._c = client

    def validate_token(self, token: str) -> Introspection:
        """Introspect a token of this app (needs the app's ``ClientCredentials``)."""
        return self._c._send(_ops.validate_token(token))

    def signup(self, email: str, *, name: str | None = None) -> Signup:
        """Create (once) a credit-only account for ``email`` (``users:create``; needs the
        app's ``ClientCredentials``); 409 ``Conflict`` when another app or the user made it."""
        return self._c._send(_ops.signup(email, name))

    def user_info(self) -> UserInfo:
        """The user behind the client's app token (``profile:read``)."""
        return self._c._send(_ops.user_info())

    def user(self) -> User:
        return self._c._send(_ops.user())


class Listing:
    """A cursor-paged list of the organization's records, as plain dicts."""

    def __init__(self, client: SellerhubClient, route: tuple[str, Any]) -> None:
        self._c, self._route = client, route

    def list(self, *, page_size: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        path, item = self._route
        return self._c._pages(lambda cursor: _ops.page(path, item, page_size, cursor, **filters))

    __call__ = list


class Billing:
    def __init__(self, client: SellerhubClient) -> None:
        self.commissions = Listing(client, _ops.COMMISSIONS)
        self.payouts = Listing(client, _ops.PAYOUTS)
        self.transactions = Listing(client, _ops.TRANSACTIONS)
