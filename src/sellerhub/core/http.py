"""Outbound HTTP to providers: one shared client per process with explicit timeouts.
(Per-connection rate limiting and circuit breaking live in ``connections/client.py``.)

In production the client connects only to globally routable addresses, and to the very
addresses it checked: its connection pool opens every connection through ``PinningBackend``,
which resolves the host once, refuses the connection unless every address passes
``ssrf.globally_routable``, and connects to those addresses themselves — so DNS rebinding
between a check and the request (or between two requests) cannot send a request inside the
network. The URL keeps its host name, so the ``Host`` header, TLS SNI and certificate
verification are on the name, and the pool keys connections by name: a kept-alive connection
is one that was checked. The hosts of the provider URLs the operator configured
(``Settings.operator_hosts``: Amazon, Shopify's template, FedEx, DHL) are the operator's choice,
not a user's, and connect unchecked (an egress proxy or a private mirror stays possible); every
other host — a WooCommerce store a user typed in — is checked. Environment proxies
(``HTTPS_PROXY``) are not used in production: a proxy would resolve the name itself.

Outside production the client is a plain one (local addresses allowed, for the emulators).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpcore
import httpx

from sellerhub.config import get_settings
from sellerhub.core.ssrf import globally_routable, resolve

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
HEADERS = {"User-Agent": "sellerhub"}


class AddressNotAllowed(httpx.ConnectError):
    """The host resolved to an address that is not globally routable: nothing was connected.
    An ``httpx.ConnectError``, so callers treat it like an unreachable provider."""


class PinningBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, check every address, connect to one of exactly those addresses; the
    operator's own hosts (``trusted``) connect as they are."""

    def __init__(
        self,
        inner: httpcore.AsyncNetworkBackend | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._trusted = trusted

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host.lower() in self._trusted:
            return await self._inner.connect_tcp(
                host,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                addresses = await resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except (OSError, UnicodeError):
            raise httpcore.ConnectError(f"{host} does not resolve") from None
        if not addresses or not all(globally_routable(a) for a in addresses):
            raise AddressNotAllowed(
                f"{host} resolves to an address that is not globally routable; not connected"
            )
        failure: Exception = httpcore.ConnectError(f"{host}: no address answered")
        for address in addresses:
            remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=remaining,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next address, like a browser
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the provider client does not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects through ``PinningBackend``.
    (httpx 0.28 takes no network backend, so the pool it built is replaced: ``_pool`` is the
    one attribute its ``handle_async_request`` uses.)"""

    def __init__(
        self,
        *,
        limits: httpx.Limits = LIMITS,
        backend: httpcore.AsyncNetworkBackend | None = None,
        trusted: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinningBackend(backend, trusted),
        )


def provider_client(
    *,
    allow_local: bool | None = None,
    backend: httpcore.AsyncNetworkBackend | None = None,
    trusted: frozenset[str] | None = None,
) -> httpx.AsyncClient:
    """The shared client. ``allow_local`` (default: outside production, by the process's
    settings, which every entry point runs on) gives the plain client; otherwise the pinned
    one, whose connections go through ``backend`` (default: the network) after the check, except
    to the ``trusted`` hosts (default: the settings' ``operator_hosts``)."""
    if allow_local is None:
        allow_local = _outside_production()
    if allow_local:
        return httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT, follow_redirects=False, headers=HEADERS, limits=LIMITS
        )
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
        headers=HEADERS,
        transport=PinnedTransport(
            limits=LIMITS,
            backend=backend,
            trusted=_operator_hosts() if trusted is None else trusted,
        ),
    )


def _operator_hosts() -> frozenset[str]:
    try:
        return get_settings().operator_hosts()
    except Exception:  # settings that do not load: trust nothing
        return frozenset()


def _outside_production() -> bool:
    try:
        return not get_settings().is_production
    except Exception:  # settings that do not load: the strict rule
        return False
