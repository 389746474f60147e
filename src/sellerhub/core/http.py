"""Outbound HTTP to providers: one shared client per process with explicit timeouts.
(Per-connection rate limiting and circuit breaking come with the connections issue.)"""

from __future__ import annotations

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def provider_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        follow_redirects=False,
        headers={"User-Agent": "sellerhub"},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
