"""Python SDK figures: ``sellerhub_sdk.TokenVerifier`` (offline verification of sellerhub's
access tokens, one core) against PyJWT's ``PyJWKClient`` + ``jwt.decode`` on the same tokens,
in the same run. Tokens are signed by the server's own key store; both verifiers read the
same JWKS document (the key store's, served over HTTP here with the server's Cache-Control)
and fetch it once.

* ``sdk.verifier.distinct_tokens.per_s`` — every token different (each signature checked):
  the cost of a token seen for the first time. Baseline: PyJWT on the same tokens.
* ``sdk.verifier.repeated_token.per_s`` — the same token again and again, as an API sees a
  user's token on each of their requests (the verifier remembers a verified token until it
  expires; its lifetime is still checked each time). Baseline: PyJWT on that token.

Targets: ≥ 10,000 verifications per second per core and ≥ 1.3 times PyJWT.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import cycle
from pathlib import Path
from typing import Any

import jwt

from bench.harness import Figure, emit, log
from bench.identity import AUDIENCE, TARGET_PER_SECOND, _issue_token, _rate

RATIO_TARGET = 1.3
DISTINCT = 2000


@contextmanager
def _jwks_server(document: dict[str, Any]) -> Iterator[str]:
    body = json.dumps(document).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=300")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def run(*, database_url: str, work_dir: Path) -> None:
    from sellerhub_sdk import TokenVerifier

    issuer = "https://bench.invalid"
    token, keystore = asyncio.run(_issue_token(database_url, issuer))
    tokens = [
        keystore.issue(subject=f"user-{n}", audience=AUDIENCE, ttl=timedelta(minutes=10))[0]
        for n in range(DISTINCT)
    ]
    with _jwks_server(keystore.jwks()) as url:
        client = jwt.PyJWKClient(url, cache_keys=True)

        def pyjwt(value: str) -> None:
            key = client.get_signing_key_from_jwt(value)
            jwt.decode(value, key.key, algorithms=["ES256"], audience=AUDIENCE, issuer=issuer)

        fresh = TokenVerifier(issuer=issuer, audience=AUDIENCE, jwks_url=url, cache_tokens=0)
        remembering = TokenVerifier(issuer=issuer, audience=AUDIENCE, jwks_url=url)
        distinct_sdk, distinct_lib = cycle(tokens), cycle(tokens)
        figures = [
            Figure(
                "sdk.verifier.distinct_tokens.per_s",
                _rate(lambda: fresh.verify(next(distinct_sdk))),
                "verifications/s",
                _rate(lambda: pyjwt(next(distinct_lib))),
            ),
            Figure(
                "sdk.verifier.repeated_token.per_s",
                _rate(lambda: remembering.verify(token)),
                "verifications/s",
                _rate(lambda: pyjwt(token)),
            ),
        ]
        assert fresh.fetches == 1 and remembering.fetches == 1
        fresh.close()
        remembering.close()
    for figure in figures:
        emit(figure)
        ratio = figure.ratio or 0.0
        meets = figure.value >= TARGET_PER_SECOND and ratio >= RATIO_TARGET
        log(
            f"{figure.name}: {figure.value:,.0f}/s per core, {ratio:.2f}x PyJWT "
            f"({'meets' if meets else 'MISSES'} {TARGET_PER_SECOND:,}/s and {RATIO_TARGET}x)"
        )
