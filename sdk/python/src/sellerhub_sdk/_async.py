"""``AsyncSellerhubClient``: the asynchronous client (httpx.AsyncClient), the same methods as
``SellerhubClient`` awaited, and ``async for`` over the paged lists."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
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
    """The client-credentials token: one fetch at a time for every task of the loop."""

    def __init__(
        self, creds: ClientCredentials, fetch: Callable[[], Awaitable[tuple[str, float]]]
    ) -> None:
        self._creds, self._fetch = creds, fetch
        self._lock: asyncio.Lock | None = None
        self._token: str | None = None
        self._refresh_at = 0.0

    async def get(self) -> str:
        token = self._token
        if token is not None and time.monotonic() < self._refresh_at:
            return token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._token is not None and time.monotonic() < self._refresh_at:
                return self._token
            token, expires_in = await self._fetch()
            margin = min(self._creds.refresh_margin, expires_in / 2)
            self._token, self._refresh_at = token, time.monotonic() + expires_in - margin
            return token

    def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = None


class AsyncSellerhubClient:
    """Asynchronous client; the arguments of ``SellerhubClient``. Use ``async with`` or
    ``await aclose()``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        credentials: Credentials = None,
        organization_id: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._creds = credentials_of(token, credentials)
        self._organization_id = organization_id
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._http.base_url = httpx.URL(base_url.rstrip("/"))
        self._http.headers.setdefault("User-Agent", USER_AGENT)
        self._tokens: _Tokens | None = None
        if isinstance(self._creds, ClientCredentials):
            creds = self._creds
            self._tokens = _Tokens(creds, lambda: self._send(token_call(creds)))
        self.credits = AsyncCredits(self)
        self.identity = AsyncIdentity(self)
        self.orders = AsyncListing(self, _ops.ORDERS)
        self.claims = AsyncListing(self, _ops.CLAIMS)
        self.billing = AsyncBilling(self)

    async def __aenter__(self) -> AsyncSellerhubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _bearer(self) -> str | None:
        if isinstance(self._creds, StaticToken):
            return self._creds.token
        return await self._tokens.get() if self._tokens is not None else None

    def _basic(self) -> tuple[str, str]:
        if not isinstance(self._creds, ClientCredentials):
            raise errors.NotAuthenticated(
                "this call needs the app's client credentials (credentials=ClientCredentials)"
            )
        return self._creds.client_id, self._creds.client_secret

    async def _send(self, call: Call[T]) -> T:
        renewed = False
        attempt = 0
        while True:
            token = await self._bearer() if call.authenticated else None
            basic = self._basic() if call.client_auth else None
            request = build_request(self._http, call, token, self._organization_id, basic)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                delay = retry_delay(self._retry, call, attempt, None)
                if delay is None:
                    raise transport_error(exc) from exc
                attempt += 1
                await self._sleep(delay)
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
            await self._sleep(delay)

    async def _pages(self, call_for: Callable[[str | None], Call[Page[T]]]) -> AsyncIterator[T]:
        cursor: str | None = None
        while True:
            page = await self._send(call_for(cursor))
            for item in page.items:
                yield item
            if page.next_cursor is None or not page.items:
                return
            cursor = page.next_cursor


class AsyncCredits:
    def __init__(self, client: AsyncSellerhubClient) -> None:
        self._c = client

    async def check(self, required: int) -> CreditCheck:
        return await self._c._send(_ops.credit_check(required))

    async def balance(self) -> Balance:
        return await self._c._send(_ops.balance())

    async def consume(
        self,
        amount: int,
        service: str,
        *,
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Transfer:
        return await self._c._send(_ops.consume(amount, service, idempotency_key, metadata))

    async def purchase(
        self,
        *,
        package_id: str | None = None,
        amount: int | None = None,
        idempotency_key: str | None = None,
        success_url: str | None = None,
        cancel_url: str | None = None,
    ) -> Checkout:
        return await self._c._send(
            _ops.purchase(package_id, amount, idempotency_key, success_url, cancel_url)
        )

    async def purchase_status(
        self, checkout_session_id: str, *, fulfil: bool = False
    ) -> PurchaseStatus:
        """A purchase's state (``credits:read``). ``fulfil=True`` (on your success page) makes
        sellerhub re-read the session from Stripe and credit it when paid, once, whether this
        or Stripe's webhook comes first."""
        return await self._c._send(_ops.purchase_status(checkout_session_id, fulfil))

    def transfers(self, *, page_size: int | None = None) -> AsyncIterator[Transfer]:
        path, item = _ops.TRANSFERS
        return self._c._pages(lambda cursor: _ops.page(path, item, page_size, cursor))


class AsyncIdentity:
    def __init__(self, client: AsyncSellerhubClient) -> None:
        self._c = client

    async def validate_token(self, token: str) -> Introspection:
        return await self._c._send(_ops.validate_token(token))

    async def signup(self, email: str, *, name: str | None = None) -> Signup:
        """Create (once) a credit-only account for ``email`` (``users:create``; needs the
        app's ``ClientCredentials``); 409 ``Conflict`` when another app or the user made it."""
        return await self._c._send(_ops.signup(email, name))

    async def user_info(self) -> UserInfo:
        return await self._c._send(_ops.user_info())

    async def user(self) -> User:
        return await self._c._send(_ops.user())


class AsyncListing:
    def __init__(self, client: AsyncSellerhubClient, route: tuple[str, Any]) -> None:
        self._c, self._route = client, route

    def list(
        self, *, page_size: int | None = None, **filters: Any
    ) -> AsyncIterator[dict[str, Any]]:
        path, item = self._route
        return self._c._pages(lambda cursor: _ops.page(path, item, page_size, cursor, **filters))

    __call__ = list


class AsyncBilling:
    def __init__(self, client: AsyncSellerhubClient) -> None:
        self.commissions = AsyncListing(client, _ops.COMMISSIONS)
        self.payouts = AsyncListing(client, _ops.PAYOUTS)
        self.transactions = AsyncListing(client, _ops.TRANSACTIONS)
