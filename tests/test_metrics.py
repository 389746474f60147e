"""``/metrics``: requests are counted by route template, and the development emulators mounted
at ``/_emulators`` are never counted as one of the product's routes."""

from __future__ import annotations

import re

import httpx

_SAMPLE = re.compile(
    r'^sellerhub_http_requests_total\{method="([^"]*)",route="([^"]*)",status="(\d+)"\} (\S+)$',
    re.MULTILINE,
)


async def _counts(client: httpx.AsyncClient) -> dict[tuple[str, str, str], float]:
    text = (await client.get("/metrics")).text
    return {(m, r, s): float(v) for m, r, s, v in _SAMPLE.findall(text)}


async def test_emulator_requests_have_their_own_route_label(client: httpx.AsyncClient) -> None:
    before = await _counts(client)
    # The FedEx emulator's token route has the same template as the product's own
    # /oauth/token (client credentials of service apps).
    token = await client.post(
        "/_emulators/fedex/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert token.status_code < 500
    missing = await client.get("/_emulators/no-such-emulator/anything")
    assert missing.status_code == 404
    await client.get("/healthz")
    after = await _counts(client)
    grown = {key: n - before.get(key, 0.0) for key, n in after.items() if n > before.get(key, 0.0)}
    assert grown == {
        ("POST", "/_emulators", str(token.status_code)): 1.0,
        ("GET", "/_emulators", "404"): 1.0,  # the emulators' 404 is theirs too, not "unmatched"
        ("GET", "/healthz", "200"): 1.0,  # the product's routes keep their templates
        ("GET", "/metrics", "200"): 1.0,  # the first scrape
    }
    assert not any(route.startswith("/_emulators/") for _, route, _ in after)
